package ingest

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/store"
	"github.com/observable-code/observable/internal/store/sqlstore"
)

// gatedStore is the real SQLite store with a gate in front of the first
// commit, so a test can pile requests up behind it deterministically.
type gatedStore struct {
	*sqlstore.DB
	entered chan struct{}
	release chan struct{}
	once    sync.Once
	mu      sync.Mutex
	sizes   []int
	fail    error
}

func (g *gatedStore) AppendEvents(ctx context.Context, batch []*store.Append) error {
	g.once.Do(func() {
		close(g.entered)
		<-g.release
	})
	g.mu.Lock()
	g.sizes = append(g.sizes, len(batch))
	fail := g.fail
	g.mu.Unlock()
	if fail != nil {
		return fail
	}
	return g.DB.AppendEvents(ctx, batch)
}

func newGated(t *testing.T) (*gatedStore, domain.Session) {
	t.Helper()
	db, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "c.db"), sqlstore.SQLiteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	sess, err := db.CreateSession(context.Background(), []byte("k"), "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return &gatedStore{DB: db, entered: make(chan struct{}), release: make(chan struct{})}, sess
}

func appendOf(sessionID int64, name string) *store.Append {
	return &store.Append{SessionID: sessionID, Events: []domain.Event{{Name: name, Status: "completed"}}, ReceivedAt: time.Now()}
}

func TestRequestsShareCommits(t *testing.T) {
	st, sess := newGated(t)
	var published [][]*store.Append
	var pubMu sync.Mutex
	c := New(st, Options{Published: func(b []*store.Append) {
		pubMu.Lock()
		published = append(published, append([]*store.Append(nil), b...))
		pubMu.Unlock()
	}})
	defer c.Close()
	errs := make(chan error, 21)
	go func() { errs <- c.Submit(context.Background(), appendOf(sess.ID, "first")) }()
	<-st.entered // the first commit is being written
	var all []*store.Append
	for i := 0; i < 20; i++ {
		a := appendOf(sess.ID, "queued")
		all = append(all, a)
		go func() { errs <- c.Submit(context.Background(), a) }()
	}
	// Every request is queued before the gate opens.
	for deadline := time.Now().Add(5 * time.Second); len(c.reqs) < 20; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d requests queued", len(c.reqs))
		}
	}
	close(st.release)
	for i := 0; i < 21; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if len(st.sizes) != 2 || st.sizes[0] != 1 || st.sizes[1] != 20 {
		t.Fatalf("commit sizes = %v, want [1 20]: queued requests must share one transaction", st.sizes)
	}
	seen := map[int64]bool{}
	for _, a := range all {
		if len(a.Stored) != 1 || seen[a.Stored[0].Seq] {
			t.Fatalf("append result %+v", a.Stored)
		}
		seen[a.Stored[0].Seq] = true
	}
	if len(published) != 2 {
		t.Fatalf("published %d times, want once per commit", len(published))
	}
}

func TestCommitErrorReachesEveryRequest(t *testing.T) {
	st, sess := newGated(t)
	close(st.release)
	st.fail = errors.New("disk on fire")
	c := New(st, Options{})
	defer c.Close()
	a := appendOf(sess.ID, "x")
	if err := c.Submit(context.Background(), a); err == nil || a.Stored != nil {
		t.Fatalf("Submit = %v with %v stored; want the commit's error and nothing stored", err, a.Stored)
	}
}

func TestCloseCommitsQueuedAndRefusesNew(t *testing.T) {
	st, sess := newGated(t)
	c := New(st, Options{})
	errs := make(chan error, 2)
	go func() { errs <- c.Submit(context.Background(), appendOf(sess.ID, "in flight")) }()
	<-st.entered
	queued := appendOf(sess.ID, "queued")
	go func() { errs <- c.Submit(context.Background(), queued) }()
	for len(c.reqs) < 1 {
		time.Sleep(time.Millisecond)
	}
	closed := make(chan struct{})
	go func() { c.Close(); close(closed) }()
	close(st.release)
	<-closed
	for i := 0; i < 2; i++ {
		if err := <-errs; err != nil {
			t.Fatalf("a request accepted before Close failed: %v", err)
		}
	}
	if len(queued.Stored) != 1 {
		t.Fatal("the queued request was not committed")
	}
	if err := c.Submit(context.Background(), appendOf(sess.ID, "late")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Submit after Close = %v, want ErrClosed", err)
	}
}

