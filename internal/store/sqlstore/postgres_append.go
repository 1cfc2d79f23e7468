package sqlstore

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/store"
)

// On PostgreSQL a commit of events is one pipelined round trip when the
// instance's cache holds what it would read (pgCommitCached, with the
// checks that make a stale cache abort it), and otherwise two instead of
// one per statement (about eight): the first begins the transaction and
// reads everything the commit decides on, locked (the sessions, the client
// ids already stored, the job models, the push and channel targets); Go
// assigns seqs and runs the models; the second sends every write, the
// NOTIFY and the COMMIT. Only a commit that opens an incident (its id is
// needed by the rows that follow) or that gives a session new job names
// under a job limit (the count decides whether to commit) takes one more.
// Every statement takes its rows as arrays (unnest), so one statement text
// serves any row count, prepared once per connection (pgPrepare).

const (
	pgLockSessions = `SELECT id, last_seq FROM sessions WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE`
	pgKnownIDs     = `SELECT e.session_id, e.client_id FROM unnest($1::bigint[], $2::text[]) AS v(s, c)
		JOIN events e ON e.session_id = v.s AND e.client_id = v.c AND e.client_id IS NOT NULL`
	pgPushTargets = `SELECT id, session_id, notify, muted FROM devices
		WHERE session_id = ANY($1::bigint[]) AND push_endpoint IS NOT NULL AND notify <> 'off' ORDER BY session_id, id`
	pgChannelTargets = `SELECT id, session_id, notify, muted FROM channels
		WHERE session_id = ANY($1::bigint[]) AND verified AND notify <> 'off' ORDER BY session_id, created_at, id`
)

// pgReadModels locks the job rows in (session, name) order, the order every
// writer of jobs locks them in. k is the key's index in the arrays, from 1.
const pgReadModels = `SELECT v.k, ` + commitModelColumns + `
	FROM unnest($1::bigint[], $2::text[]) WITH ORDINALITY AS v(s, n, k)
	JOIN jobs j ON j.session_id = v.s AND j.name = v.n` + joinIncident + ` ORDER BY j.session_id, j.name FOR UPDATE OF j`

// appendPostgres is appendBatch on one connection of the pool, driven
// through pgx directly (database/sql has no pipelining).
func (db *DB) appendPostgres(ctx context.Context, batch []*store.Append) error {
	conn, err := db.write.Conn(ctx)
	if err != nil {
		return db.wrap("append events", err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("not a pgx connection: %T", dc)
		}
		c := sc.Conn()
		err := db.pgCommitEvents(ctx, c, batch)
		if err != nil && c.PgConn().TxStatus() != 'I' {
			// Not yet rolled back (an error of Go's, or of a statement whose
			// pipeline never reached COMMIT).
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			if _, rerr := c.Exec(rctx, "ROLLBACK"); rerr != nil {
				_ = c.Close(rctx)
				cancel()
				return errors.Join(err, driver.ErrBadConn)
			}
			cancel()
		}
		return err
	})
	if errors.Is(err, errJobsRefused) {
		return err
	}
	return db.wrap("append events", err)
}

// pgRead is what the first round trip found.
type pgRead struct {
	lastSeq  map[int64]int64
	known    map[int64]map[string]struct{}
	models   map[jobKey]*domain.JobModel
	pushes   map[int64][]alertTarget
	channels map[int64][]alertTarget
	fps      map[int64]*pgFingerprint // the targets' rows, for the cache
}

// pgBatch is a commit's requests by session, and what its reads ask for.
type pgBatch struct {
	bySession  map[int64][]*store.Append
	ids        []int64 // its sessions, sorted
	idSessions []int64 // the client ids, with their sessions
	idValues   []string
	candidates []jobKey // every job an event names, sorted
}

func newPGBatch(batch []*store.Append) *pgBatch {
	g := &pgBatch{bySession: make(map[int64][]*store.Append)}
	for _, a := range batch {
		if _, ok := g.bySession[a.SessionID]; !ok {
			g.ids = append(g.ids, a.SessionID)
		}
		g.bySession[a.SessionID] = append(g.bySession[a.SessionID], a)
		for i := range a.Events {
			if id := a.Events[i].ID; id != "" {
				g.idSessions, g.idValues = append(g.idSessions, a.SessionID), append(g.idValues, id)
			}
			g.candidates = append(g.candidates, jobKey{a.SessionID, a.Events[i].Name})
		}
	}
	slices.Sort(g.ids)
	// Every job the commit may touch, before duplicates are known: a row
	// locked for a duplicate only is locked in order too, and written by
	// nobody.
	slices.SortFunc(g.candidates, compareJobKeys)
	g.candidates = slices.Compact(g.candidates)
	return g
}

// pgCommitEvents commits in one round trip what the cache allows
// (pgCommitCached), and otherwise, or when the cache proved stale, in the
// two of pgCommitRead, in a new transaction.
func (db *DB) pgCommitEvents(ctx context.Context, c *pgx.Conn, batch []*store.Append) error {
	if err := pgPrepare(ctx, c); err != nil {
		return err
	}
	g := newPGBatch(batch)
	release, err := db.pg.acquire(ctx, g.ids)
	if err != nil {
		return err
	}
	defer release()
	tried, err := db.pgCommitCached(ctx, c, g)
	stale, contended := pgStale(err)
	switch {
	case tried && err == nil:
		db.pg.oneTrip.Add(1)
		db.pg.served(g.ids)
		return nil
	case tried && !stale:
		db.pg.clear()
		return err
	case tried:
		db.pg.stale.Add(1)
		db.pg.drop(g.ids, g.candidates, contended)
	}
	for _, a := range batch {
		a.Stored, a.Duplicates, a.Pushes, a.Channels = a.Stored[:0], 0, 0, 0
	}
	// The aborted transaction is rolled back in the reads' round trip.
	err = db.pgCommitRead(ctx, c, g, c.PgConn().TxStatus() != 'I')
	if err != nil && !errors.Is(err, errJobsRefused) {
		db.pg.clear()
	}
	return err
}

