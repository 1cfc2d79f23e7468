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
