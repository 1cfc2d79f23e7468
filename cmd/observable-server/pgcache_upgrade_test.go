package main

// Migration 0006 of PostgreSQL (obs_expect, which the commit in one round
// trip checks its cache with, issue 15) on a database the release before it
// made (its PostgreSQL schema is that of every commit up to 0006): the function appears, the old events and jobs are kept, and new
// events, retries of old ids among them, go on from the old seqs.

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/observable-code/observable/internal/pgtest"
	"github.com/observable-code/observable/internal/store/sqlstore"
)

// pgcacheUpgradeFrom is the last release before migration 0006 of PostgreSQL
// (the same old server as the SQLite upgrade of ingest_upgrade_test.go).
const pgcacheUpgradeFrom = ingestUpgradeFrom

// pgcachePost posts events from ids prefix+from to prefix+to-1, ten a
// batch, of two jobs; every fourth fails.
func pgcachePost(t *testing.T, p *serverProc, key string, from, to int) {
	t.Helper()
	var batch []string
	for i := from; i < to; i++ {
		status := "completed"
		if i%4 == 0 {
			status = "failed"
		}
		batch = append(batch, fmt.Sprintf(`{"id":"u%d","name":"job%d","status":%q}`, i, i%2, status))
		if len(batch) == 10 || i == to-1 {
			mustCall(t, http.StatusAccepted, "POST", p.url+"/api/v1/events", key, `{"events":[`+strings.Join(batch, ",")+`]}`, nil)
			batch = batch[:0]
		}
	}
}

// pgcacheSchema is the newest migration and whether obs_expect exists.
func pgcacheSchema(t *testing.T, db string) (int, bool) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var version int
	var fn bool
	if err := conn.QueryRow(ctx, `SELECT (SELECT max(version) FROM schema_migrations),
		to_regprocedure('obs_expect(boolean,text)') IS NOT NULL`).Scan(&version, &fn); err != nil {
		t.Fatal(err)
	}
	return version, fn
}

func TestPgcacheUpgradePostgres(t *testing.T) {
	if os.Getenv(pgtest.EnvURL) == "" {
		if _, err := exec.LookPath("pg_ctl"); err != nil {
			t.Skipf("no PostgreSQL: set %s (scripts/postgres.sh start) to run the upgrade on PostgreSQL", pgtest.EnvURL)
		}
	}
	db := pgtest.NewDatabase(t)
	old := upgradeRun(t, upgradeOldBinary(t, pgcacheUpgradeFrom), db)
	key, _ := newSession(t, old)
	pgcachePost(t, old, key, 0, 60)
	if r := old.stop(); strings.Contains(r, "panic") {
		t.Fatalf("the old server: %s", r)
	}
	if v, fn := pgcacheSchema(t, db); v != 5 || fn {
		t.Fatalf("the old server left schema %d (obs_expect: %v), want 5 without it", v, fn)
	}

	p := upgradeRun(t, binary, db)
	if v, fn := pgcacheSchema(t, db); v != sqlstore.SchemaVersion("postgres") || v < 6 || !fn {
		t.Fatalf("after the upgrade: schema %d (obs_expect: %v), want %d with it", v, fn, sqlstore.SchemaVersion("postgres"))
	}
	// u50…u59 are retries of old events; then single events, which the
	// cache serves in one round trip once it holds the session and jobs.
	pgcachePost(t, p, key, 50, 110)
	for i := 110; i < 130; i++ {
		pgcachePost(t, p, key, i, i+1)
	}
	var page struct {
		Events []struct {
			Seq int64  `json:"seq"`
			ID  string `json:"id"`
		} `json:"events"`
	}
	mustCall(t, http.StatusOK, "GET", p.url+"/api/v1/events?limit=200", key, "", &page)
	if len(page.Events) != 130 {
		t.Fatalf("%d events after the upgrade, want 130", len(page.Events))
	}
	seen := make(map[string]bool)
	for i, e := range page.Events { // newest first
		if e.Seq != int64(130-i) || seen[e.ID] {
			t.Fatalf("event %d: seq %d, id %s (seen before: %v); want seq %d, each id once", i, e.Seq, e.ID, seen[e.ID], 130-i)
		}
		seen[e.ID] = true
	}
	var jobs struct {
		Jobs []struct {
			Name     string `json:"name"`
			Runs     int    `json:"runs"`
			Failures int    `json:"failures"`
		} `json:"jobs"`
	}
	mustCall(t, http.StatusOK, "GET", p.url+"/api/v1/jobs", key, "", &jobs)
	if len(jobs.Jobs) != 2 {
		t.Fatalf("jobs after the upgrade: %+v, want 2", jobs.Jobs)
	}
	// job0 has the even ids, and every fourth id fails: 0, 4, … 128.
	failures := map[string]int{"job0": 33, "job1": 0}
	for _, j := range jobs.Jobs {
		if j.Runs != 65 || j.Failures != failures[j.Name] {
			t.Errorf("job %s: %d runs, %d failures; want 65 and %d", j.Name, j.Runs, j.Failures, failures[j.Name])
		}
	}
}