// pgCommitRead is the commit that reads first: one round trip for the
// reads (after a ROLLBACK when rollback), one for the writes.
func (db *DB) pgCommitRead(ctx context.Context, c *pgx.Conn, g *pgBatch, rollback bool) error {
	r, err := db.pgReadPhase(ctx, c, rollback, g.ids, g.idSessions, g.idValues, g.candidates)
	if err != nil {
		return err
	}
	added, changed, err := assignCommit(g.ids, g.bySession, r.known, r.lastSeq, nil)
	if err != nil {
		return err
	}
	w := &pgCommitted{lastSeq: r.lastSeq, targets: make(map[int64]*pgTargets, len(g.ids))}
	for _, id := range g.ids {
		fp := r.fps[id]
		if fp == nil {
			fp = &pgFingerprint{}
		}
		w.targets[id] = &pgTargets{pushes: r.pushes[id], channels: r.channels[id], fp: fp.sum()}
	}
	if len(added) == 0 {
		_, err = c.Exec(ctx, "COMMIT")
		err = wrapErr("commit", err)
	} else {
		err = db.pgWritePhase(ctx, c, r, g.bySession, added, changed, w)
	}
	if err == nil {
		db.pg.put(w)
	}
	return err
}

// pgReadPhase is the first round trip: BEGIN and the locking reads.
func (db *DB) pgReadPhase(ctx context.Context, c *pgx.Conn, rollback bool, ids, idSessions []int64, idValues []string, candidates []jobKey) (*pgRead, error) {
	r := &pgRead{lastSeq: make(map[int64]int64, len(ids)), known: make(map[int64]map[string]struct{}),
		pushes: make(map[int64][]alertTarget), channels: make(map[int64][]alertTarget), fps: make(map[int64]*pgFingerprint)}
	jobSessions := make([]int64, len(candidates))
	jobNames := make([]string, len(candidates))
	for i, k := range candidates {
		jobSessions[i], jobNames[i] = k.session, k.name
	}
	b := &pgx.Batch{}
	if rollback {
		b.Queue("ROLLBACK")
	}
	b.Queue("BEGIN")
	b.Queue(pgLockSessions, ids)
	if len(idValues) > 0 {
		b.Queue(pgKnownIDs, idSessions, idValues)
	}
	b.Queue(pgReadModels, jobSessions, jobNames)
	b.Queue(pgPushTargets, ids)
	b.Queue(pgChannelTargets, ids)
	br := c.SendBatch(ctx, b)
	err := func() error {
		if rollback {
			if _, err := br.Exec(); err != nil {
				return fmt.Errorf("rollback: %w", err)
			}
		}
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		var id, seq int64
		if err := pgEach(br, "lock sessions", []any{&id, &seq}, func() error { r.lastSeq[id] = seq; return nil }); err != nil {
			return err
		}
		if len(idValues) > 0 {
			var cid string
			err := pgEach(br, "find duplicate ids", []any{&id, &cid}, func() error {
				if r.known[id] == nil {
					r.known[id] = make(map[string]struct{})
				}
				r.known[id][cid] = struct{}{}
				return nil
			})
			if err != nil {
				return err
			}
		}
		var m domain.JobModel
		var k int64
		dest, finish := commitModelDest(&m)
		r.models = make(map[jobKey]*domain.JobModel)
		err := pgEach(br, "read jobs", append([]any{&k}, dest...), func() error {
			if err := finish(); err != nil {
				return err
			}
			if k >= 1 && int(k) <= len(candidates) {
				found := m
				r.models[candidates[k-1]] = &found
			}
			m = domain.JobModel{}
			return nil
		})
		if err != nil {
			return err
		}
		var target, notify, muted string
		targets := func(what string, into map[int64][]alertTarget, part func(*pgFingerprint) *strings.Builder) func() error {
			return func() error {
				t, err := newAlertTarget(what, target, notify, muted)
				into[id] = append(into[id], t)
				fp := r.fps[id]
				if fp == nil {
					fp = &pgFingerprint{}
					r.fps[id] = fp
				}
				fp.add(part(fp), target, notify, muted)
				return err
			}
		}
		devices := func(f *pgFingerprint) *strings.Builder { return &f.devices }
		channels := func(f *pgFingerprint) *strings.Builder { return &f.channels }
		if err := pgEach(br, "find push devices", []any{&target, &id, &notify, &muted}, targets("device", r.pushes, devices)); err != nil {
			return err
		}
		return pgEach(br, "find channels", []any{&target, &id, &notify, &muted}, targets("channel", r.channels, channels))
	}()
	if cerr := br.Close(); err == nil && cerr != nil {
		err = cerr
	}
	return r, err
}

// pgEach scans every row of the batch's next query into dest, calling fn
// after each.
func pgEach(br pgx.BatchResults, op string, dest []any, fn func() error) error {
	rows, err := br.Query()
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if err := fn(); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
	}
	return wrapErr(op, rows.Err())
}
