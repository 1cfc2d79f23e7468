package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/syncbuf"
)

// server is one real observable-server process on its own SQLite file.
type server struct {
	t    *testing.T
	URL  string
	cmd  *exec.Cmd
	logs *syncbuf.Buffer
	done chan struct{}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startServer starts a server with extra flags after the test's own (e.g.
// "--channel-allow", "127.0.0.1") and waits until it is ready.
func startServer(t *testing.T, extra ...string) *server {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s := &server{t: t, URL: "http://" + addr, logs: &syncbuf.Buffer{}, done: make(chan struct{})}
	args := append([]string{"--listen", addr, "--database", filepath.Join(t.TempDir(), "x.db"),
		"--public-url", s.URL, "--sessions-per-minute", "0"}, extra...)
	s.cmd = exec.Command(serverBin, args...)
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start the server: %v", err)
	}
	go func() {
		s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(s.stop)
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := http.Get(s.URL + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server was not ready in 10 s: %v\n%s", err, s.logs.String())
		}
		select {
		case <-s.done:
			t.Fatalf("the server exited at start:\n%s", s.logs.String())
		case <-time.After(30 * time.Millisecond):
		}
	}
}

// stop ends the server gracefully, as an operator would.
func (s *server) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
		s.t.Errorf("the server did not stop within 10 s of SIGTERM:\n%s", s.logs.String())
	}
}

// call makes an API request with a bearer token and decodes a JSON answer.
func (s *server) call(method, path, token string, body, out any) int {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			s.t.Fatalf("encode %s %s: %v", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		s.t.Fatalf("%s %s: read the answer: %v", method, path, err)
	}
	if out != nil && res.StatusCode < 300 && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			s.t.Fatalf("%s %s: decode %q: %v", method, path, raw, err)
		}
	}
	return res.StatusCode
}

// session is what `observable setup` gets: a session key and a pairing.
type session struct {
	Key     string
	PairURL string
	Code    string
}

func (s *server) newSession(host string) session {
	s.t.Helper()
	var out struct {
		SessionID string `json:"session_id"`
		Pairing   struct {
			Code string `json:"code"`
			URL  string `json:"url"`
		} `json:"pairing"`
	}
	if code := s.call("POST", "/api/v1/sessions", "", map[string]string{"host": host}, &out); code != http.StatusCreated {
		s.t.Fatalf("POST /api/v1/sessions: status %d", code)
	}
	return session{Key: out.SessionID, PairURL: out.Pairing.URL, Code: out.Pairing.Code}
}

// post sends events as the SDK does, with the session key.
func (s *server) post(key string, events ...map[string]any) {
	s.t.Helper()
	var out struct {
		Accepted int `json:"accepted"`
	}
	code := s.call("POST", "/api/v1/events", key, map[string]any{"events": events}, &out)
	if code != http.StatusAccepted || out.Accepted != len(events) {
		s.t.Fatalf("POST /api/v1/events: status %d, accepted %d of %d", code, out.Accepted, len(events))
	}
}
