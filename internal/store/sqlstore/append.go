package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/store"
)

// newEvent is an event of the commit with the request it came from.
type newEvent struct {
	ev *domain.StoredEvent
	a  *store.Append
}

// AppendEvents stores a group commit: every request's events, in one
// transaction, with statements per commit rather than per session where
// the SQL allows. Sessions are locked in id order, and job rows are written
// in (session, name) order, the order PruneEvents uses too, so that
// instances committing together on PostgreSQL never deadlock.
//
// A request that would pass the session's job limit gets Err and nothing
// of it is stored: the commit is made again without it (only then, so
// that the usual commit runs once).
func (db *DB) AppendEvents(ctx context.Context, batch []*store.Append) error {
	for _, a := range batch {
		a.Err = nil
	}
	pending := batch
	for {
		for _, a := range pending {
			a.Stored, a.Duplicates, a.Pushes, a.Channels = a.Stored[:0], 0, 0, 0
		}
		var saved savedModels
		var err error
		if db.d.name == postgresDialect.name {
			err = db.appendPostgres(ctx, pending) // pipelined: postgres_append.go
		} else {
			err = db.inTxKeepModels(ctx, "append events", func(tx *sql.Tx) error { return db.appendBatch(ctx, tx, pending, &saved) })
		}
		if err == nil && saved.models != nil {
			db.models.put(saved.gen, saved.keys, saved.models)
		}
		if errors.Is(err, errJobsRefused) {
			// Each round refuses at least one more request: this ends.
			pending = slices.DeleteFunc(slices.Clone(pending), func(a *store.Append) bool { return a.Err != nil })
			if len(pending) > 0 {
				continue
			}
			err = nil
		}
		for _, a := range batch {
			if err != nil || a.Err != nil {
				a.Stored, a.Duplicates, a.Pushes, a.Channels = nil, 0, 0, 0
			}
		}
		return err
	}
}

func (db *DB) appendBatch(ctx context.Context, tx *sql.Tx, batch []*store.Append, saved *savedModels) error {
	p := db.ingest
	bySession := make(map[int64][]*store.Append)
	var ids []int64
	for _, a := range batch {
		if _, ok := bySession[a.SessionID]; !ok {
			ids = append(ids, a.SessionID)
		}
		bySession[a.SessionID] = append(bySession[a.SessionID], a)
	}
	slices.Sort(ids)
	lastSeq := make(map[int64]int64, len(ids))
	var withPush, withChannels []int64
	locked := func(id, seq int64, push, channels bool) {
		lastSeq[id] = seq
		if push {
			withPush = append(withPush, id)
		}
		if channels {
			withChannels = append(withChannels, id)
		}
	}
	var known map[int64]map[string]struct{}
	if clientID, one := onlyClientID(batch); len(ids) == 1 && one {
		// One session and one client id, the common commit under light load:
		// the duplicate check comes with the lock, one statement fewer.
		var seq int64
		var push, channels, dup bool
		err := tx.StmtContext(ctx, p.lockOne).QueryRowContext(ctx, clientID, ids[0]).Scan(&seq, &push, &channels, &saved.version, &dup)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("lock sessions: %w", err)
		}
		if err == nil {
			locked(ids[0], seq, push, channels)
		}
		if dup {
			known = map[int64]map[string]struct{}{ids[0]: {clientID: {}}}
		}
	} else {
		err := runPadded(ctx, tx, p.lockSessions, ids, nil, func(rows *sql.Rows) error {
			var id, seq int64
			var push, channels bool
			err := rows.Scan(&id, &seq, &push, &channels, &saved.version)
			locked(id, seq, push, channels)
			return err
		})
		if err != nil {
			return fmt.Errorf("lock sessions: %w", err)
		}
		if known, err = db.knownClientIDs(ctx, tx, batch); err != nil {
			return err
		}
	}
	if known == nil {
		known = make(map[int64]map[string]struct{}, len(ids))
	}
	added, changed, err := assignCommit(ids, bySession, known, lastSeq, make([]newEvent, 0, sessionEvents(batch)))
	if err != nil || len(added) == 0 {
		return err
	}
	if err := insertEvents(ctx, tx, p, added); err != nil {
		return err
	}
	inserted, alerts, err := db.upsertJobs(ctx, tx, added, saved)
	if err != nil {
		return err
	}
	// Only sessions lockSessions found with devices to notify, or channels
	// to alert, look for them.
	if _, err := db.ingest.pushes.queueAlerts(ctx, tx, withPush, added, alerts); err != nil {
		return err
	}
	if _, err := db.ingest.channels.queueAlerts(ctx, tx, withChannels, added, alerts); err != nil {
		return err
	}
	if err := db.enforceJobLimit(ctx, tx, bySession, inserted); err != nil {
		return err
	}
	return db.updateSessions(ctx, tx, changed, lastSeq, added)
}

