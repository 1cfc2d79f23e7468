package main

// Migration 0004 (channels, issue 14) on a database the release before it
// made: what the old server stored is all still there (sessions, the paired
// phone, events, a job with an open incident, a queued push), and channels
// can be created on the old session and are alerted by its jobs, including
// the recovery of the incident the old server opened.

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/pgtest"
	"github.com/observable-code/observable/internal/secret"
	"github.com/observable-code/observable/internal/store"
	"github.com/observable-code/observable/internal/store/sqlstore"
)

// chanstoreUpgradeFrom is the last commit before channels.
const chanstoreUpgradeFrom = "12226c994dc74a563ffeb8c051c8b4d40993702c"

func chanstoreUpgrade(t *testing.T, db string) {
	ctx := context.Background()
	old := upgradeRun(t, upgradeOldBinary(t, chanstoreUpgradeFrom), db)
	key, code := newSession(t, old)
	token := claimPairing(t, old, code)
	p256dh, auth := portsBrowserKeys(t)
	// No push service answers here: the old server's push stays queued, retried.
	mustCall(t, http.StatusNoContent, "PUT", old.url+"/api/v1/device/push", token,
		fmt.Sprintf(`{"endpoint":"https://fcm.googleapis.com/fcm/send/chanstore","keys":{"p256dh":%q,"auth":%q}}`, p256dh, auth), nil)
	postEvent(t, old, key, "b0", "backup", "completed")
	postEvent(t, old, key, "b1", "backup", "failed")
	postEvent(t, old, key, "r0", "report", "completed")
	if r := old.stop(); strings.Contains(r, "panic") {
		t.Fatalf("the old server: %s", r)
	}

	// The new binary migrates the database and serves what the old one stored.
	p := upgradeRun(t, binary, db)
	var events struct {
		Events []struct{ Name string } `json:"events"`
	}
	mustCall(t, http.StatusOK, "GET", p.url+"/api/v1/events", token, "", &events) // the old device token
	if len(events.Events) != 3 {
		t.Fatalf("%d events after the upgrade, want 3", len(events.Events))
	}
	var job jobsModelJob
	mustCall(t, http.StatusOK, "GET", p.url+"/api/v1/jobs/backup", key, "", &job)
	if job.Incident == nil || job.Incident.Kind != "failed" || job.Failures != 1 {
		t.Fatalf("the old job after the upgrade: %+v; want its open failed incident", job)
	}
	if r := p.stop(); strings.Contains(r, "panic") {
		t.Fatalf("the new server: %s", r)
	}

	// The store of the new binary, on the upgraded database.
	var st *sqlstore.DB
	var err error
	if strings.HasPrefix(db, "postgres") {
		st, err = sqlstore.OpenPostgres(ctx, db, sqlstore.PostgresOptions{})
	} else {
		st, err = sqlstore.OpenSQLite(ctx, db, sqlstore.SQLiteOptions{})
	}
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sess, err := st.SessionByKey(ctx, secret.Hash(key))
	if err != nil {
		t.Fatal(err)
	}
	hist, err := st.Incidents(ctx, sess.ID, "backup", 10)
	if err != nil || len(hist) != 1 || hist[0].ClosedAt != nil {
		t.Fatalf("the old incident: %+v, %v", hist, err)
	}
	now := time.Now()
	pushes, err := st.ClaimPushJobs(ctx, now.Add(48*time.Hour), time.Minute, 100)
	if err != nil || len(pushes) != 1 || pushes[0].Kind != "failed" || pushes[0].Event == nil || pushes[0].Event.Name != "backup" ||
		pushes[0].Incident == nil || pushes[0].Incident.Kind != "failed" {
		t.Fatalf("the old queued push: %+v, %v; want backup's failure, with its incident", pushes, err)
	}

	slack := domain.Channel{ID: "chanstore-slack", SessionID: sess.ID, Type: domain.ChannelSlack, Notify: domain.NotifyFailures,
		Verified: true, Sealed: []byte("sealed"), Shown: map[string]string{"url": "https://hooks.slack.com/…Xy9Q"}}
	email := domain.Channel{ID: "chanstore-email", SessionID: sess.ID, Type: domain.ChannelEmail, Notify: domain.NotifyAll,
		Sealed: []byte("sealed"), Shown: map[string]string{"address": "me@example.com"}}
	if err := st.CreateChannel(ctx, slack, nil, now); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateChannel(ctx, email, secret.Hash("chanstore-token"), now); err != nil {
		t.Fatal(err)
	}
	a := &store.Append{SessionID: sess.ID, ReceivedAt: now, Events: []domain.Event{
		{Name: "backup", Status: domain.StatusCompleted}, // recovers the old incident
		{Name: "report", Status: domain.StatusFailed},
	}}
	if err := st.AppendEvents(ctx, []*store.Append{a}); err != nil {
		t.Fatal(err)
	}
	jobs, err := st.ClaimChannelJobs(ctx, now, time.Minute, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, j := range jobs {
		got = append(got, j.Channel.ID+":"+j.Kind)
	}
	want := []string{"chanstore-email:confirm", "chanstore-slack:recovered", "chanstore-slack:failed"}
	if !slices.Equal(got, want) || a.Channels != 2 {
		t.Fatalf("channel jobs on the upgraded database: %v (%d from the commit); want %v", got, a.Channels, want)
	}
	if in := jobs[1].Incident; in == nil || in.ID != hist[0].ID || in.ClosedAt == nil || jobs[1].Event == nil || jobs[1].Event.Name != "backup" {
		t.Fatalf("the recovery's incident %+v; want the old server's incident %d, closed", in, hist[0].ID)
	}
}

func TestChanstoreUpgradeSQLite(t *testing.T) {
	chanstoreUpgrade(t, filepath.Join(t.TempDir(), "old.sqlite"))
}

func TestChanstoreUpgradePostgres(t *testing.T) {
	if os.Getenv(pgtest.EnvURL) == "" {
		if _, err := exec.LookPath("pg_ctl"); err != nil {
			t.Skipf("no PostgreSQL: set %s (scripts/postgres.sh start) to run the upgrade on PostgreSQL", pgtest.EnvURL)
		}
	}
	chanstoreUpgrade(t, pgtest.NewDatabase(t))
}
