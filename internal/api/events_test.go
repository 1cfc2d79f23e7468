package api

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/observable-code/observable/internal/config"
)

func TestPostEventsAccepts(t *testing.T) {
	h := newHarness(t)
	s := h.newSession()
	tests := []struct {
		name               string
		body               string
		accepted, duplicat float64
	}{
		{"one event", `{"name":"nightly_sync","status":"completed"}`, 1, 0},
		{"every field", `{"id":"abc","name":"etl","status":"failed","duration_ms":3200.5,"timestamp":"2026-01-02T03:04:05.678+02:00",
			"error":{"type":"KeyError","message":"'customer_id'","traceback":"Traceback..."},"metadata":{"rows":5,"nested":{"x":[1,null]}},"source":{"host":"h","pid":1}}`, 1, 0},
		{"custom status", `{"name":"deploy","status":"in_progress_2"}`, 1, 0},
		{"batch", `{"events":[{"name":"a","status":"completed"},{"name":"b","status":"failed"}]}`, 2, 0},
		{"retry of a stored id", `{"events":[{"id":"abc","name":"etl","status":"failed"},{"id":"new","name":"etl","status":"completed"}]}`, 1, 1},
		{"nulls are absent", `{"name":"n","status":"completed","duration_ms":null,"metadata":null,"error":null,"timestamp":null}`, 1, 0},
		{"unknown fields are ignored", `{"name":"n","status":"completed","tags":["x"]}`, 1, 0},
		{"name of 200 characters", `{"name":"` + strings.Repeat("é", 200) + `","status":"completed"}`, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.post(s, tt.body)
			if r.status != http.StatusAccepted {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			m := r.json(t)
			if m["accepted"] != tt.accepted || m["duplicates"] != tt.duplicat {
				t.Fatalf("answer %s; want accepted %v duplicates %v", r.body, tt.accepted, tt.duplicat)
			}
		})
	}
	got := h.events(s.key, "limit=200")
	if len(got) != 9 {
		t.Fatalf("stored %d events, want 9", len(got))
	}
	etl := got[len(got)-2] // seq 2, newest first
	if etl["timestamp"] != "2026-01-02T01:04:05.678Z" || etl["duration_ms"] != 3200.5 || etl["id"] != "abc" {
		t.Fatalf("stored event = %v; want the time in UTC with milliseconds", etl)
	}
}

