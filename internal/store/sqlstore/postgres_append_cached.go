package sqlstore

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// pgCommitCached is the commit in one round trip: when the cache (pgCache)
// has every session, target list and job of the commit, Go assigns the
// seqs and runs the models on what it cached, and one pipeline sends
// BEGIN, the checks of what it assumed (each session's last seq and each
// job's row version under the row locks, taken in the order pgReadPhase
// takes them; the targets' fingerprint), every write, the NOTIFY and the
// COMMIT. A check that fails raises (obs_expect), and so does a client id
// already stored (the unique index of events): the transaction aborts,
// COMMIT rolls it back, and the caller commits again on the path that
// reads first. tried is false when the cache could not serve the commit
// (nothing was sent; the requests' outputs may be half written). A commit
// that opens an incident needs its id before the rows that refer to it,
// and a job new to the cache may be new to its session (the job limit):
// both read first.
func (db *DB) pgCommitCached(ctx context.Context, c *pgx.Conn, g *pgBatch) (tried bool, err error) {
	if db.pg.off {
		return false, nil
	}
	lastSeq, cached, ok := db.pg.lookupSessions(g.ids)
	if !ok {
		return false, nil
	}
	old := make([]int64, len(g.ids))
	fps := make([]string, len(g.ids))
	r := &pgRead{lastSeq: lastSeq, pushes: make(map[int64][]alertTarget), channels: make(map[int64][]alertTarget)}
	for i, id := range g.ids {
		old[i], fps[i] = lastSeq[id], cached[i].fp
		if len(cached[i].pushes) > 0 {
			r.pushes[id] = cached[i].pushes
		}
		if len(cached[i].channels) > 0 {
			r.channels[id] = cached[i].channels
		}
	}
	// No client id is known stored: a duplicate of a stored one fails the
	// insert, a stale cache's error, and the commit reads first.
	added, changed, err := assignCommit(g.ids, g.bySession, make(map[int64]map[string]struct{}, len(g.ids)), lastSeq, nil)
	if err != nil || len(added) == 0 {
		return false, err
	}
	keys, of := sortedKeys(added)
	stored, vers, ok := db.pg.lookupJobs(keys)
	if !ok {
		return false, nil
	}
	deltas := make([]jobDelta, len(keys))
	_, models, alerts := applyJobs(keys, of, stored, added, deltas)
	for _, m := range models {
		if m.Incident != nil && m.Incident.New {
			return false, nil
		}
	}
	jobSessions, jobNames := make([]int64, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		jobSessions[i], jobNames[i] = k.session, k.name
	}
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(pgExpectSessions, g.ids, old)
	b.Queue(pgExpectJobs, jobSessions, jobNames, vers)
	b.Queue(pgExpectTargets, g.ids, fps)
	steps := []pgStep{{op: "begin"}, {op: "check sessions"}, {op: "check jobs"}, {op: "check targets"}}
	w := &pgCommitted{lastSeq: lastSeq}
	if steps, err = pgQueueWrites(b, steps, r, keys, deltas, models, alerts, added, changed, w); err != nil {
		return true, err // nothing sent: the read path would fail alike
	}
	b.Queue("COMMIT")
	steps = append(steps, pgStep{op: "commit"})
	if err := pgRunSteps(ctx, c, b, steps); err != nil {
		return true, err
	}
	db.pg.put(w)
	return true, nil
}