func TestLingerGathersTheNextWaveAfterASharedCommit(t *testing.T) {
	st, sess := newGated(t)
	c := New(st, Options{Linger: 300 * time.Millisecond})
	defer c.Close()
	errs := make(chan error, 8)
	submit := func(name string) { go func() { errs <- c.Submit(context.Background(), appendOf(sess.ID, name)) }() }
	wait := func(n int) {
		for i := 0; i < n; i++ {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	}
	submit("a")
	<-st.entered // commit 1 holds a, alone
	submit("b")
	submit("c")
	for len(c.reqs) < 2 {
		time.Sleep(time.Millisecond)
	}
	close(st.release)
	wait(3) // commit 2 holds b and c: a shared commit
	submit("d")
	time.Sleep(50 * time.Millisecond)
	submit("e")
	wait(2)
	st.mu.Lock()
	defer st.mu.Unlock()
	if fmt.Sprint(st.sizes) != "[1 2 2]" {
		t.Fatalf("commit sizes %v, want [1 2 2]: after a shared commit the next one waits for the request 50 ms behind", st.sizes)
	}
}

func TestLoneRequestsDoNotLinger(t *testing.T) {
	st, sess := newGated(t)
	close(st.release)
	c := New(st, Options{Linger: time.Second})
	defer c.Close()
	start := time.Now()
	for i := 0; i < 3; i++ {
		if err := c.Submit(context.Background(), appendOf(sess.ID, "alone")); err != nil {
			t.Fatal(err)
		}
	}
	if took := time.Since(start); took > 900*time.Millisecond {
		t.Fatalf("three lone requests took %v: a lone request must not linger", took)
	}
}

// poisonStore is the real SQLite store that fails, as PostgreSQL does for
// a string it cannot store, every transaction holding an event named
// "poison", fails as in an outage every one holding "down", and refuses
// alone (Append.Err) every request named "refused".
type poisonStore struct {
	*gatedStore
	txns     int
	refusals error
}

var errPoison = errors.New(`invalid byte sequence for encoding "UTF8": 0x00`)

func (p *poisonStore) AppendEvents(ctx context.Context, batch []*store.Append) error {
	p.mu.Lock()
	p.txns++
	p.mu.Unlock()
	var kept []*store.Append
	for _, a := range batch {
		switch a.Events[0].Name {
		case "poison":
			return errPoison
		case "down":
			return fmt.Errorf("append events: %w: connection refused", store.ErrUnavailable)
		case "refused":
			a.Err = p.refusals
		default:
			kept = append(kept, a)
		}
	}
	return p.gatedStore.AppendEvents(ctx, kept)
}

// submitBehindGate queues names behind a commit held at the gate, so that
// they all share the next group, and returns each request's outcome.
func submitBehindGate(t *testing.T, c *Committer, st *gatedStore, sess domain.Session, names []string) ([]*store.Append, []error) {
	t.Helper()
	first := make(chan error, 1)
	go func() { first <- c.Submit(context.Background(), appendOf(sess.ID, "first")) }()
	<-st.entered
	appends := make([]*store.Append, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		appends[i] = appendOf(sess.ID, name)
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = c.Submit(context.Background(), appends[i]) }()
	}
	for deadline := time.Now().Add(5 * time.Second); len(c.reqs) < len(names); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d requests queued", len(c.reqs))
		}
	}
	close(st.release)
	wg.Wait()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	return appends, errs
}

func TestFailedGroupFailsOnlyTheBadRequest(t *testing.T) {
	gs, sess := newGated(t)
	st := &poisonStore{gatedStore: gs}
	published := map[*store.Append]int{}
	var pubMu sync.Mutex
	c := New(st, Options{Published: func(b []*store.Append) {
		pubMu.Lock()
		defer pubMu.Unlock()
		for _, a := range b {
			published[a]++
		}
	}})
	defer c.Close()
	names := make([]string, 40)
	for i := range names {
		names[i] = fmt.Sprintf("honest_%d", i)
	}
	names[7], names[30] = "poison", "poison"
	appends, errs := submitBehindGate(t, c, gs, sess, names)
	for i, name := range names {
		switch {
		case name == "poison" && !errors.Is(errs[i], errPoison):
			t.Errorf("request %d (poison) = %v, want the database's error", i, errs[i])
		case name == "poison" && (appends[i].Stored != nil || published[appends[i]] != 0):
			t.Errorf("request %d (poison) has %v stored, published %d times", i, appends[i].Stored, published[appends[i]])
		case name != "poison" && (errs[i] != nil || len(appends[i].Stored) != 1 || published[appends[i]] != 1):
			t.Errorf("request %d (honest) = %v, %d stored, published %d times: want stored and published once",
				i, errs[i], len(appends[i].Stored), published[appends[i]])
		}
	}
	stored, err := gs.ListEvents(context.Background(), sess.ID, store.EventQuery{Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	if want := 1 + len(names) - 2; len(stored) != want {
		t.Fatalf("%d events stored, want %d: each honest request once, the poisoned ones not at all", len(stored), want)
	}
	// Bisecting: about 2·log2(40) tries per bad request, not one per request.
	if st.txns > 1+2*2*6 {
		t.Fatalf("%d transactions for one group of 40 with 2 bad requests", st.txns)
	}
}

func TestOutageFailsTheWholeGroupWithoutRetries(t *testing.T) {
	gs, sess := newGated(t)
	st := &poisonStore{gatedStore: gs}
	c := New(st, Options{})
	defer c.Close()
	_, errs := submitBehindGate(t, c, gs, sess, []string{"a", "down", "c", "d"})
	for i, err := range errs {
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("request %d = %v, want the outage", i, err)
		}
	}
	if st.txns != 2 {
		t.Fatalf("%d transactions, want 2 (the first, then the group once): an outage is not retried piecemeal", st.txns)
	}
}

func TestStoreRefusalReachesOnlyItsRequest(t *testing.T) {
	gs, sess := newGated(t)
	limit := errors.New("this session has too many jobs")
	st := &poisonStore{gatedStore: gs, refusals: limit}
	var published []*store.Append
	var pubMu sync.Mutex
	c := New(st, Options{Published: func(b []*store.Append) {
		pubMu.Lock()
		published = append(published, b...)
		pubMu.Unlock()
	}})
	defer c.Close()
	appends, errs := submitBehindGate(t, c, gs, sess, []string{"ok1", "refused", "ok2"})
	if !errors.Is(errs[1], limit) || errs[0] != nil || errs[2] != nil {
		t.Fatalf("Submit results %v, want the refusal for the second request alone", errs)
	}
	if len(appends[0].Stored) != 1 || len(appends[2].Stored) != 1 || st.txns != 2 {
		t.Fatalf("stored %d and %d in %d transactions, want one each in the same group", len(appends[0].Stored), len(appends[2].Stored), st.txns)
	}
	for _, a := range published {
		if a == appends[1] {
			t.Fatal("a refused request was published")
		}
	}
}
