package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The published observable-code SDK's routes, with the bodies its 0.1.0
// and 0.2.0 post (read from their wheels), against the real binary.
func TestCompatSDKRoutes(t *testing.T) {
	p := launch(t, t.TempDir()+"/db.sqlite", "--log-level", "debug")
	awaitReady(t, 30*time.Second, p)
	// `observable setup` of the published SDK: POST with no body at all.
	var s struct {
		SessionID    string `json:"sessionId"`
		PairingToken string `json:"pairingToken"`
	}
	r := callAPI("POST", p.url+"/api/sessions", "", "")
	if r.status != http.StatusCreated {
		t.Fatalf("POST /api/sessions: %d %s", r.status, r.body)
	}
	if err := json.Unmarshal(r.body, &s); err != nil {
		t.Fatal(err)
	}
	if s.SessionID == "" || s.PairingToken == "" {
		t.Fatalf("%s", r.body)
	}
	status := func() string {
		var st struct {
			Status string `json:"status"`
		}
		mustCall(t, http.StatusOK, "GET", p.url+"/api/sessions/"+s.SessionID+"/status", "", "", &st)
		return st.Status
	}
	if got := status(); got != "pending" {
		t.Fatalf("status before pairing: %q", got)
	}
	claimPairing(t, p, s.PairingToken) // the code of obsapp://pair?token=<code>
	if got := status(); got != "paired" {
		t.Fatalf("status after pairing: %q", got)
	}
	if r := callAPI("GET", p.url+"/api/sessions/6f1c8a52-8c1e-4a4e-9a51-0d9c1f7e3b21/status", "", ""); r.status != http.StatusNotFound {
		t.Fatalf("unknown key: %d %s", r.status, r.body)
	}

	for _, body := range []string{
		// 0.1.x track(): flat error, trace() data as metadata.
		`{"name":"nightly_sync","status":"failed","duration_ms":12.5,"error_type":"ValueError","error_message":"bad row","metadata":{"records_processed":500}}`,
		// 0.2.0 track(): Python's isoformat timestamp, nested error, traces.
		`{"name":"send_report","status":"completed","duration_ms":3.25,"timestamp":"2026-03-01T10:00:00.123456+00:00","traces":{"source":"s3://my-bucket"}}`,
		// 0.2.0 event(): kwargs as metadata, no duration.
		`{"name":"deploy","status":"completed","timestamp":"2026-03-01T10:00:01.5+00:00","metadata":{"version":"1.2"}}`,
	} {
		mustCall(t, http.StatusAccepted, "POST", p.url+"/api/events", s.SessionID, body, nil)
	}
	var list struct {
		Events []struct {
			Name     string         `json:"name"`
			Status   string         `json:"status"`
			Time     string         `json:"timestamp"`
			Metadata map[string]any `json:"metadata"`
			Error    *struct {
				Type    string `json:"type"`
				Message string `json:"message"`
			} `json:"error"`
		} `json:"events"`
	}
	mustCall(t, http.StatusOK, "GET", p.url+"/api/v1/events", s.SessionID, "", &list)
	if len(list.Events) != 3 {
		t.Fatalf("%+v", list)
	}
	deploy, report, sync := list.Events[0], list.Events[1], list.Events[2]
	if sync.Error == nil || sync.Error.Type != "ValueError" || sync.Error.Message != "bad row" || sync.Metadata["records_processed"] != 500.0 {
		t.Errorf("0.1.x event: %+v", sync)
	}
	if report.Metadata["source"] != "s3://my-bucket" || report.Time != "2026-03-01T10:00:00.123Z" {
		t.Errorf("0.2.0 track(): %+v", report)
	}
	if deploy.Metadata["version"] != "1.2" {
		t.Errorf("0.2.0 event(): %+v", deploy)
	}
	// Refusals are the v1 ones: a bad status is a 400, no key a 401.
	if r := callAPI("POST", p.url+"/api/events", s.SessionID, `{"name":"x","status":"Not A Word"}`); r.status != http.StatusBadRequest {
		t.Errorf("bad status: %d %s", r.status, r.body)
	}
	if r := callAPI("POST", p.url+"/api/events", "", `{"name":"x","status":"completed"}`); r.status != http.StatusUnauthorized {
		t.Errorf("no key: %d %s", r.status, r.body)
	}
	// Nor does any refusal of a path under it repeat the key.
	for _, r := range []apiReply{
		callAPI("POST", p.url+"/api/sessions/"+s.SessionID+"/status", "", ""),
		callAPI("GET", p.url+"/api/sessions/"+s.SessionID+"/status/more", "", ""),
		callAPI("GET", p.url+"/api/sessions/"+s.SessionID, "", ""),
	} {
		if r.status < 400 || strings.Contains(string(r.body), s.SessionID) {
			t.Errorf("%d %s: a refusal repeats the session key of its path", r.status, r.body)
		}
	}
	// The status route carries the session key: it never reaches the log.
	if log := p.stop(); strings.Contains(log, s.SessionID) || !strings.Contains(log, "/api/sessions/{key}/status") {
		t.Errorf("the log must name the route pattern, never the key:\n%s", log)
	}
}

// The published SDK's session route has v1's per-address limit.
func TestCompatSDKSessionLimit(t *testing.T) {
	p := launch(t, t.TempDir()+"/db.sqlite", "--sessions-per-minute", "2")
	awaitReady(t, 30*time.Second, p)
	codes := []int{}
	for i := 0; i < 3; i++ {
		codes = append(codes, callAPI("POST", p.url+"/api/sessions", "", "").status)
	}
	r := callAPI("POST", p.url+"/api/v1/sessions", "", "{}")
	if codes[0] != 201 || codes[1] != 201 || codes[2] != 429 || r.status != 429 {
		t.Fatalf("three POST /api/sessions then one POST /api/v1/sessions at --sessions-per-minute 2: %v %d", codes, r.status)
	}
}
