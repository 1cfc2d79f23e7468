package sqlstore

import (
	"context"
	"database/sql"
	"sync"

	"github.com/observable-code/observable/internal/domain"
)

// modelCacheSize bounds the job models the SQLite writer keeps between
// commits: a few MB at most. Past it the cache starts again empty; a miss
// only costs the read the commit made before the cache.
const modelCacheSize = 8192

// modelCache holds, on SQLite, the job models as the last commits left
// them, so that a commit does not read back the rows it wrote a moment ago
// (the read was the job model's whole cost on the ingest path). SQLite has
// one writer connection, so the commits are the only writers of a job row
// between two other write transactions: every other one (inTx: the
// evaluator, PATCH, pings, retention) empties the cache, and so does a
// commit made by another connection, seen in PRAGMA data_version. Entries
// are never changed in place: a commit works on copies and puts them back
// only once it has committed, and only if nothing emptied the cache
// meanwhile (gen). PostgreSQL has no cache: several instances write the
// same rows, and the commit's read is also its row lock there.
type modelCache struct {
	mu      sync.Mutex
	gen     uint64
	version int64 // PRAGMA data_version when last checked
	m       map[jobKey]*domain.JobModel
}

func newModelCache() *modelCache {
	return &modelCache{m: make(map[jobKey]*domain.JobModel)}
}

// invalidate empties the cache. It is called inside the transaction that
// writes, while it holds the writer, so no commit starts in between.
func (c *modelCache) invalidate() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.gen++
	clear(c.m)
	c.mu.Unlock()
}

// begin is called in a commit's transaction with PRAGMA data_version as
// the commit's first statement read it (lockSessions, dataVersionColumn): it
// empties the cache if another connection committed since the last commit,
// and returns the generation that put must see unchanged.
func (c *modelCache) begin(version int64) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if version != c.version {
		c.version = version
		c.gen++
		clear(c.m)
	}
	return c.gen
}

// lookup copies into models[i] the cached model of keys[i] where there is
// one, and returns the indexes of the others. The copies share one backing
// array for their recent runs.
func (c *modelCache) lookup(keys []jobKey, models []*domain.JobModel) (missing []int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var copies []domain.JobModel
	var recent [][2]int64
	const per = domain.RecentRuns + 1 // Apply appends one before trimming
	for i, k := range keys {
		cached := c.m[k]
		if cached == nil {
			missing = append(missing, i)
			continue
		}
		if copies == nil {
			copies = make([]domain.JobModel, len(keys))
			recent = make([][2]int64, per*len(keys))
		}
		m := &copies[i]
		*m = *cached
		m.Recent = append(recent[per*i:per*i:per*(i+1)], cached.Recent...)
		if cached.Running != nil {
			m.Running = append([]domain.RunningRun(nil), cached.Running...)
		}
		if cached.Incident != nil {
			in := *cached.Incident
			m.Incident = &in
		}
		models[i] = m
	}
	return missing
}

// put stores the models a commit wrote, once it has committed, unless the
// cache was emptied since begin returned gen.
func (c *modelCache) put(gen uint64, keys []jobKey, models []*domain.JobModel) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.m)+len(keys) > modelCacheSize {
		clear(c.m)
	}
	for i, k := range keys {
		c.m[k] = models[i]
	}
}

// savedModels are what a commit hands to the cache once it has committed.
type savedModels struct {
	version int64 // PRAGMA data_version at the commit's start
	gen     uint64
	keys    []jobKey
	models  []*domain.JobModel
}

// dataVersionColumn is the column lockSessions reads PRAGMA data_version
// with, so that checking for other connections' commits costs no statement
// of its own (0 on PostgreSQL, which has no cache).
func (db *DB) dataVersionColumn() string {
	if db.models == nil {
		return "0"
	}
	return "(SELECT data_version FROM pragma_data_version)"
}

// loadModels are the models of the commit's jobs by their index in keys
// (nil where a job is new): from the cache where it has them (SQLite),
// read (and on PostgreSQL locked) otherwise. saved is filled for the cache.
func (db *DB) loadModels(ctx context.Context, tx *sql.Tx, keys []jobKey, saved *savedModels) ([]*domain.JobModel, error) {
	c := db.models
	if c == nil {
		return db.readModels(ctx, tx, keys)
	}
	*saved = savedModels{gen: c.begin(saved.version), keys: keys}
	stored := make([]*domain.JobModel, len(keys))
	missing := c.lookup(keys, stored)
	if len(missing) == 0 {
		return stored, nil
	}
	if len(missing) == len(keys) {
		return db.readModels(ctx, tx, keys)
	}
	some := make([]jobKey, len(missing))
	for j, i := range missing {
		some[j] = keys[i]
	}
	read, err := db.readModels(ctx, tx, some)
	if err != nil {
		return nil, err
	}
	for j, i := range missing {
		stored[i] = read[j]
	}
	return stored, nil
}
