package main

// Several server processes on one PostgreSQL database behave as one server
// (issue 6): streams, long polls, sessions, devices and the push queue are
// shared, instances starting together migrate in turn, and an outage of
// PostgreSQL costs 503s, never an acknowledged event.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// instance is a server process whose exit is watched, so that one that
// gives up (a failed migration) fails the test at once.
type serverProc struct {
	*proc
	exited chan struct{}
}

// launch starts a server process without waiting for it: startServer
// waits and calls t.Fatal, which only the test's own goroutine may do, so
// it cannot start instances together.
func launch(t *testing.T, db string, extra ...string) *serverProc {
	t.Helper()
	port := freePort(t)
	p := &serverProc{proc: &proc{t: t, port: port, db: db, url: "http://127.0.0.1:" + port, log: &bytes.Buffer{}}, exited: make(chan struct{})}
	args := append([]string{"--listen", "127.0.0.1:" + port, "--database", db, "--public-url", p.url,
		"--sessions-per-minute", "0", "--session-rate", "0"}, extra...)
	p.cmd = exec.Command(binary, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() { p.stop() })
	return p
}

// stop kills the process and returns its output, which is safe to read
// only once the process has ended.
func (p *serverProc) stop() string {
	p.cmd.Process.Kill()
	<-p.exited
	return p.log.String()
}

// awaitReady waits until every server's /readyz answers 200.
func awaitReady(t *testing.T, timeout time.Duration, procs ...*serverProc) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for _, p := range procs {
		for statusOf(p.url+"/readyz") != http.StatusOK {
			select {
			case <-p.exited:
				t.Fatalf("%s exited before it was ready:\n%s", p.url, p.stop())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not ready within %v:\n%s", p.url, timeout, p.stop())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// twoInstances starts A and B on one database, together.
func twoInstances(t *testing.T, db string, extra ...string) (*serverProc, *serverProc) {
	a, b := launch(t, db, extra...), launch(t, db, extra...)
	awaitReady(t, 30*time.Second, a, b)
	return a, b
}

// apiReply is an HTTP answer; status 0 means the request itself failed.
type apiReply struct {
	status int
	header http.Header
	body   []byte
	took   time.Duration
	err    error
}

var apiClient = &http.Client{Timeout: 10 * time.Second}

func callAPI(method, url, token, body string) apiReply {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return apiReply{err: err}
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	resp, err := apiClient.Do(req)
	if err != nil {
		return apiReply{err: err, took: time.Since(start)}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return apiReply{status: resp.StatusCode, header: resp.Header, body: b, took: time.Since(start), err: err}
}

func statusOf(url string) int { return callAPI("GET", url, "", "").status }

// mustCall makes a request that has to answer want, and decodes its body into out.
func mustCall(t *testing.T, want int, method, url, token, body string, out any) apiReply {
	t.Helper()
	r := callAPI(method, url, token, body)
	if r.err != nil || r.status != want {
		t.Fatalf("%s %s: %d %v %s; want %d", method, url, r.status, r.err, r.body, want)
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, url, err, r.body)
		}
	}
	return r
}

// newSession creates a session on p and returns its key and pairing code.
func newSession(t *testing.T, p *serverProc) (key, code string) {
	var s struct {
		SessionID string `json:"session_id"`
		Pairing   struct {
			Code string `json:"code"`
		} `json:"pairing"`
	}
	mustCall(t, http.StatusCreated, "POST", p.url+"/api/v1/sessions", "", "{}", &s)
	return s.SessionID, s.Pairing.Code
}

func claimPairing(t *testing.T, p *serverProc, code string) string {
	var d struct {
		Token string `json:"device_token"`
	}
	mustCall(t, http.StatusCreated, "POST", p.url+"/api/v1/pairings/"+code+"/claim", "", `{"name":"test phone"}`, &d)
	return d.Token
}

func postEvent(t *testing.T, p *serverProc, key, id, name, status string) {
	t.Helper()
	mustCall(t, http.StatusAccepted, "POST", p.url+"/api/v1/events", key,
		fmt.Sprintf(`{"id":%q,"name":%q,"status":%q}`, id, name, status), nil)
}

// sseFrame is one event read from a stream, with when it was read.
type sseFrame struct {
	seq int64
	id  string
	at  time.Time
}

type sseStream struct {
	frames chan sseFrame
	stop   context.CancelFunc
}

// openStream opens an event stream; after < 0 sends no Last-Event-ID.
func openStream(t *testing.T, p *serverProc, token string, after int64) *sseStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", p.url+"/api/v1/events/stream", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if after >= 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(after, 10))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		cancel()
		t.Fatalf("open stream on %s: %v %v", p.url, err, resp)
	}
	s := &sseStream{frames: make(chan sseFrame, 4096), stop: cancel}
	t.Cleanup(cancel)
	go func() {
		defer close(s.frames)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		var f sseFrame
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "id: "):
				f.seq, _ = strconv.ParseInt(line[4:], 10, 64)
			case strings.HasPrefix(line, "data: "):
				var ev struct {
					ID  string `json:"id"`
					Seq int64  `json:"seq"`
				}
				json.Unmarshal([]byte(line[6:]), &ev)
				if ev.Seq != f.seq {
					f.seq = -1 // the id: line and the event disagree
				}
				f.id = ev.ID
			case line == "" && f.id != "":
				f.at = time.Now()
				s.frames <- f
				f = sseFrame{}
			}
		}
	}()
	return s
}

func (s *sseStream) next(t *testing.T, timeout time.Duration) sseFrame {
	t.Helper()
	select {
	case f, ok := <-s.frames:
		if !ok {
			t.Fatal("the stream ended")
		}
		return f
	case <-time.After(timeout):
		t.Fatalf("no event on the stream within %v", timeout)
	}
	return sseFrame{}
}

// quiet fails if the stream delivers anything more (a duplicate) within d.
func (s *sseStream) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case f, ok := <-s.frames:
		if ok {
			t.Fatalf("unexpected extra event %+v (a duplicate?)", f)
		}
	case <-time.After(d):
	}
}