// assignCommit runs assignSeqs over the sessions of a commit (ids,
// sorted), for the SQLite commit and the PostgreSQL one alike: known holds
// the client ids each session already has (a session's set is made where
// it has none). It returns the events to store and the sessions they change.
func assignCommit(ids []int64, bySession map[int64][]*store.Append, known map[int64]map[string]struct{},
	lastSeq map[int64]int64, added []newEvent) ([]newEvent, []int64, error) {
	var changed []int64
	for _, id := range ids {
		if _, ok := lastSeq[id]; !ok {
			return nil, nil, fmt.Errorf("session %d does not exist", id)
		}
		if known[id] == nil {
			known[id] = make(map[string]struct{}, sessionEvents(bySession[id]))
		}
		before := len(added)
		added = assignSeqs(bySession[id], known[id], lastSeq, added)
		if len(added) > before {
			changed = append(changed, id)
		}
	}
	return added, changed, nil
}

// assignSeqs gives the session's new events the next seqs, skipping client
// ids the session has (or that came earlier in this commit).
func assignSeqs(appends []*store.Append, known map[string]struct{}, lastSeq map[int64]int64, added []newEvent) []newEvent {
	for _, a := range appends {
		a.Stored = slices.Grow(a.Stored, len(a.Events))
		for i := range a.Events {
			ev := a.Events[i]
			if ev.ID != "" {
				if _, dup := known[ev.ID]; dup {
					a.Duplicates++
					continue
				}
				known[ev.ID] = struct{}{}
			}
			lastSeq[a.SessionID]++
			if ev.Timestamp.IsZero() {
				ev.Timestamp = domain.NewTime(a.ReceivedAt)
			}
			a.Stored = append(a.Stored, domain.StoredEvent{Seq: lastSeq[a.SessionID], Event: ev, ReceivedAt: domain.NewTime(a.ReceivedAt)})
		}
	}
	// a.Stored no longer grows: pointers into it stay valid.
	for _, a := range appends {
		for i := range a.Stored {
			added = append(added, newEvent{ev: &a.Stored[i], a: a})
		}
	}
	return added
}

// sessionEvents counts the events of appends (a commit's, or one session's).
func sessionEvents(appends []*store.Append) int {
	n := 0
	for _, a := range appends {
		n += len(a.Events)
	}
	return n
}

// onlyClientID is the commit's client id if exactly one of its events has one.
func onlyClientID(batch []*store.Append) (string, bool) {
	var id string
	n := 0
	for _, a := range batch {
		for i := range a.Events {
			if a.Events[i].ID != "" {
				id = a.Events[i].ID
				n++
			}
		}
	}
	return id, n == 1
}

