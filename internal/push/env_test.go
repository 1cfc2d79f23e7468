package push

import (
	"context"
	"crypto/rand"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/store"
	"github.com/observable-code/observable/internal/store/sqlstore"
	"github.com/observable-code/observable/internal/syncbuf"
)

const testContact = "mailto:ops@example.org"

// env is one test's world: a real SQLite store with a session, a stand-in
// push service, and a Service delivering from the store to the stand-in.
type env struct {
	t       testing.TB
	ctx     context.Context
	db      *sqlstore.DB
	path    string
	push    *standIn
	svc     *Service
	session domain.Session
	results *tally
	logs    *syncbuf.Buffer
	subs    []domain.PushSubscription
}

func newEnv(t testing.TB, opts Options) *env {
	t.Helper()
	path := t.TempDir() + "/x.db"
	e := newEnvOn(t, openDB(t, path), opts)
	e.path = path
	return e
}

// newEnvOn is newEnv on a store the caller opened (PostgreSQL).
func newEnvOn(t testing.TB, db *sqlstore.DB, opts Options) *env {
	t.Helper()
	e := &env{t: t, ctx: t.Context(), db: db, results: newTally(), logs: &syncbuf.Buffer{}}
	e.push = newStandIn(t, testContact)
	e.svc = e.newService(e.db, opts, e.push)
	var err error
	if e.session, err = e.db.CreateSession(e.ctx, randomBytes(t), "laptop", time.Now()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("push log:\n%s", e.logs.String())
		}
	})
	return e
}

