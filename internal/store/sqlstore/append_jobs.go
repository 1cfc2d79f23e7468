package sqlstore

// The commit's job rows: each job's summary and model (domain.JobModel)
// brought up to date in the commit that stores its events (docs/jobs.md).

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/observable-code/observable/internal/domain"
)

type jobKey struct {
	session int64
	name    string
}

func compareJobKeys(a, b jobKey) int {
	return cmp.Or(cmp.Compare(a.session, b.session), cmp.Compare(a.name, b.name))
}

type jobDelta struct {
	runs, failures int64
	last           *domain.StoredEvent
}

// applyJobs is what a commit's events do to their jobs, for the SQLite
// commit (upsertJobs) and the PostgreSQL one (pgWritePhase) alike: it runs
// the events (added; of[x] is the index in keys of added[x]'s job) through
// their jobs' models, stored the models read (nil where a job is new), and
// sums them up in deltas (one a key, zero; the caller's, so that it may
// stay on the caller's stack). It returns the names new to their session
// (nil when none), the models and the events' alerts (by index in added;
// nil when none). A started event is not a run (it is counted when the
// run ends).
func applyJobs(keys []jobKey, of []int, stored []*domain.JobModel, added []newEvent, deltas []jobDelta) (
	inserted map[int64]map[string]bool, models []*domain.JobModel, alerts []jobAlert) {
	for i, k := range keys {
		if stored[i] != nil {
			continue
		}
		if inserted == nil {
			inserted = make(map[int64]map[string]bool)
		}
		if inserted[k.session] == nil {
			inserted[k.session] = make(map[string]bool)
		}
		inserted[k.session][k.name] = true
	}
	var now int64
	for x, n := range added {
		d := &deltas[of[x]]
		if n.ev.Outcome() {
			d.runs++
		}
		if n.ev.Failed() {
			d.failures++
		}
		d.last = n.ev
		now = max(now, n.ev.ReceivedAt.Millis())
	}
	models, alerts = applyModels(keys, stored, added, of, time.UnixMilli(now))
	return inserted, models, alerts
}

// upsertJobs adds the new runs to each job's summary and brings its model
// (domain.JobModel) and incident up to date (applyJobs): one statement
// reads the models of the commit's jobs, Go applies the events, one
// statement per size class writes them back. It returns the names it
// inserted, per session, and the alerts of the events (by index in added;
// nil when none).
func (db *DB) upsertJobs(ctx context.Context, tx *sql.Tx, added []newEvent, saved *savedModels) (map[int64]map[string]bool, []jobAlert, error) {
	keys, of := sortedKeys(added)
	stored, err := db.loadModels(ctx, tx, keys, saved)
	if err != nil {
		return nil, nil, err
	}
	deltas := make([]jobDelta, len(keys))
	inserted, models, alerts := applyJobs(keys, of, stored, added, deltas)
	if err := db.saveIncidents(ctx, tx, keys, models); err != nil {
		return nil, nil, err
	}
	if len(keys) == 1 && inserted == nil {
		// The row exists (read or cached, and the writer is ours alone): update it by key.
		k, d := keys[0], &deltas[0]
		args := make([]any, 0, 16)
		args = append(args, d.last.Seq, d.last.Status, d.runs, d.failures)
		if args, err = appendModelArgs(args, models[0]); err != nil {
			return nil, nil, fmt.Errorf("job %q: %w", k.name, err)
		}
		if _, err := tx.StmtContext(ctx, db.ingest.updateJob).ExecContext(ctx, append(args, k.session, k.name)...); err != nil {
			return nil, nil, fmt.Errorf("update jobs: %w", err)
		}
		saved.models = models
		return inserted, alerts, nil
	}
	const width = 6 + modelWidth // the upsert's columns: the summary's, then modelValues
	rows := make([][]any, len(keys))
	flat := make([]any, 0, width*len(keys))
	for i, k := range keys {
		d := &deltas[i]
		flat = append(flat, k.session, k.name, d.last.Seq, d.last.Status, d.runs, d.failures)
		if flat, err = appendModelArgs(flat, models[i]); err != nil {
			return nil, nil, fmt.Errorf("job %q: %w", k.name, err)
		}
		rows[i] = flat[width*i : width*(i+1) : width*(i+1)]
	}
	if err := execRows(ctx, tx, db.ingest.upsertJobs, rows); err != nil {
		return nil, nil, fmt.Errorf("update jobs: %w", err)
	}
	saved.models = models
	return inserted, alerts, nil
}
