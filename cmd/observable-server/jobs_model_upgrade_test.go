package main

// Migration 0003 (the job model) on a database the release before it made:
// the old jobs gain a state, a start no longer counts as a run, and the new
// fields work on them.

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/observable-code/observable/internal/pgtest"
)

func jobsModelUpgrade(t *testing.T, db string) {
	old := upgradeRun(t, upgradeOldBinary(t, upgradeFromCommit), db)
	key, code := newSession(t, old)
	token := claimPairing(t, old, code)
	for i, st := range []string{"started", "completed", "started", "failed"} {
		postEvent(t, old, key, fmt.Sprint("t", i), "train", st)
	}
	var before jobsModelJob
	mustCall(t, http.StatusOK, "GET", old.url+"/api/v1/jobs/train", key, "", &before)
	if before.Runs != 4 {
		t.Fatalf("the old server counts %d runs; this test expects it to count starts too (4)", before.Runs)
	}
	old.stop()

	p := upgradeRun(t, binary, db)
	j := jobsModelGet(t, p, key, "train")
	if j.Runs != 2 || j.Failures != 1 || j.State == "" || j.Expect != nil {
		t.Fatalf("the old job after the upgrade: %+v; want 2 runs (starts are not runs), 1 failure, a state, no expectation", j)
	}
	mustCall(t, http.StatusOK, "PATCH", p.url+"/api/v1/jobs/train", token, `{"paused":true}`, &j) // the old device token
	if j.State != "paused" {
		t.Fatalf("PATCH paused on the old job: state %q", j.State)
	}
	jobsModelPost(t, p, key, `{"name":"train","status":"started","run":"r9","expect":{"every_s":3600}}`)
	if j = jobsModelGet(t, p, key, "train"); j.Last.Run != "r9" || j.Expect == nil || j.Expect.Source != "code" || j.Runs != 2 {
		t.Fatalf("a new start on the old job: %+v; want run r9 stored, the code's expectation, still 2 runs", j)
	}
}

func TestJobsModelUpgradeSQLite(t *testing.T) {
	jobsModelUpgrade(t, filepath.Join(t.TempDir(), "old.sqlite"))
}

func TestJobsModelUpgradePostgres(t *testing.T) {
	if os.Getenv(pgtest.EnvURL) == "" {
		if _, err := exec.LookPath("pg_ctl"); err != nil {
			t.Skipf("no PostgreSQL: set %s (scripts/postgres.sh start) to run the upgrade on PostgreSQL", pgtest.EnvURL)
		}
	}
	jobsModelUpgrade(t, pgtest.NewDatabase(t))
}
