package channel

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/store"
	"github.com/observable-code/observable/internal/store/sqlstore"
	"github.com/observable-code/observable/internal/syncbuf"
)

// wtClock is the worker's clock in tests: it moves only when told to.
type wtClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *wtClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *wtClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// wtSpy records the worker's claims: when (on the worker's clock) and how
// many jobs they found, so that a test can wait for "the worker looked at
// time T and found nothing due" instead of sleeping.
type wtSpy struct {
	Store
	mu     sync.Mutex
	claims []wtClaim
}

type wtClaim struct {
	now  time.Time
	jobs int
}

func (s *wtSpy) ClaimChannelJobs(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]store.ChannelJob, error) {
	jobs, err := s.Store.ClaimChannelJobs(ctx, now, lease, limit)
	if err == nil {
		s.mu.Lock()
		s.claims = append(s.claims, wtClaim{now, len(jobs)})
		s.mu.Unlock()
	}
	return jobs, err
}

// emptyClaimSince reports whether a claim at or after t found nothing.
func (s *wtSpy) emptyClaimSince(t time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.claims {
		if !c.now.Before(t) && c.jobs == 0 {
			return true
		}
	}
	return false
}

// wtEnv is one test's world: a real SQLite store with a session, the real
// senders reaching httptest receivers on 127.0.0.1 (allowed as
// --channel-allow would), and a Worker on a clock the test moves.
type wtEnv struct {
	t       *testing.T
	ctx     context.Context
	db      *sqlstore.DB
	session domain.Session
	sealer  *Sealer
	clock   *wtClock
	spy     *wtSpy
	w       *Worker
	logs    *syncbuf.Buffer
	mu      sync.Mutex
	results map[string]int
	offs    atomic.Int32
	secrets []string
}

func newWTEnv(t *testing.T, tweak func(*WorkerOptions)) *wtEnv {
	t.Helper()
	ctx := t.Context()
	db, err := sqlstore.OpenSQLite(ctx, t.TempDir()+"/w.db", sqlstore.SQLiteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &wtEnv{t: t, ctx: ctx, db: db, logs: &syncbuf.Buffer{}, results: map[string]int{},
		clock: &wtClock{t: time.Now()}}
	if e.session, err = db.CreateSession(ctx, wtRandom(t), "laptop", time.Now()); err != nil {
		t.Fatal(err)
	}
	if e.sealer, err = NewSealer(wtRandom(t)); err != nil {
		t.Fatal(err)
	}
	guard, err := NewGuard([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	e.spy = &wtSpy{Store: db}
	o := WorkerOptions{
		Store: e.spy, Sealer: e.sealer, PublicURL: "https://obs.example.com",
		Senders: NewSenders(Options{Guard: guard, Timeout: 300 * time.Millisecond, UserAgent: "observable-server/test", PublicHost: "obs.example.com", Now: e.clock.Now}),
		Logger:  slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Result: func(r string) {
			e.mu.Lock()
			e.results[r]++
			e.mu.Unlock()
		},
		TurnedOff:    func() { e.offs.Add(1) },
		Now:          e.clock.Now,
		PollInterval: 20 * time.Millisecond,
	}
	if tweak != nil {
		tweak(&o)
	}
	if e.w, err = NewWorker(o); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("worker log:\n%s", e.logs.String())
		}
	})
	return e
}

func wtRandom(t *testing.T) []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}

// start runs the worker until the test ends.
func (e *wtEnv) start() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.w.Run(ctx) }()
	e.t.Cleanup(func() { cancel(); <-done })
}

// channel adds a verified channel of typ with sec, as the API would.
func (e *wtEnv) channel(id, typ string, sec domain.ChannelSecrets) {
	e.t.Helper()
	sealed, err := e.sealer.Seal(id, sec)
	if err != nil {
		e.t.Fatal(err)
	}
	c := domain.Channel{ID: id, SessionID: e.session.ID, Type: typ, Notify: domain.NotifyAll, Verified: true,
		Sealed: sealed, Shown: Mask(typ, sec)}
	if err := e.db.CreateChannel(e.ctx, c, nil, e.clock.Now()); err != nil {
		e.t.Fatal(err)
	}
	e.secrets = append(e.secrets, sec.Secret, sec.URL[strings.LastIndex(sec.URL, "/"):])
}

// queueTests queues n test messages to the channel and wakes the worker.
func (e *wtEnv) queueTests(id string, n int) {
	e.t.Helper()
	for range n {
		if err := e.db.QueueChannelMessage(e.ctx, e.session.ID, id, domain.ChannelKindTest, e.clock.Now()); err != nil {
			e.t.Fatal(err)
		}
	}
	e.w.Wake()
}

func (e *wtEnv) result(r string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.results[r]
}

// waitResult waits until the worker reported result n times.
func (e *wtEnv) waitResult(r string, n int) {
	e.t.Helper()
	wtWait(e.t, r, func() bool { return e.result(r) >= n })
	if got := e.result(r); got != n {
		e.t.Fatalf("%d %q results; want %d", got, r, n)
	}
}

func (e *wtEnv) getChannel(id string) domain.Channel {
	e.t.Helper()
	c, err := e.db.GetChannel(e.ctx, e.session.ID, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// queueEmpty asserts that nothing is left to send, due or not.
func (e *wtEnv) queueEmpty() {
	e.t.Helper()
	jobs, err := e.db.ClaimChannelJobs(e.ctx, e.clock.Now().Add(365*24*time.Hour), time.Minute, 100)
	if err != nil || len(jobs) != 0 {
		e.t.Fatalf("%d jobs left in the queue (%v)", len(jobs), err)
	}
}

// logsKeepSecrets asserts that no secret or URL path reached the log.
func (e *wtEnv) logsKeepSecrets() {
	e.t.Helper()
	logs := e.logs.String()
	for _, s := range e.secrets {
		if len(s) >= 4 && strings.Contains(logs, s) {
			e.t.Fatalf("the log holds the secret %q:\n%s", s, logs)
		}
	}
}

func wtWait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
	}
}

// wtReceiver is an HTTP receiver that answers each request as answer says
// (n counts from 1) and records what came and when.
type wtReceiver struct {
	srv         *httptest.Server
	mu          sync.Mutex
	got         []wtRequest
	inflight    int
	maxInflight int
}

type wtRequest struct {
	at     time.Time
	header http.Header
	body   []byte
}

func newWTReceiver(t *testing.T, answer func(n int, w http.ResponseWriter, r *http.Request)) *wtReceiver {
	rc := &wtReceiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, wtRequest{at: time.Now(), header: r.Header.Clone(), body: body})
		n := len(rc.got)
		rc.inflight++
		rc.maxInflight = max(rc.maxInflight, rc.inflight)
		rc.mu.Unlock()
		defer func() {
			rc.mu.Lock()
			rc.inflight--
			rc.mu.Unlock()
		}()
		answer(n, w, r)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *wtReceiver) requests() []wtRequest {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]wtRequest(nil), rc.got...)
}

func (rc *wtReceiver) count() int { return len(rc.requests()) }