// knownClientIDs returns, per session, the client ids of the commit that
// are already stored. The sessions' rows are locked, so none can appear
// meanwhile.
func (db *DB) knownClientIDs(ctx context.Context, tx *sql.Tx, batch []*store.Append) (map[int64]map[string]struct{}, error) {
	known := make(map[int64]map[string]struct{})
	var pairs [][]any
	for _, a := range batch {
		for i := range a.Events {
			if a.Events[i].ID != "" {
				pairs = append(pairs, []any{a.SessionID, a.Events[i].ID})
			}
		}
	}
	err := runPadded(ctx, tx, db.ingest.knownIDs, pairs, nil, func(rows *sql.Rows) error {
		var session int64
		var id string
		if err := rows.Scan(&session, &id); err != nil {
			return err
		}
		if known[session] == nil {
			known[session] = make(map[string]struct{})
		}
		known[session][id] = struct{}{}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("find duplicate ids: %w", err)
	}
	return known, nil
}

func insertEvents(ctx context.Context, tx *sql.Tx, p *prepared, added []newEvent) error {
	plain := !slices.ContainsFunc(added, func(n newEvent) bool { return n.ev.Run != "" || n.ev.Expect != nil })
	width := 15
	if plain {
		width = 13
	}
	prev := chainPrev(added)
	// One backing array for every row's arguments, not an allocation a row.
	rows := make([][]any, len(added))
	flat := make([]any, 0, (15+3)*len(added))
	for i, n := range added {
		e := n.ev
		var duration, errType, errMsg, errTB, metadata, source, expectation any
		if e.DurationMS != nil {
			duration = *e.DurationMS
		}
		if e.Error != nil {
			errType, errMsg, errTB = e.Error.Type, e.Error.Message, nullString(e.Error.Traceback)
		}
		if e.Metadata != nil {
			metadata = string(e.Metadata)
		}
		if e.Source != nil {
			source = string(e.Source)
		}
		if e.Expect != nil {
			expectation = string(e.Expect)
		}
		at := len(flat)
		flat = append(flat, n.a.SessionID, e.Seq, nullString(e.ID), e.Name, e.Status, duration,
			e.Timestamp.Millis(), e.ReceivedAt.Millis(), errType, errMsg, errTB, metadata, source,
			nullString(e.Run), expectation)
		flat = flat[:at+width]
		if prev[i] > 0 {
			flat = append(flat, prev[i], nil, nil)
		} else {
			flat = append(flat, nil, n.a.SessionID, e.Name)
		}
		rows[i] = flat[at : at+width+3 : at+width+3]
	}
	stmts := p.insertEvents
	if plain {
		stmts = p.insertPlain
	}
	if err := execRows(ctx, tx, stmts, rows); err != nil {
		return fmt.Errorf("insert events: %w", err)
	}
	return nil
}

func (db *DB) updateSessions(ctx context.Context, tx *sql.Tx, changed []int64, lastSeq map[int64]int64, added []newEvent) error {
	count := make(map[int64]int64, len(changed))
	newest := make(map[int64]int64, len(changed))
	for _, n := range added {
		count[n.a.SessionID]++
		newest[n.a.SessionID] = max(newest[n.a.SessionID], n.ev.ReceivedAt.Millis())
	}
	var err error
	if len(changed) == 1 {
		id := changed[0]
		_, err = tx.StmtContext(ctx, db.ingest.updateSession).ExecContext(ctx, lastSeq[id], count[id], newest[id], id)
	} else {
		rows := make([][]any, len(changed))
		for i, id := range changed {
			rows[i] = []any{id, lastSeq[id], count[id], newest[id]}
		}
		// A repeated row updates its session once, so rows pad to a size class.
		err = runPadded(ctx, tx, db.ingest.updateSessions, rows, nil, func(*sql.Rows) error { return nil })
	}
	if err != nil {
		return fmt.Errorf("update sessions: %w", err)
	}
	if db.d.notify != nil {
		notices := make([]domain.Notice, len(changed))
		for i, id := range changed {
			notices[i] = domain.Notice{SessionID: id, Seq: lastSeq[id], Kind: domain.NoticeEvents}
		}
		return db.d.notify(ctx, tx, notices...)
	}
	return nil
}

func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", op, err)
}
