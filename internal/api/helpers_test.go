package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/config"
	"github.com/observable-code/observable/internal/ingest"
	"github.com/observable-code/observable/internal/live"
	"github.com/observable-code/observable/internal/metrics"
	"github.com/observable-code/observable/internal/store"
	"github.com/observable-code/observable/internal/store/sqlstore"
	"github.com/observable-code/observable/internal/syncbuf"
)

// testPush stands in for the Web Push service, which has its own tests:
// the API only needs a key and an endpoint check.
type testPush struct{}

func (testPush) PublicKey() string { return "BPublicKeyForTests" }
func (testPush) CheckEndpoint(endpoint string) error {
	if !strings.HasPrefix(endpoint, "https://push.example/") {
		return errors.New("endpoint must be a browser push service, not " + endpoint)
	}
	return nil
}

// harness is a real API on a real SQLite file, over real HTTP.
type harness struct {
	t      *testing.T
	srv    *Server
	http   *httptest.Server
	store  *sqlstore.DB
	broker *live.Broker
	dbPath string
	logs   *syncbuf.Buffer
	mu     sync.Mutex
	now    time.Time // zero: the real clock
}

func newHarness(t *testing.T, tweak ...func(*config.Config)) *harness {
	t.Helper()
	cfg := config.Default()
	cfg.SessionsPerMinute = 0
	cfg.Heartbeat = time.Second
	for _, f := range tweak {
		f(&cfg)
	}
	h := &harness{t: t, logs: &syncbuf.Buffer{}}
	h.dbPath = filepath.Join(t.TempDir(), "api.db")
	db, err := sqlstore.OpenSQLite(context.Background(), h.dbPath, sqlstore.SQLiteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m := metrics.New()
	h.store = db
	h.broker = live.NewBroker(db, live.Options{Buffer: cfg.StreamBuffer, Heartbeat: cfg.Heartbeat, Logger: log})
	committer := ingest.New(db, ingest.Options{Published: func(batch []*store.Append) {
		for _, a := range batch {
			h.broker.Publish(a.SessionID, a.Stored)
		}
	}})
	h.http = httptest.NewUnstartedServer(nil)
	h.http.Start()
	cfg.PublicURL = h.http.URL
	h.srv = New(Options{
		PublicURL: cfg.PublicURL, MaxBodyBytes: cfg.MaxBodyBytes, MaxBatchEvents: cfg.MaxBatchEvents,
		SessionRate: cfg.SessionRate, SessionBurst: cfg.SessionBurst, SessionsPerMinute: cfg.SessionsPerMinute,
		QRPerMinute: cfg.QRPerMinute, PairingTTL: cfg.PairingTTL, TrustProxy: cfg.TrustProxy,
	}, Deps{Store: db, Committer: committer, Broker: h.broker, Metrics: m, Logger: log, Push: testPush{},
		Now: func() time.Time {
			h.mu.Lock()
			defer h.mu.Unlock()
			if h.now.IsZero() {
				return time.Now()
			}
			return h.now
		}})
	h.http.Config.Handler = h.srv.Handler()
	t.Cleanup(func() {
		h.broker.Close()
		h.http.Close()
		committer.Close()
		db.Close()
	})
	return h
}

// setNow freezes the server's clock (zero: real time again).
func (h *harness) setNow(t time.Time) {
	h.mu.Lock()
	h.now = t
	h.mu.Unlock()
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("answer is not JSON (%v): %s", err, r.body)
	}
	return m
}

// errorCode checks the contract's error shape and returns its code.
func (r reply) errorCode(t *testing.T) string {
	t.Helper()
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("status %d: not a contract error body: %s", r.status, r.body)
	}
	return e.Error.Code
}

type reqOpt func(*http.Request)

func bearerAuth(token string) reqOpt {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
}

func withHeader(k, v string) reqOpt { return func(r *http.Request) { r.Header.Set(k, v) } }

func withCookie(token string) reqOpt {
	return func(r *http.Request) { r.AddCookie(&http.Cookie{Name: DeviceCookie, Value: token}) }
}

func (h *harness) do(method, path string, body any, opts ...reqOpt) reply {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, h.http.URL+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, o := range opts {
		o(req)
	}
	resp, err := h.http.Client().Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: raw}
}

type session struct {
	key  string
	code string
	url  string
}

func (h *harness) newSession() session {
	h.t.Helper()
	r := h.do("POST", "/api/v1/sessions", map[string]string{"host": "build-box"})
	if r.status != http.StatusCreated {
		h.t.Fatalf("create session: %d %s", r.status, r.body)
	}
	m := r.json(h.t)
	p := m["pairing"].(map[string]any)
	return session{key: m["session_id"].(string), code: p["code"].(string), url: p["url"].(string)}
}

// pair claims the session's code and returns the device token.
func (h *harness) pair(s session) string {
	h.t.Helper()
	r := h.do("POST", "/api/v1/pairings/"+url.PathEscape(s.code)+"/claim", map[string]string{"name": "test phone"})
	if r.status != http.StatusCreated {
		h.t.Fatalf("claim: %d %s", r.status, r.body)
	}
	return r.json(h.t)["device_token"].(string)
}

func (h *harness) post(s session, body any) reply {
	h.t.Helper()
	return h.do("POST", "/api/v1/events", body, bearerAuth(s.key))
}

func (h *harness) events(token string, query string) []map[string]any {
	h.t.Helper()
	r := h.do("GET", "/api/v1/events?"+query, nil, bearerAuth(token))
	if r.status != http.StatusOK {
		h.t.Fatalf("list events: %d %s", r.status, r.body)
	}
	var out []map[string]any
	for _, e := range r.json(h.t)["events"].([]any) {
		out = append(out, e.(map[string]any))
	}
	return out
}