func TestPostEventsRejects(t *testing.T) {
	h := newHarness(t, func(c *config.Config) { c.MaxBatchEvents = 5; c.SessionBurst = 100 })
	s := h.newSession()
	big := `{"name":"n","status":"completed","metadata":{"x":"` + strings.Repeat("a", 64<<10) + `"}}`
	six := `{"events":[` + strings.TrimSuffix(strings.Repeat(`{"name":"n","status":"completed"},`, 6), ",") + `]}`
	tests := []struct {
		name   string
		body   string
		status int
		code   string
		field  string // expected in the message, with the index
	}{
		{"malformed JSON", `{"name":`, 400, "invalid_event", "not valid JSON"},
		{"not an object", `[1,2]`, 400, "invalid_event", "JSON object"},
		{"empty body", ``, 400, "invalid_event", ""},
		{"missing name", `{"status":"completed"}`, 400, "invalid_event", "name:"},
		{"empty name", `{"name":"","status":"completed"}`, 400, "invalid_event", "name:"},
		{"name of 201 characters", `{"name":"` + strings.Repeat("x", 201) + `","status":"completed"}`, 400, "invalid_event", "name:"},
		{"name not a string", `{"name":5,"status":"completed"}`, 400, "invalid_event", "name: must be a string"},
		{"missing status", `{"name":"n"}`, 400, "invalid_event", "status:"},
		{"uppercase status", `{"name":"n","status":"Failed"}`, 400, "invalid_event", "status:"},
		{"status with a digit first", `{"name":"n","status":"1x"}`, 400, "invalid_event", "status:"},
		{"status of 33 characters", `{"name":"n","status":"` + strings.Repeat("a", 33) + `"}`, 400, "invalid_event", "status:"},
		{"status with a dash", `{"name":"n","status":"in-progress"}`, 400, "invalid_event", "status:"},
		{"negative duration", `{"name":"n","status":"completed","duration_ms":-1}`, 400, "invalid_event", "duration_ms:"},
		{"duration as a string", `{"name":"n","status":"completed","duration_ms":"5"}`, 400, "invalid_event", "duration_ms: must be a number"},
		{"bad timestamp", `{"name":"n","status":"completed","timestamp":"yesterday"}`, 400, "invalid_event", "timestamp:"},
		{"timestamp as a number", `{"name":"n","status":"completed","timestamp":17}`, 400, "invalid_event", "timestamp:"},
		{"error without type", `{"name":"n","status":"failed","error":{"message":"m"}}`, 400, "invalid_event", "error.type:"},
		{"error with empty type", `{"name":"n","status":"failed","error":{"type":"","message":"m"}}`, 400, "invalid_event", "error.type:"},
		{"error without message", `{"name":"n","status":"failed","error":{"type":"E"}}`, 400, "invalid_event", "error.message:"},
		{"error as a string", `{"name":"n","status":"failed","error":"boom"}`, 400, "invalid_event", "error: must be an object"},
		{"metadata not an object", `{"name":"n","status":"completed","metadata":[1]}`, 400, "invalid_event", "metadata: must be a JSON object"},
		{"metadata over 64 KiB", big, 400, "invalid_event", "metadata:"},
		{"source not an object", `{"name":"n","status":"completed","source":"laptop"}`, 400, "invalid_event", "source: must be a JSON object"},
		{"id over 64 bytes", `{"id":"` + strings.Repeat("i", 65) + `","name":"n","status":"completed"}`, 400, "invalid_event", "id:"},
		{"empty id", `{"id":"","name":"n","status":"completed"}`, 400, "invalid_event", "id:"},
		{"events not an array", `{"events":{"name":"n"}}`, 400, "invalid_event", "events: must be an array"},
		{"events empty", `{"events":[]}`, 400, "invalid_event", "at least one"},
		{"second event bad", `{"events":[{"name":"ok","status":"completed"},{"name":"n","status":"BAD"}]}`, 400, "invalid_event", "events[1].status:"},
		{"event in batch not an object", `{"events":[{"name":"ok","status":"completed"},7]}`, 400, "invalid_event", "events[1]"},
		{"too many events", six, 413, "too_many_events", "6 events"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.post(s, tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if code := r.errorCode(t); code != tt.code {
				t.Fatalf("code %q, want %q", code, tt.code)
			}
			if !strings.Contains(string(r.body), tt.field) {
				t.Fatalf("message %s does not say %q", r.body, tt.field)
			}
		})
	}
	if got := h.events(s.key, ""); len(got) != 0 {
		t.Fatalf("rejected requests stored %d events", len(got))
	}
}

func TestPostEventsNamesIndexAndField(t *testing.T) {
	h := newHarness(t)
	s := h.newSession()
	r := h.post(s, `{"events":[{"name":"a","status":"completed"},{"name":"b","status":"completed"},{"name":"c","status":"completed","duration_ms":-5}]}`)
	m := r.json(t)["error"].(map[string]any)
	if r.status != 400 || m["index"] != 2.0 || m["field"] != "duration_ms" {
		t.Fatalf("status %d error %v; want index 2, field duration_ms", r.status, m)
	}
}

func TestPostEventsLimits(t *testing.T) {
	h := newHarness(t, func(c *config.Config) {
		c.MaxBodyBytes = 2048
		c.MaxBatchEvents = 10
		c.SessionRate = 1
		c.SessionBurst = 10
	})
	s := h.newSession()
	r := h.post(s, `{"name":"n","status":"completed","metadata":{"x":"`+strings.Repeat("a", 3000)+`"}}`)
	if r.status != http.StatusRequestEntityTooLarge || r.errorCode(t) != "body_too_large" {
		t.Fatalf("oversized body: %d %s", r.status, r.body)
	}
	batch := func(n int) string {
		return `{"events":[` + strings.TrimSuffix(strings.Repeat(`{"name":"n","status":"completed"},`, n), ",") + `]}`
	}
	if r := h.post(s, batch(8)); r.status != http.StatusAccepted {
		t.Fatalf("8 of a burst of 10: %d %s", r.status, r.body)
	}
	r = h.post(s, batch(5))
	if r.status != http.StatusTooManyRequests || r.errorCode(t) != "rate_limited" {
		t.Fatalf("past the burst: %d %s", r.status, r.body)
	}
	if ra := r.header.Get("Retry-After"); ra != "3" {
		t.Fatalf("Retry-After = %q, want 3 (3 events short at 1/s)", ra)
	}
	if got := h.events(s.key, "limit=200"); len(got) != 8 {
		t.Fatalf("stored %d, want the 8 accepted only", len(got))
	}
	other := h.newSession()
	if r := h.post(other, batch(8)); r.status != http.StatusAccepted {
		t.Fatalf("one session's limit hit another: %d", r.status)
	}
}

