package main

// Migrations 0006 and 0007 (SQLite, issue 15) on a database the release
// before them made: the received_at index goes, and retention still takes
// exactly the events received before its cutoff, old rows and new ones
// alike, a chunk at a time, and the jobs' counts follow; the duplicate index
// is keyed by client id first, and an id the old server stored is still a
// duplicate.

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/store/sqlstore"
)

// ingestUpgradeFrom is the last release with the received_at index.
const ingestUpgradeFrom = "77bb54c5867d7f77af321fd5896a8c3ef3d4548c"

// retentionPost posts n single events of job name to each key in turn, so
// that the sessions' rows interleave in arrival order.
func retentionPost(t *testing.T, p *serverProc, keys []string, name string, n int) {
	t.Helper()
	for i := range n {
		for _, key := range keys {
			mustCall(t, http.StatusAccepted, "POST", p.url+"/api/v1/events", key,
				fmt.Sprintf(`{"id":"%s-%d","name":%q,"status":"completed","duration_ms":5}`, name, i, name), nil)
		}
	}
}

func TestIngestUpgradeSQLite(t *testing.T) {
	db := filepath.Join(t.TempDir(), "old.sqlite")
	old := upgradeRun(t, upgradeOldBinary(t, ingestUpgradeFrom), db)
	keys := make([]string, 3)
	for i := range keys {
		keys[i], _ = newSession(t, old)
	}
	retentionPost(t, old, keys, "old_job", 4)
	if r := old.stop(); strings.Contains(r, "panic") {
		t.Fatalf("the old server: %s", r)
	}
	time.Sleep(5 * time.Millisecond) // received_at has millisecond steps: the cutoff falls between
	cutoff := time.Now()
	time.Sleep(5 * time.Millisecond)

	p := upgradeRun(t, binary, db)
	var dup struct {
		Accepted   int `json:"accepted"`
		Duplicates int `json:"duplicates"`
	}
	mustCall(t, http.StatusAccepted, "POST", p.url+"/api/v1/events", keys[1],
		`{"id":"old_job-3","name":"old_job","status":"completed","duration_ms":5}`, &dup)
	if dup.Accepted != 0 || dup.Duplicates != 1 {
		t.Fatalf("an id the old server stored, posted again: %+v; want 1 duplicate", dup)
	}
	retentionPost(t, p, keys, "new_job", 2)
	if r := p.stop(); strings.Contains(r, "panic") {
		t.Fatalf("the new server: %s", r)
	}

	ctx := context.Background()
	store, err := sqlstore.OpenSQLite(ctx, db, sqlstore.SQLiteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	raw, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var indexes int
	if err := raw.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE name = 'events_received'`).Scan(&indexes); err != nil || indexes != 0 {
		t.Fatalf("events_received after the upgrade: %d, %v; want it dropped", indexes, err)
	}
	var columns []string
	rows, err := raw.QueryContext(ctx, `SELECT name FROM pragma_index_info('events_client_id') ORDER BY seqno`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		columns = append(columns, c)
	}
	rows.Close()
	if fmt.Sprint(columns) != "[client_id session_id]" {
		t.Fatalf("events_client_id after the upgrade is on %v; want [client_id session_id]", columns)
	}
	var chunks []int64
	for range 10 {
		n, err := store.PruneEvents(ctx, cutoff, 5)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		chunks = append(chunks, n)
	}
	if fmt.Sprint(chunks) != "[5 5 2]" {
		t.Fatalf("pruned in chunks %v; want [5 5 2] (the 12 events the old server stored)", chunks)
	}
	var left, oldLeft int
	if err := raw.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE name = 'old_job') FROM events`).Scan(&left, &oldLeft); err != nil {
		t.Fatal(err)
	}
	if left != 6 || oldLeft != 0 {
		t.Fatalf("events left: %d, %d of the old job; want the 6 new ones", left, oldLeft)
	}
	var jobs int
	if err := raw.QueryRowContext(ctx, `SELECT count(*) FROM jobs WHERE name = 'old_job'`).Scan(&jobs); err != nil || jobs != 0 {
		t.Fatalf("old_job rows after its events went: %d, %v; want none", jobs, err)
	}
}
