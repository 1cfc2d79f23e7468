package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// sse is a minimal Server-Sent Events reader for tests.
type sse struct {
	resp   *http.Response
	lines  chan string
	cancel context.CancelFunc
}

func (h *harness) stream(token string, header map[string]string, query string) *sse {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", h.http.URL+"/api/v1/events/stream"+query, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := h.http.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	s := &sse{resp: resp, lines: make(chan string, 1000), cancel: cancel}
	go func() {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
	}()
	h.t.Cleanup(func() { cancel(); resp.Body.Close() })
	return s
}

// next returns the next event's id and data, skipping comments.
func (s *sse) next(t *testing.T) (string, map[string]any) {
	t.Helper()
	var id string
	timeout := time.After(5 * time.Second)
	for {
		select {
		case line, ok := <-s.lines:
			if !ok {
				t.Fatal("stream ended")
			}
			switch {
			case strings.HasPrefix(line, "id: "):
				id = line[4:]
			case strings.HasPrefix(line, "data: "):
				var m map[string]any
				if err := json.Unmarshal([]byte(line[6:]), &m); err != nil {
					t.Fatalf("bad data line %q", line)
				}
				return id, m
			}
		case <-timeout:
			t.Fatal("no event within 5 s")
		}
	}
}

func TestStreamLiveAndResume(t *testing.T) {
	h := newHarness(t)
	s := h.newSession()
	h.post(s, `{"name":"before","status":"completed"}`)
	live := h.stream(s.key, nil, "")
	if live.resp.StatusCode != 200 || live.resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream answer %d %v", live.resp.StatusCode, live.resp.Header)
	}
	token := h.pair(s)
	fromDevice := h.stream(token, nil, "")
	h.waitStreams(2) // both registered before the next commit
	for i := 0; i < 3; i++ {
		h.post(s, fmt.Sprintf(`{"name":"job%d","status":"completed","metadata":{"html":"<b>x</b>\nline"}}`, i))
	}
	for _, st := range []*sse{live, fromDevice} {
		for i := 0; i < 3; i++ {
			id, e := st.next(t)
			if id != fmt.Sprint(i+2) || e["name"] != fmt.Sprintf("job%d", i) || e["seq"] != float64(i+2) {
				t.Fatalf("event %d: id %s %v; a stream from now must skip the earlier event", i, id, e)
			}
		}
	}
	// Resume after 2 with the header, and after 3 with ?after=.
	resumed := h.stream(s.key, map[string]string{"Last-Event-ID": "2"}, "")
	for _, want := range []string{"3", "4"} {
		if id, _ := resumed.next(t); id != want {
			t.Fatalf("resume: id %s, want %s", id, want)
		}
	}
	after := h.stream(token, nil, "?after=3")
	if id, _ := after.next(t); id != "4" {
		t.Fatalf("?after=3 gave id %s", id)
	}
	all := h.stream(s.key, map[string]string{"Last-Event-ID": "0"}, "")
	if id, e := all.next(t); id != "1" || e["name"] != "before" {
		t.Fatalf("Last-Event-ID 0 should replay from the start: %s %v", id, e)
	}
}

func TestStreamHeartbeat(t *testing.T) {
	h := newHarness(t) // heartbeat 1 s
	s := h.newSession()
	st := h.stream(s.key, nil, "")
	deadline := time.After(4 * time.Second)
	for {
		select {
		case line := <-st.lines:
			if line == ": ping" {
				return
			}
		case <-deadline:
			t.Fatal("no heartbeat comment within 4 s at a 1 s interval")
		}
	}
}

func TestStreamBadRequests(t *testing.T) {
	h := newHarness(t)
	s := h.newSession()
	for _, hdr := range []string{"x", "-1"} {
		r := h.do("GET", "/api/v1/events/stream", nil, bearerAuth(s.key), withHeader("Last-Event-ID", hdr))
		if r.status != 400 || r.errorCode(t) != "invalid_last_event_id" {
			t.Errorf("Last-Event-ID %q: %d", hdr, r.status)
		}
	}
	if r := h.do("GET", "/api/v1/events/stream", nil); r.status != 401 {
		t.Fatalf("anonymous stream: %d", r.status)
	}
}

func TestStreamsEndOnShutdown(t *testing.T) {
	h := newHarness(t)
	s := h.newSession()
	st := h.stream(s.key, nil, "")
	h.waitStreams(1)
	h.broker.Close()
	deadline := time.After(3 * time.Second)
	for {
		select {
		case _, ok := <-st.lines:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("stream still open after the broker closed")
		}
	}
}

// waitStreams waits until the broker holds n streams: a stream is
// registered just after its head is written, so the client can see the
// head first.
func (h *harness) waitStreams(n int) {
	h.t.Helper()
	for deadline := time.Now().Add(5 * time.Second); h.broker.Subscribers() != n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			h.t.Fatalf("the broker holds %d streams, want %d", h.broker.Subscribers(), n)
		}
	}
}