func TestPostEventsAuth(t *testing.T) {
	h := newHarness(t)
	s := h.newSession()
	token := h.pair(s)
	body := `{"name":"n","status":"completed"}`
	cases := []struct {
		name   string
		opts   []reqOpt
		status int
		code   string
	}{
		{"no credentials", nil, 401, "unauthorized"},
		{"unknown session", []reqOpt{bearerAuth("00000000-0000-4000-8000-000000000000")}, 401, "unauthorized"},
		{"device token", []reqOpt{bearerAuth(token)}, 403, "session_key_required"},
		{"device cookie", []reqOpt{withCookie(token)}, 401, "unauthorized"},
		{"basic auth", []reqOpt{withHeader("Authorization", "Basic "+s.key)}, 401, "unauthorized"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := h.do("POST", "/api/v1/events", body, c.opts...)
			if r.status != c.status || r.errorCode(t) != c.code {
				t.Fatalf("got %d %s, want %d %s", r.status, r.body, c.status, c.code)
			}
			if c.status == 401 && r.header.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
		})
	}
	if r := h.do("POST", "/api/v1/events", body, withHeader("Authorization", "bearer "+s.key)); r.status != 202 {
		t.Fatalf("lowercase bearer scheme: %d", r.status)
	}
}

func TestListEvents(t *testing.T) {
	h := newHarness(t)
	s := h.newSession()
	for i := 1; i <= 7; i++ {
		status := "completed"
		if i%2 == 0 {
			status = "failed"
		}
		h.post(s, fmt.Sprintf(`{"name":"job%d","status":"%s"}`, i%3, status))
	}
	token := h.pair(s)
	tests := []struct {
		query string
		want  []float64
		next  any
	}{
		{"", []float64{7, 6, 5, 4, 3, 2, 1}, nil},
		{"limit=3", []float64{7, 6, 5}, 5.0},
		{"limit=3&before=5", []float64{4, 3, 2}, 2.0},
		{"status=failed", []float64{6, 4, 2}, nil},
		{"name=job1", []float64{7, 4, 1}, nil},
		{"name=job1&status=failed", []float64{4}, nil},
	}
	for _, tt := range tests {
		for _, cred := range []string{s.key, token} {
			r := h.do("GET", "/api/v1/events?"+tt.query, nil, bearerAuth(cred))
			m := r.json(t)
			var seqs []float64
			for _, e := range m["events"].([]any) {
				seqs = append(seqs, e.(map[string]any)["seq"].(float64))
			}
			if fmt.Sprint(seqs) != fmt.Sprint(tt.want) || m["next_before"] != tt.next {
				t.Errorf("%q: seqs %v next %v; want %v next %v", tt.query, seqs, m["next_before"], tt.want, tt.next)
			}
		}
	}
	for _, q := range []string{"limit=0", "limit=201", "limit=x", "before=0", "before=-3", "status=BAD"} {
		r := h.do("GET", "/api/v1/events?"+q, nil, bearerAuth(s.key))
		if r.status != 400 {
			t.Errorf("%q: status %d, want 400", q, r.status)
		}
		r.errorCode(t)
	}
}

func TestGetEventAndJobs(t *testing.T) {
	h := newHarness(t)
	s := h.newSession()
	h.post(s, `{"events":[{"name":"etl","status":"completed","duration_ms":100},{"name":"etl","status":"failed","duration_ms":300,"error":{"type":"E","message":"m"}}]}`)
	r := h.do("GET", "/api/v1/events/2", nil, bearerAuth(s.key))
	if r.status != 200 || r.json(t)["status"] != "failed" {
		t.Fatalf("event 2: %d %s", r.status, r.body)
	}
	for path, status := range map[string]int{"/api/v1/events/3": 404, "/api/v1/events/0": 400, "/api/v1/events/x": 400} {
		if r := h.do("GET", path, nil, bearerAuth(s.key)); r.status != status {
			t.Errorf("%s: %d, want %d", path, r.status, status)
		}
	}
	r = h.do("GET", "/api/v1/jobs", nil, bearerAuth(s.key))
	jobs := r.json(t)["jobs"].([]any)
	if len(jobs) != 1 {
		t.Fatalf("jobs = %s", r.body)
	}
	j := jobs[0].(map[string]any)
	if j["name"] != "etl" || j["runs"] != 2.0 || j["failures"] != 1.0 || j["p50_ms"] != 100.0 || j["p95_ms"] != 300.0 ||
		j["last"].(map[string]any)["seq"] != 2.0 {
		t.Fatalf("job = %v", j)
	}
}
