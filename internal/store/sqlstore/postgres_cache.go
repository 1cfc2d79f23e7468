package sqlstore

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/observable-code/observable/internal/domain"
)

// pgCache holds, per DB, what the first round trip of a PostgreSQL commit
// reads (postgres_append.go): each session's last seq, each job's model
// with its row version (the row's xmin, which every update of the row, by
// any instance, changes), and each session's alert targets with their
// fingerprint. With all of them cached the commit is one pipeline (see
// pgCommitCached) that checks them under the same row locks and aborts
// when any is stale: the cache only ever saves a read, it decides nothing
// that is not checked in the transaction that relies on it.
type pgCache struct {
	mu       sync.Mutex
	sessions map[int64]int64 // last_seq
	jobs     map[jobKey]pgCachedJob
	targets  map[int64]*pgTargets
	// backoff holds the sessions another writer (instance) committed to
	// behind the cache, or whose commit had a client id already stored:
	// while their skip lasts their commits read first (two round trips)
	// rather than try one and fall back (three).
	backoff map[int64]*pgBackoff
	step    int // the first penalty; 0 turns backoff off (tests that want the cache tried always)
	// busy holds the sessions a commit of this instance is writing, closed
	// when it is done (acquire).
	busy map[int64]chan struct{}
	off  bool // never serve a commit (benchmarks of the path that reads first)

	// Commits made in one round trip, and those that found the cache
	// stale and read again (for tests and benchmarks).
	oneTrip, stale atomic.Int64
}

// pgCacheSize bounds each map (a job's entry is about a kilobyte with its
// recent runs: 16 MB at most); past it the map starts again empty, as
// modelCache does (a miss costs only the read the cache saves).
const pgCacheSize = 1 << 14

// pgBackoff grows with each stale last seq and shrinks with each commit the
// cache served, so that a session two instances write to in turn settles
// on reading first, and one written by this instance alone on the cache.
type pgBackoff struct {
	skip, penalty int
}

const pgMaxPenalty = 256

type pgCachedJob struct {
	model domain.JobModel
	ver   int64 // jobs.xmin as of model
}

// pgTargets are a session's alert targets as the commit read them, and
// pgFingerprint's sum of them.
type pgTargets struct {
	pushes, channels []alertTarget
	fp               string
}

func newPGCache() *pgCache {
	return &pgCache{sessions: make(map[int64]int64), jobs: make(map[jobKey]pgCachedJob), targets: make(map[int64]*pgTargets),
		backoff: make(map[int64]*pgBackoff), step: 4, busy: make(map[int64]chan struct{})}
}

// clear empties the cache: after an error that may mean another database
// (a failover, a restore) or a connection that is gone.
func (c *pgCache) clear() {
	c.mu.Lock()
	clear(c.sessions)
	clear(c.jobs)
	clear(c.targets)
	clear(c.backoff)
	c.mu.Unlock()
}

// drop forgets what the cache holds about sessions and keys, after the
// commit that relied on it found it stale; contended when a last seq was
// (another writer's events), which backs the sessions off.
func (c *pgCache) drop(sessions []int64, keys []jobKey, contended bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	contended = contended && c.step > 0
	if contended && len(c.backoff)+len(sessions) > pgCacheSize {
		clear(c.backoff)
	}
	for _, id := range sessions {
		if contended {
			b := c.backoff[id]
			if b == nil {
				b = &pgBackoff{}
				c.backoff[id] = b
			}
			b.penalty = min(2*b.penalty+c.step, pgMaxPenalty)
			b.skip = b.penalty
		}
		delete(c.sessions, id)
		delete(c.targets, id)
	}
	for _, k := range keys {
		delete(c.jobs, k)
	}
}

// lookupSessions returns a copy of the sessions' last seqs and their
// targets, false if any is not cached.
func (c *pgCache) lookupSessions(ids []int64) (map[int64]int64, []*pgTargets, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	seqs := make(map[int64]int64, len(ids))
	targets := make([]*pgTargets, len(ids))
	backingOff := false
	for _, id := range ids {
		if b := c.backoff[id]; b != nil && b.skip > 0 {
			b.skip--
			backingOff = true
		}
	}
	if backingOff {
		return nil, nil, false
	}
	for i, id := range ids {
		seq, ok := c.sessions[id]
		t := c.targets[id]
		if !ok || t == nil {
			return nil, nil, false
		}
		seqs[id], targets[i] = seq, t // targets are never changed in place
	}
	return seqs, targets, true
}

