package main

// Channels with the real server binary (issue 14, docs/channels.md):
// alerts reach a webhook signed, survive a restart, are delivered once by
// two instances on PostgreSQL, and email goes through a real mail server
// (mailpit) only once its address is confirmed.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/channel"
)

// chanwHook is a webhook receiver that checks every request's signature
// and records the bodies of those that it accepted. While refusing is set
// it answers that status instead (counted in tries).
type chanwHook struct {
	srv      *httptest.Server
	secret   string
	refusing atomic.Int32
	tries    atomic.Int32
	mu       sync.Mutex
	got      []chanwAlert
	bad      []string
}

// chanwAlert is the documented webhook body, the fields the tests read.
type chanwAlert struct {
	Kind     string  `json:"kind"`
	Job      string  `json:"job"`
	Title    string  `json:"title"`
	URL      string  `json:"url"`
	Seq      *int64  `json:"seq"`
	Status   *string `json:"status"`
	Channel  string  `json:"channel"`
	Incident *struct {
		ID   int64  `json:"id"`
		Kind string `json:"kind"`
		Runs int64  `json:"runs"`
	} `json:"incident"`
}

func chanwNewHook(t *testing.T, secret string) *chanwHook {
	h := &chanwHook{secret: secret}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.tries.Add(1)
		if st := h.refusing.Load(); st != 0 {
			w.WriteHeader(int(st))
			return
		}
		ts, err := strconv.ParseInt(r.Header.Get(channel.HeaderTimestamp), 10, 64)
		sig := r.Header.Get(channel.HeaderSignature)
		h.mu.Lock()
		defer h.mu.Unlock()
		if err != nil || sig != channel.Sign(h.secret, ts, body) || time.Since(time.Unix(ts, 0)).Abs() > 5*time.Minute {
			h.bad = append(h.bad, fmt.Sprintf("timestamp %q signature %q body %s", r.Header.Get(channel.HeaderTimestamp), sig, body))
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var a chanwAlert
		if err := json.Unmarshal(body, &a); err != nil {
			h.bad = append(h.bad, fmt.Sprintf("body %s: %v", body, err))
		}
		h.got = append(h.got, a)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *chanwHook) alerts() []chanwAlert {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]chanwAlert(nil), h.got...)
}

// waitAlerts waits until n alerts were accepted, failing on a bad signature.
func (h *chanwHook) waitAlerts(t *testing.T, n int, within time.Duration, logs func() string) []chanwAlert {
	t.Helper()
	for deadline := time.Now().Add(within); ; time.Sleep(20 * time.Millisecond) {
		h.mu.Lock()
		got, bad := len(h.got), append([]string(nil), h.bad...)
		h.mu.Unlock()
		if len(bad) > 0 {
			t.Fatalf("the receiver refused %d requests: %s", len(bad), bad[0])
		}
		if got >= n {
			return h.alerts()
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d alerts within %v (%d tries)\n%s", got, n, within, h.tries.Load(), logs())
		}
	}
}

// chanwPhone makes a session on p and pairs a phone: the session key and
// the device token the channels routes take.
func chanwPhone(t *testing.T, p *serverProc) (key, token string) {
	key, code := newSession(t, p)
	return key, claimPairing(t, p, code)
}

// chanwChannel is the CHANNEL answer, the fields the tests read.
type chanwChannel struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	Notify    string `json:"notify"`
	Verified  bool   `json:"verified"`
	URL       string `json:"url"`
	LastError *struct {
		Message string `json:"message"`
	} `json:"last_error"`
}

func chanwAdd(t *testing.T, p *serverProc, token, body string) chanwChannel {
	t.Helper()
	var c chanwChannel
	mustCall(t, http.StatusCreated, "POST", p.url+"/api/v1/channels", token, body, &c)
	return c
}

func chanwList(t *testing.T, p *serverProc, token string) []chanwChannel {
	t.Helper()
	var out struct {
		Channels []chanwChannel `json:"channels"`
	}
	mustCall(t, http.StatusOK, "GET", p.url+"/api/v1/channels", token, "", &out)
	return out.Channels
}

// chanwPost sends one event of job name with status.
func chanwPost(t *testing.T, p *serverProc, key, name, status string) {
	t.Helper()
	mustCall(t, http.StatusAccepted, "POST", p.url+"/api/v1/events", key, fmt.Sprintf(`{"name":%q,"status":%q}`, name, status), nil)
}

// chanwAllow is the --channel-allow of a receiver on 127.0.0.1.
func chanwAllow() []string { return []string{"--channel-allow", "127.0.0.1"} }

func chanwHookBody(url, secret string) string {
	return fmt.Sprintf(`{"type":"webhook","url":%q,"secret":%q}`, url+"/hook/"+strings.Repeat("k", 12), secret)
}
