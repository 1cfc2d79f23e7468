package api

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestIsolation tries every read and write with another session's
// secrets: session B's key and device must never see or change A's data.
func TestIsolation(t *testing.T) {
	h := newHarness(t)
	a, b := h.newSession(), h.newSession()
	aToken, bToken := h.pair(a), h.pair(b)
	h.post(a, `{"events":[{"id":"a1","name":"secret_job","status":"failed","metadata":{"owner":"a"}},{"name":"secret_job","status":"completed"}]}`)
	h.post(b, `{"id":"b1","name":"b_job","status":"completed"}`)

	for _, cred := range []string{b.key, bToken} {
		for _, e := range h.events(cred, "limit=200") {
			if e["name"] != "b_job" {
				t.Fatalf("B lists A's event %v", e)
			}
		}
		if got := h.events(cred, "name=secret_job"); len(got) != 0 {
			t.Fatalf("B filters to A's job: %v", got)
		}
		if r := h.do("GET", "/api/v1/events/2", nil, bearerAuth(cred)); r.status != 404 {
			t.Fatalf("B reads A's seq 2: %d %s", r.status, r.body)
		}
		r := h.do("GET", "/api/v1/jobs", nil, bearerAuth(cred))
		if strings.Contains(string(r.body), "secret_job") {
			t.Fatalf("B sees A's jobs: %s", r.body)
		}
	}
	// B's stream carries none of A's events, even as they arrive.
	st := h.stream(b.key, map[string]string{"Last-Event-ID": "0"}, "")
	if _, e := st.next(t); e["name"] != "b_job" {
		t.Fatalf("B's stream replayed %v", e)
	}
	h.waitStreams(1)
	h.post(a, `{"name":"secret_job","status":"failed"}`)
	h.post(b, `{"name":"b_job","status":"failed"}`)
	if _, e := st.next(t); e["name"] != "b_job" || e["status"] != "failed" {
		t.Fatalf("B's stream got %v", e)
	}
	// A client id of A is not a duplicate in B, and B cannot overwrite A's.
	if r := h.post(b, `{"id":"a1","name":"b_job","status":"completed"}`).json(t); r["accepted"] != 1.0 {
		t.Fatalf("A's client id affected B: %v", r)
	}
	if got := h.events(a.key, "limit=200"); len(got) != 3 || got[2]["metadata"].(map[string]any)["owner"] != "a" {
		t.Fatalf("A's events changed: %v", got)
	}
	// B's device settings change B's device only.
	h.do("PATCH", "/api/v1/device", `{"notify":"off","name":"b phone"}`, bearerAuth(bToken))
	if m := h.do("GET", "/api/v1/device", nil, bearerAuth(aToken)).json(t); m["notify"] != "failures" || m["name"] != "test phone" {
		t.Fatalf("B's patch reached A's device: %v", m)
	}
	// B's session status counts B only; B unpairing leaves A paired.
	if st := h.do("GET", "/api/v1/session", nil, bearerAuth(b.key)).json(t); st["event_count"] != 3.0 {
		t.Fatalf("B's status: %v", st)
	}
	h.do("DELETE", "/api/v1/device", nil, bearerAuth(bToken))
	if st := h.do("GET", "/api/v1/session", nil, bearerAuth(a.key)).json(t); st["paired"] != true {
		t.Fatalf("B's unpair unpaired A: %v", st)
	}
	// A replacing pairing of B does not touch A's devices.
	code := h.do("POST", "/api/v1/pairings", `{"replace":true}`, bearerAuth(b.key)).json(t)["code"].(string)
	h.pair(session{code: code})
	if r := h.do("GET", "/api/v1/device", nil, bearerAuth(aToken)); r.status != 200 {
		t.Fatalf("B's replace unpaired A's phone: %d", r.status)
	}
}

// TestSecretsStayHidden runs through every secret-bearing call and checks
// that no secret reaches the logs or the database file in the clear.
func TestSecretsStayHidden(t *testing.T) {
	h := newHarness(t)
	s := h.newSession()
	token := h.pair(s)
	second := h.do("POST", "/api/v1/pairings", nil, bearerAuth(s.key)).json(t)["code"].(string)
	h.do("GET", "/api/v1/pairings/"+second+"/qr", nil)
	h.do("GET", "/pair/"+second, nil)
	h.do("GET", "/api/v1/pairings/"+second+"/qr?format=gif", nil) // an error path
	h.post(s, `{"name":"n","status":"completed"}`)
	h.do("GET", "/api/v1/events", nil, bearerAuth(token))
	h.do("GET", "/api/v1/events", nil, bearerAuth(s.key+"x"))
	h.do("GET", "/api/v1/device", nil, withCookie(token))
	h.srv.opts.PublicURL = "x" // make the next claim fail its origin check, another logged path
	h.do("POST", "/api/v1/pairings/"+second+"/claim", nil, withHeader("Origin", "https://evil.example"))
	h.srv.opts.PublicURL = h.http.URL

	logs := h.logs.String()
	if logs == "" {
		t.Fatal("nothing was logged; the test would prove nothing")
	}
	for name, secret := range map[string]string{"session key": s.key, "device token": token, "pairing code": s.code, "second code": second} {
		if strings.Contains(logs, secret) {
			t.Errorf("the %s appears in the logs", name)
		}
	}
	h.store.Close()
	raw, err := os.ReadFile(h.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	wal, _ := os.ReadFile(h.dbPath + "-wal")
	raw = append(raw, wal...)
	if !bytes.Contains(raw, []byte("test phone")) {
		t.Fatal("the database file does not hold the device name; the check below would prove nothing")
	}
	for name, secret := range map[string]string{"session key": s.key, "device token": token, "pairing code": s.code} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("the %s is stored in the clear", name)
		}
	}
}
