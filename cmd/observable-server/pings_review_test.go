package main

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A job that posts its whole log with its failure (curl --data-binary
// @backup.log "$URL/$?") must still report: the body's first
// Ping-Body-Limit bytes are kept and the rest dropped. A log over
// --max-body-bytes (1 MiB, sized for batches of events) used to get a 413
// JSON answer, and the failure was lost.
func TestPingsReviewPingWithALogOverTheEventBodyLimit(t *testing.T) {
	p := launch(t, t.TempDir()+"/db.sqlite")
	awaitReady(t, 30*time.Second, p)
	key, _ := newSession(t, p)
	u := pingsURL(t, p, key, "backup")

	log := bytes.Repeat([]byte("rsync: copying a file\n"), 2<<20/22) // 2 MiB, Healthchecks takes up to 2.5 MB
	resp, err := http.Post(u+"/3", "text/plain", bytes.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(answer) != "OK" {
		t.Fatalf("a failure ping with a 2 MiB log: %d %q, want 200 OK", resp.StatusCode, answer)
	}
	events := pingsEvents(t, p, key, "backup")
	if len(events) != 1 || events[0].Status != "failed" {
		t.Fatalf("events after the ping: %+v, want one failed", events)
	}
	body, _ := events[0].Metadata["body"].(string)
	if len(body) != 10_000 || !strings.HasPrefix(string(log), body) {
		t.Fatalf("kept body: %d bytes, want the log's first 10000", len(body))
	}
}

// An end ping refused with 429 must leave its start in place: curl's
// --retry 5 (the Healthchecks docs' one-liner) sends it again, and the
// retry must still get the run's duration. The start used to be taken
// before the event was stored, so the retried end had no duration.
func TestPingsReviewRateLimitedEndKeepsItsStart(t *testing.T) {
	p := launch(t, t.TempDir()+"/db.sqlite", "--session-rate", "2", "--session-burst", "2", "--max-batch-events", "2")
	awaitReady(t, 30*time.Second, p)
	key, _ := newSession(t, p)
	u := pingsURL(t, p, key, "sync")
	const a, b = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
	for _, step := range []string{"/start?rid=" + a, "/start?rid=" + b} {
		if r := callAPI("GET", u+step, "", ""); r.status != http.StatusOK {
			t.Fatalf("%s: %d %q", step, r.status, r.body)
		}
	}
	if r := callAPI("GET", u+"?rid="+a, "", ""); r.status != http.StatusTooManyRequests {
		t.Fatalf("the third ping within the burst of 2: %d %q, want 429", r.status, r.body)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := callAPI("GET", u+"?rid="+a, "", "")
		if r.status == http.StatusOK {
			break
		}
		if r.status != http.StatusTooManyRequests || time.Now().After(deadline) {
			t.Fatalf("the retried end: %d %q", r.status, r.body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	ev := pingsEvents(t, p, key, "sync")
	last := ev[len(ev)-1]
	if last.Status != "completed" || last.Run != a || last.DurationMS == nil {
		t.Fatalf("the retried end: %+v, want run %s completed with its duration", last, a)
	}
}

// A /log ping is kept in the history and changes nothing else (Healthchecks;
// docs/pings.md): it must not end the running run, nor count as a run, nor
// reset the "missed" clock. The job model takes every status but "started"
// for a run's end, so a log ping during a run ended it.
func TestPingsReviewLogPingIsNotARun(t *testing.T) {
	p := launch(t, t.TempDir()+"/db.sqlite")
	awaitReady(t, 30*time.Second, p)
	key, _ := newSession(t, p)
	u := pingsURL(t, p, key, "logjob")
	var job struct {
		State string `json:"state"`
		Runs  int    `json:"runs"`
	}
	for _, step := range []string{"", "/start", "/log"} {
		if r := callAPI("POST", u+step, "", "halfway there"); r.status != http.StatusOK {
			t.Fatalf("%s: %d %q", step, r.status, r.body)
		}
	}
	mustCall(t, http.StatusOK, "GET", p.url+"/api/v1/jobs/logjob", key, "", &job)
	if job.State != "running" || job.Runs != 1 {
		t.Fatalf("after a run, a start and a log ping: %+v, want running with 1 run", job)
	}
}
