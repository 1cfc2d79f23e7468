package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/observable-code/observable/internal/channel"
	"github.com/observable-code/observable/internal/pgtest"
)

// A webhook set through the API gets one signed alert when a job fails and
// one recovered when it passes again, nothing for the failures in between.
func TestChanwWebhookAlertAndRecovery(t *testing.T) {
	hook := chanwNewHook(t, "whsec-integration-test-0001")
	p := launch(t, filepath.Join(t.TempDir(), "ch.db"), chanwAllow()...)
	awaitReady(t, 15*time.Second, p)
	key, token := chanwPhone(t, p)
	c := chanwAdd(t, p, token, chanwHookBody(hook.srv.URL, hook.secret))
	if strings.Contains(c.URL, "kkkkkkkkkkkk") {
		t.Errorf("the answer shows the URL in full: %q", c.URL)
	}

	chanwPost(t, p, key, "nightly_sync", "completed") // failures only: quiet
	chanwPost(t, p, key, "nightly_sync", "failed")
	got := hook.waitAlerts(t, 1, 15*time.Second, p.stop)
	a := got[0]
	if a.Kind != "failed" || a.Job != "nightly_sync" || a.Channel != c.ID || a.Seq == nil || *a.Seq != 2 ||
		a.Incident == nil || a.Incident.Kind != "failed" || !strings.HasSuffix(a.URL, "/runs/2") {
		t.Fatalf("first alert %+v; want failed for run 2 of nightly_sync with its incident", a)
	}
	chanwPost(t, p, key, "nightly_sync", "failed") // folded into the open incident
	chanwPost(t, p, key, "nightly_sync", "failed")
	chanwPost(t, p, key, "nightly_sync", "completed")
	got = hook.waitAlerts(t, 2, 15*time.Second, p.stop)
	r := got[1]
	if r.Kind != "recovered" || r.Seq == nil || *r.Seq != 5 || r.Incident == nil || r.Incident.ID != a.Incident.ID || r.Incident.Runs != 3 {
		t.Fatalf("second alert %+v; want recovered at run 5, the same incident with 3 failed runs", r)
	}
	// Nothing more is coming: a last alert of another job arrives third.
	chanwPost(t, p, key, "other_job", "failed")
	got = hook.waitAlerts(t, 3, 15*time.Second, p.stop)
	if len(got) != 3 || got[2].Job != "other_job" {
		t.Fatalf("alerts %+v; want the other job's third and nothing else", got)
	}
	if logs := p.stop(); strings.Contains(logs, hook.secret) || strings.Contains(logs, "kkkkkkkkkkkk") {
		t.Fatalf("the log holds the channel's secret or URL path:\n%s", logs)
	}
}

// An alert the receiver refuses (503) while the server is killed arrives
// after the restart.
func TestChanwAlertSurvivesRestart(t *testing.T) {
	hook := chanwNewHook(t, "whsec-integration-test-0002")
	hook.refusing.Store(http.StatusServiceUnavailable)
	db := filepath.Join(t.TempDir(), "ch.db")
	p := launch(t, db, chanwAllow()...)
	awaitReady(t, 15*time.Second, p)
	key, token := chanwPhone(t, p)
	chanwAdd(t, p, token, chanwHookBody(hook.srv.URL, hook.secret))
	chanwPost(t, p, key, "backup", "failed")
	// Killed once the refusal is booked as a retry (the metric counts it
	// after the store has it): killed between the answer and the booking,
	// the message would wait for its lease (60 s) instead of its backoff.
	retried := `observable_channel_messages_total{result="retry"} 1`
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if r := callAPI("GET", p.url+"/metrics", "", ""); strings.Contains(string(r.body), retried) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no retry booked within 15 s (%d tries)\n%s", hook.tries.Load(), p.stop())
		}
	}
	p.stop() // SIGKILL
	hook.refusing.Store(0)
	p2 := launch(t, db, chanwAllow()...)
	awaitReady(t, 15*time.Second, p2)
	// The first retry is due within the first backoff (at most 10 s).
	got := hook.waitAlerts(t, 1, 30*time.Second, p2.stop)
	if got[0].Kind != "failed" || got[0].Job != "backup" {
		t.Fatalf("alert %+v; want backup failed", got[0])
	}
}

// Two instances on one PostgreSQL deliver every message exactly once.
func TestChanwTwoInstancesDeliverOnce(t *testing.T) {
	hook := chanwNewHook(t, "whsec-integration-test-0003")
	db := pgtest.NewDatabase(t)
	keyFile := filepath.Join(t.TempDir(), "channels.key")
	if _, err := channel.LoadOrCreateKey(keyFile, true); err != nil {
		t.Fatal(err)
	}
	args := append(chanwAllow(), "--key-file", keyFile)
	a, b := twoInstances(t, db, args...)
	key, token := chanwPhone(t, a)
	chanwAdd(t, b, token, chanwHookBody(hook.srv.URL, hook.secret))
	const jobs = 30
	for i := range jobs {
		p := a
		if i%2 == 1 {
			p = b
		}
		chanwPost(t, p, key, fmt.Sprintf("job_%02d", i), "failed")
	}
	logs := func() string { return "A:\n" + a.stop() + "\nB:\n" + b.stop() }
	hook.waitAlerts(t, jobs, 30*time.Second, logs)
	// Once the queue is empty nothing more can come: count then.
	conn, err := pgx.Connect(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var left int
		if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM channel_jobs`).Scan(&left); err != nil {
			t.Fatal(err)
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d channel jobs left\n%s", left, logs())
		}
	}
	seen := map[string]int{}
	for _, al := range hook.alerts() {
		seen[al.Job]++
	}
	for i := range jobs {
		if n := seen[fmt.Sprintf("job_%02d", i)]; n != 1 {
			t.Errorf("job_%02d alerted %d times; want once", i, n)
		}
	}
	if len(seen) != jobs {
		t.Errorf("%d jobs alerted; want %d", len(seen), jobs)
	}
}

// A Slack webhook that answers 404 shows why on the channel.
func TestChanwSlack404ShowsWhy(t *testing.T) {
	// A Slack whose webhook was deleted answers 404 no_service.
	slack := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte("no_service"))
	}))
	defer slack.Close()
	p := launch(t, filepath.Join(t.TempDir(), "ch.db"), chanwAllow()...)
	awaitReady(t, 15*time.Second, p)
	key, token := chanwPhone(t, p)
	c := chanwAdd(t, p, token, fmt.Sprintf(`{"type":"slack","url":%q}`, slack.URL+"/services/T000/B000/abcdefghijkl"))
	chanwPost(t, p, key, "deploy", "failed")
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var ch *chanwChannel
		for _, x := range chanwList(t, p, token) {
			if x.ID == c.ID {
				ch = &x
			}
		}
		if ch != nil && ch.LastError != nil {
			if !strings.Contains(ch.LastError.Message, "answered 404") || strings.Contains(ch.LastError.Message, "abcdefghijkl") {
				t.Fatalf("last error %q; want it to say it answered 404, without the URL", ch.LastError.Message)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no last_error within 15 s\n%s", p.stop())
		}
	}
}