// lookupJobs returns copies of the models of keys and their versions,
// false if any is not cached.
func (c *pgCache) lookupJobs(keys []jobKey) ([]*domain.JobModel, []int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	models := make([]*domain.JobModel, len(keys))
	vers := make([]int64, len(keys))
	copies := make([]domain.JobModel, len(keys))
	for i, k := range keys {
		j, ok := c.jobs[k]
		if !ok {
			return nil, nil, false
		}
		copies[i] = pgCloneModel(&j.model)
		models[i], vers[i] = &copies[i], j.ver
	}
	return models, vers, true
}

// pgCloneModel copies what a commit changes in place (as modelCache.lookup).
func pgCloneModel(m *domain.JobModel) domain.JobModel {
	out := *m
	out.Recent = append(make([][2]int64, 0, domain.RecentRuns+1), m.Recent...)
	if m.Running != nil {
		out.Running = append([]domain.RunningRun(nil), m.Running...)
	}
	if m.Incident != nil {
		in := *m.Incident
		out.Incident = &in
	}
	return out
}

// pgCommitted is what a commit that committed hands to the cache.
type pgCommitted struct {
	lastSeq map[int64]int64      // every session of the commit, as it left them
	targets map[int64]*pgTargets // nil when the commit read none (it used the cache's)
	keys    []jobKey             // the jobs it wrote
	models  []*domain.JobModel   // their models, by index in keys
	vers    map[jobKey]int64     // their xmin after the commit
}

// acquire waits until no other commit of this instance writes any of ids
// (sorted), and marks them as its own until release. Two commits of one
// session would wait for each other at its row lock anyway; waiting here
// instead lets the second start from what the first left in the cache,
// where otherwise it would find its cached last seq stale. Taken in id
// order, as the row locks are, and before any of them: no deadlock.
func (c *pgCache) acquire(ctx context.Context, ids []int64) (release func(), err error) {
	held := make([]int64, 0, len(ids))
	release = func() {
		c.mu.Lock()
		for _, id := range held {
			close(c.busy[id])
			delete(c.busy, id)
		}
		c.mu.Unlock()
	}
	for _, id := range ids {
		for {
			c.mu.Lock()
			ch := c.busy[id]
			if ch == nil {
				c.busy[id] = make(chan struct{})
				c.mu.Unlock()
				held = append(held, id)
				break
			}
			c.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				release()
				return nil, ctx.Err()
			}
		}
	}
	return release, nil
}

// served eases the backoff of sessions whose commit the cache served.
func (c *pgCache) served(sessions []int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range sessions {
		if b := c.backoff[id]; b != nil {
			if b.penalty /= 2; b.penalty == 0 {
				delete(c.backoff, id)
			}
		}
	}
}

// put stores what a commit left. It is called before the commit releases
// its sessions (acquire), so the puts of one session come in commit order.
func (c *pgCache) put(w *pgCommitted) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.sessions)+len(w.lastSeq) > pgCacheSize {
		clear(c.sessions)
	}
	for id, seq := range w.lastSeq {
		c.sessions[id] = seq
	}
	if len(c.targets)+len(w.targets) > pgCacheSize {
		clear(c.targets)
	}
	for id, t := range w.targets {
		c.targets[id] = t
	}
	if len(c.jobs)+len(w.keys) > pgCacheSize {
		clear(c.jobs)
	}
	for i, k := range w.keys {
		if ver, ok := w.vers[k]; ok {
			c.jobs[k] = pgCachedJob{model: pgCloneModel(w.models[i]), ver: ver}
		}
	}
}

// pgStatements are every statement the commit's pipelines send. Each is
// prepared by name once a connection (pgPrepare): pgx forgets the
// statements it prepared for itself of any batch that fails, and a commit
// that aborts on a stale cache would then prepare them all again, one
// round trip before the next batch and one before the next cached commit
// (and the first could not: an aborted transaction refuses to prepare, so
// the ROLLBACK could not travel with the reads).
var pgStatements = []string{"BEGIN", "COMMIT", "ROLLBACK",
	pgExpectSessions, pgExpectJobs, pgExpectTargets,
	pgLockSessions, pgKnownIDs, pgReadModels, pgPushTargets, pgChannelTargets,
	pgInsertEvents, pgUpdateIncidents, pgUpsertJobs, pgInsertPushes, pgInsertChannels, pgUpdateSessions, pgNotify, pgCountJobs}

