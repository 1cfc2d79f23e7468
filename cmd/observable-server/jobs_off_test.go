package main

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestJobsWatchingTurnedOff: the phone can turn a job's expectation off, not
// only replace it (issue 11: "confirm, change or turn it off"). A job whose
// declared period has long passed is missed; turned off, it is not, and a
// declaration from code no longer applies until the user clears theirs.
func TestJobsWatchingTurnedOff(t *testing.T) {
	p := launch(t, filepath.Join(t.TempDir(), "jobs.db"))
	awaitReady(t, 15*time.Second, p)
	key, code := newSession(t, p)
	token := claimPairing(t, p, code)
	long := time.Now().Add(-3 * time.Hour).UTC().Format(time.RFC3339)
	jobsModelPost(t, p, key, `{"name":"sync","status":"completed","duration_ms":1000,"timestamp":"`+long+`","expect":{"every_s":3600}}`)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if j := jobsModelGet(t, p, key, "sync"); j.State == "missed" {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("a job three periods late is %q, want missed", j.State)
		}
	}
	url := p.url + "/api/v1/jobs/sync"
	var off struct {
		jobsModelJob
		Expect *struct {
			Source      string `json:"source"`
			Off         bool   `json:"off"`
			Description string `json:"description"`
		} `json:"expect"`
	}
	mustCall(t, http.StatusOK, "PATCH", url, token, `{"expect":{"off":true}}`, &off)
	if off.State == "missed" || off.Expect == nil || !off.Expect.Off || off.Expect.Source != "user" || !strings.Contains(off.Expect.Description, "turned off") {
		t.Fatalf("turned off: state %q, expect %+v; want not missed, the user's off", off.State, off.Expect)
	}
	// Code declaring again does not override the user's choice.
	jobsModelPost(t, p, key, `{"name":"sync","status":"completed","duration_ms":1000,"timestamp":"`+long+`","expect":{"every_s":3600}}`)
	if j := jobsModelGet(t, p, key, "sync"); j.State == "missed" || j.Expect == nil || j.Expect.Source != "user" {
		t.Fatalf("after code declared again: state %q, expect %+v; want the user's off to stand", j.State, j.Expect)
	}
	for _, body := range []string{`{"expect":{"off":true,"every_s":3600}}`, `{"expect":{"off":"yes"}}`} {
		if r := callAPI("PATCH", url, token, body); r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "invalid_expect") {
			t.Errorf("PATCH %s: %d %s; want 400 invalid_expect", body, r.status, r.body)
		}
	}
	if r := callAPI("POST", p.url+"/api/v1/events", key, `{"name":"x","status":"completed","expect":{"off":true}}`); r.status != http.StatusBadRequest {
		t.Errorf("code turning watching off: %d %s; want 400 (only the user turns it off)", r.status, r.body)
	}
	mustCall(t, http.StatusOK, "PATCH", url, token, `{"expect":null}`, &off)
	if off.Expect == nil || off.Expect.Source != "code" {
		t.Fatalf("after clearing the user's: expect %+v; want the code's again", off.Expect)
	}
}