func openDB(t testing.TB, path string) *sqlstore.DB {
	t.Helper()
	db, err := sqlstore.OpenSQLite(context.Background(), path, sqlstore.SQLiteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// newService makes a Service on db with test-sized delays; fields set in
// opts win. Every stand-in given is allowed.
func (e *env) newService(db *sqlstore.DB, opts Options, services ...*standIn) *Service {
	e.t.Helper()
	opts.Store = db
	opts.Contact = testContact
	for _, s := range services {
		opts.Allow = append(opts.Allow, s.hostPort())
	}
	opts.Result = e.results.add
	opts.Logger = slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if opts.RetryBase == 0 {
		opts.RetryBase = 20 * time.Millisecond
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = 50 * time.Millisecond
	}
	if opts.SendTimeout == 0 {
		opts.SendTimeout = 5 * time.Second
	}
	svc, err := New(e.ctx, opts)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, s := range services {
		s.setKey(svc.PublicKey())
	}
	return svc
}

// start runs svc (e.svc when nil) until the test ends.
func (e *env) start(svc *Service) {
	if svc == nil {
		svc = e.svc
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		svc.Run(ctx)
	}()
	e.t.Cleanup(func() {
		cancel()
		<-stopped
	})
}

// addDevice pairs a device through the store's pairing flow and gives it
// the rules and subscription asked for (nil: none).
func (e *env) addDevice(id, notify string, muted []string, sub *domain.PushSubscription) string {
	e.t.Helper()
	now := time.Now()
	code := randomBytes(e.t)
	p := domain.Pairing{CodeHash: code, SessionID: e.session.ID, CreatedAt: domain.NewTime(now), ExpiresAt: domain.NewTime(now.Add(10 * time.Minute))}
	if err := e.db.CreatePairing(e.ctx, p); err != nil {
		e.t.Fatal(err)
	}
	d, err := e.db.ClaimPairing(e.ctx, code, domain.Device{ID: id, Name: id}, randomBytes(e.t), now)
	if err != nil {
		e.t.Fatal(err)
	}
	if notify != "" || muted != nil {
		if notify == "" {
			notify = domain.NotifyFailures
		}
		if err := e.db.UpdateDevice(e.ctx, d.ID, domain.DeviceSettings{Name: id, Notify: notify, Muted: muted}); err != nil {
			e.t.Fatal(err)
		}
	}
	if sub != nil {
		if err := e.db.SetPush(e.ctx, d.ID, sub); err != nil {
			e.t.Fatal(err)
		}
		e.subs = append(e.subs, *sub)
	}
	return d.ID
}

// post stores events as the API would (one request) and wakes the worker.
func (e *env) post(events ...domain.Event) []domain.StoredEvent {
	e.t.Helper()
	a := &store.Append{SessionID: e.session.ID, Events: events, ReceivedAt: time.Now()}
	if err := e.db.AppendEvents(e.ctx, []*store.Append{a}); err != nil {
		e.t.Fatal(err)
	}
	e.svc.Wake()
	return a.Stored
}

func failed(name string, ms float64, errType, errMsg string) domain.Event {
	ev := domain.Event{Name: name, Status: domain.StatusFailed, DurationMS: &ms}
	if errType != "" {
		ev.Error = &domain.ErrorInfo{Type: errType, Message: errMsg}
	}
	return ev
}

func completed(name string, ms float64) domain.Event {
	return domain.Event{Name: name, Status: domain.StatusCompleted, DurationMS: &ms}
}

// next waits for the stand-in to accept a notification.
func (e *env) next(within time.Duration) delivery {
	e.t.Helper()
	select {
	case d := <-e.push.got:
		return d
	case <-time.After(within):
		e.t.Fatalf("no notification within %s (results so far: %v)", within, e.results.snapshot())
		return delivery{}
	}
}

// queueEmpty asserts that no job is left, due or not: nothing more will be
// sent. It claims whatever it finds, so it ends a test.
func (e *env) queueEmpty() {
	e.t.Helper()
	jobs, err := e.db.ClaimPushJobs(e.ctx, time.Now().Add(365*24*time.Hour), time.Minute, 100)
	if err != nil {
		e.t.Fatal(err)
	}
	if len(jobs) != 0 {
		e.t.Fatalf("%d jobs left in the queue, e.g. %+v", len(jobs), jobs[0])
	}
}

// logsKeepSecrets asserts that no subscription's endpoint path or keys were
// logged: they are capabilities to push to the phone.
func (e *env) logsKeepSecrets() {
	e.t.Helper()
	logs := e.logs.String()
	for _, s := range e.subs {
		path := s.Endpoint[strings.Index(s.Endpoint, "/push/"):]
		for _, secret := range []string{path, s.P256dh, s.Auth} {
			if strings.Contains(logs, secret) {
				e.t.Fatalf("the log holds a subscription secret %q:\n%s", secret, logs)
			}
		}
	}
}

// tally counts Result outcomes and lets a test wait for them.
type tally struct {
	mu      sync.Mutex
	counts  map[string]int
	changed chan struct{}
	times   map[string][]time.Time
}

func newTally() *tally {
	return &tally{counts: map[string]int{}, times: map[string][]time.Time{}, changed: make(chan struct{}, 1)}
}

func (t *tally) add(result string) {
	t.mu.Lock()
	t.counts[result]++
	t.times[result] = append(t.times[result], time.Now())
	t.mu.Unlock()
	select {
	case t.changed <- struct{}{}:
	default:
	}
}

func (t *tally) snapshot() map[string]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[string]int{}
	for k, v := range t.counts {
		out[k] = v
	}
	return out
}

func (t *tally) at(result string, i int) time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.times[result][i]
}

// wait blocks until every outcome has been counted at least as often as
// want says.
func (e *env) wait(want map[string]int, within time.Duration) {
	e.t.Helper()
	deadline := time.After(within)
	for {
		got := e.results.snapshot()
		ok := true
		for k, n := range want {
			if got[k] < n {
				ok = false
			}
		}
		if ok {
			return
		}
		select {
		case <-e.results.changed:
		case <-deadline:
			e.t.Fatalf("after %s results are %v, want at least %v", within, got, want)
		}
	}
}

// exactly asserts the final counts (after wait), so that no outcome beyond
// the expected ones happened.
func (e *env) exactly(want map[string]int) {
	e.t.Helper()
	got := e.results.snapshot()
	for k := range got {
		if got[k] != want[k] {
			e.t.Fatalf("results %v, want exactly %v", got, want)
		}
	}
	for k := range want {
		if got[k] != want[k] {
			e.t.Fatalf("results %v, want exactly %v", got, want)
		}
	}
}

func randomBytes(t testing.TB) []byte {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}