// pgPrepare prepares pgStatements on c where they are not yet: a lookup
// each, after the first commit of the connection.
func pgPrepare(ctx context.Context, c *pgx.Conn) error {
	for _, s := range pgStatements {
		if _, err := c.Prepare(ctx, s, s); err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
	}
	return nil
}

// pgStale tells the errors of a commit that found its cache stale: its
// checks' (obs_expect) and a client id already stored (the unique index);
// contended when it was a last seq (another writer) or a client id (a
// client that retries, or two that send the same ids, may well do it
// again: bench/wrk/events.lua run as two processes makes the same ids).
func pgStale(err error) (stale, contended bool) {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false, false
	}
	contended = pgErr.Code == "23505" || pgErr.Code == "OB001" && strings.HasSuffix(pgErr.Message, ": sessions")
	return pgErr.Code == "OB001" || pgErr.Code == "23505", contended
}

// pgFingerprint builds, from the target rows in the order the commit reads
// them, the text pgExpectTargets builds in SQL, and its md5.
type pgFingerprint struct {
	devices, channels strings.Builder
}

func (f *pgFingerprint) add(b *strings.Builder, id, notify, muted string) {
	if b.Len() > 0 {
		b.WriteByte('\x1e')
	}
	b.WriteString(id)
	b.WriteByte('\x1f')
	b.WriteString(notify)
	b.WriteByte('\x1f')
	b.WriteString(muted)
}

func (f *pgFingerprint) sum() string {
	h := md5.Sum([]byte(f.devices.String() + "\x1d" + f.channels.String()))
	return hex.EncodeToString(h[:])
}

// pgExpectTargets checks that each session's targets still have the
// fingerprint the cache has ($2, by session $1): the same rows, filters and
// order as pgPushTargets and pgChannelTargets read.
const pgExpectTargets = `SELECT obs_expect(NOT EXISTS (SELECT 1 FROM unnest($1::bigint[], $2::text[]) AS v(s, fp) WHERE md5(
	COALESCE((SELECT string_agg(d.id || E'\x1f' || d.notify || E'\x1f' || d.muted, E'\x1e' ORDER BY d.id) FROM devices d
		WHERE d.session_id = v.s AND d.push_endpoint IS NOT NULL AND d.notify <> 'off'), '') || E'\x1d' ||
	COALESCE((SELECT string_agg(c.id || E'\x1f' || c.notify || E'\x1f' || c.muted, E'\x1e' ORDER BY c.created_at, c.id) FROM channels c
		WHERE c.session_id = v.s AND c.verified AND c.notify <> 'off'), '')) <> v.fp), 'targets')`

// pgExpectSessions locks the sessions in id order, as pgLockSessions does,
// and checks their last seqs ($2, by id $1, sorted).
const pgExpectSessions = `WITH s AS (SELECT id, last_seq FROM sessions WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE)
	SELECT obs_expect((SELECT count(*) FROM s JOIN unnest($1::bigint[], $2::bigint[]) AS v(id, old)
		ON s.id = v.id AND s.last_seq = v.old) = cardinality($1::bigint[]), 'sessions')`

// pgExpectJobs locks the job rows in (session, name) order, as pgReadModels
// does, and checks that each is the version ($3) the cached model is of.
const pgExpectJobs = `WITH j AS (SELECT j.session_id, j.name, j.xmin::text::bigint AS ver FROM jobs j
		JOIN unnest($1::bigint[], $2::text[]) AS v(s, n) ON j.session_id = v.s AND j.name = v.n
		ORDER BY j.session_id, j.name FOR UPDATE OF j)
	SELECT obs_expect((SELECT count(*) FROM j JOIN unnest($1::bigint[], $2::text[], $3::bigint[]) AS v(s, n, ver)
		ON j.session_id = v.s AND j.name = v.n AND j.ver = v.ver) = cardinality($1::bigint[]), 'jobs')`
