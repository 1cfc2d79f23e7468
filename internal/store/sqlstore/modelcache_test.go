package sqlstore

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/store"
)

// The commit keeps the job models it wrote (modelcache.go); these tests
// change a job behind its back and check that the next commit starts from
// the row, not from what it kept.

var cacheBase = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func cacheAppend(t *testing.T, db *DB, batch ...*store.Append) {
	t.Helper()
	if err := db.AppendEvents(context.Background(), batch); err != nil {
		t.Fatalf("AppendEvents: %v", err)
	}
}

func cacheEvents(session int64, names ...string) *store.Append {
	a := &store.Append{SessionID: session, ReceivedAt: cacheBase}
	for _, n := range names {
		a.Events = append(a.Events, domain.Event{Name: n, Status: domain.StatusFailed})
	}
	return a
}

func cacheJob(t *testing.T, db *DB, session int64, name string) domain.Job {
	t.Helper()
	j, err := db.Job(context.Background(), session, name)
	if err != nil {
		t.Fatalf("Job %s: %v", name, err)
	}
	return j
}

func cacheSession(t *testing.T, db *DB) int64 {
	t.Helper()
	s, err := db.CreateSession(context.Background(), []byte(t.Name()), "host", cacheBase)
	if err != nil {
		t.Fatal(err)
	}
	return s.ID
}

func TestModelCacheFollowsPatch(t *testing.T) {
	db := openTestSQLite(t)
	defer db.Close()
	id := cacheSession(t, db)
	cacheAppend(t, db, cacheEvents(id, "backup"))
	paused := true
	if _, err := db.UpdateJob(context.Background(), id, "backup", domain.JobPatch{Paused: &paused}, cacheBase); err != nil {
		t.Fatal(err)
	}
	cacheAppend(t, db, cacheEvents(id, "backup"))
	if j := cacheJob(t, db, id, "backup"); j.State != domain.StatePaused || j.Model.FailStreak != 2 {
		t.Fatalf("after pause and a run: state %q, fail streak %d; want paused, 2", j.State, j.Model.FailStreak)
	}
}

func TestModelCacheFollowsOtherConnections(t *testing.T) {
	path := filepath.Join(t.TempDir(), "test.db")
	db, err := OpenSQLite(context.Background(), path, SQLiteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	id := cacheSession(t, db)
	cacheAppend(t, db, cacheEvents(id, "backup"))
	other, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Exec(`UPDATE jobs SET fail_streak = 40 WHERE session_id = ? AND name = 'backup'`, id); err != nil {
		t.Fatal(err)
	}
	cacheAppend(t, db, cacheEvents(id, "backup"))
	if j := cacheJob(t, db, id, "backup"); j.Model.FailStreak != 41 {
		t.Fatalf("fail streak %d after another connection set 40 and a failed run; want 41", j.Model.FailStreak)
	}
}

// A commit refused for the job limit is made again without the refused
// request: what the first try computed must not be kept.
func TestModelCacheForgetsRolledBackCommits(t *testing.T) {
	db := openTestSQLite(t)
	defer db.Close()
	db.SetMaxJobsPerSession(2)
	id := cacheSession(t, db)
	cacheAppend(t, db, cacheEvents(id, "a"))
	over := cacheEvents(id, "b", "c")
	cacheAppend(t, db, cacheEvents(id, "a"), over)
	if over.Err == nil {
		t.Fatal("a request past the job limit was stored")
	}
	cacheAppend(t, db, cacheEvents(id, "a"))
	if j := cacheJob(t, db, id, "a"); j.Model.FailStreak != 3 || j.Runs != 3 {
		t.Fatalf("job a: fail streak %d, runs %d after 3 failed runs; want 3, 3", j.Model.FailStreak, j.Runs)
	}
}
