package live

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/secret"
	"github.com/observable-code/observable/internal/store"
	"github.com/observable-code/observable/internal/store/sqlstore"
)

type fixture struct {
	db     *sqlstore.DB
	broker *Broker
	http   *httptest.Server
	sess   domain.Session
	drops  chan struct{}
}

func newFixture(t *testing.T, opts Options) *fixture {
	t.Helper()
	db, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "live.db"), sqlstore.SQLiteOptions{Synchronous: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{db: db, drops: make(chan struct{}, 100)}
	opts.OnDrop = func() { f.drops <- struct{}{} }
	f.broker = NewBroker(db, opts)
	f.sess, err = db.CreateSession(context.Background(), []byte("key"), "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	f.http = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		after := int64(-1)
		fmt.Sscan(r.URL.Query().Get("after"), &after)
		q := r.URL.Query()
		req := StreamRequest{SessionID: f.sess.ID, After: after, Addr: q.Get("addr"), DeviceID: q.Get("dev")}
		if req.DeviceID != "" {
			req.TokenHash = secret.Hash(q.Get("tok"))
		}
		f.broker.Serve(w, r, req)
	}))
	t.Cleanup(func() { f.broker.Close(); f.http.Close(); db.Close() })
	return f
}

// commit stores events the way ingest does, optionally without publishing.
func (f *fixture) commit(t *testing.T, publish bool, events ...domain.Event) []domain.StoredEvent {
	t.Helper()
	a := &store.Append{SessionID: f.sess.ID, Events: events, ReceivedAt: time.Now()}
	if err := f.db.AppendEvents(context.Background(), []*store.Append{a}); err != nil {
		t.Fatal(err)
	}
	if publish {
		f.broker.Publish(f.sess.ID, a.Stored)
	}
	return a.Stored
}

// ids reads the ids of a stream's events as they come.
func ids(t *testing.T, url string) (<-chan string, func()) {
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan string, 10000)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "id: ") {
				out <- sc.Text()[4:]
			}
		}
		close(out)
	}()
	return out, func() { resp.Body.Close() }
}

func expect(t *testing.T, ch <-chan string, want ...string) {
	t.Helper()
	for _, w := range want {
		select {
		case got, ok := <-ch:
			if !ok || got != w {
				t.Fatalf("got id %q (open %v), want %q", got, ok, w)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no id %q within 5 s", w)
		}
	}
}

func waitSubscribers(t *testing.T, b *Broker, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); b.Subscribers() != n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d subscribers, want %d", b.Subscribers(), n)
		}
	}
}

func TestGapIsFilledFromTheStore(t *testing.T) {
	f := newFixture(t, Options{})
	ch, stop := ids(t, f.http.URL)
	defer stop()
	waitSubscribers(t, f.broker, 1)
	f.commit(t, true, domain.Event{Name: "a", Status: "completed"})
	// Committed but never published here (another instance, a lost notice).
	f.commit(t, false, domain.Event{Name: "b", Status: "completed"}, domain.Event{Name: "c", Status: "completed"})
	f.commit(t, true, domain.Event{Name: "d", Status: "completed"})
	expect(t, ch, "1", "2", "3", "4")
	// A notice from elsewhere alone also brings events.
	f.commit(t, false, domain.Event{Name: "e", Status: "completed"})
	f.broker.Notice(domain.Notice{SessionID: f.sess.ID, Seq: 5, Kind: domain.NoticeEvents})
	expect(t, ch, "5")
	f.commit(t, false, domain.Event{Name: "f", Status: "completed"})
	f.broker.Notice(domain.Notice{Kind: domain.NoticeResync})
	expect(t, ch, "6")
}

func TestSlowReaderIsDroppedOthersUnaffected(t *testing.T) {
	f := newFixture(t, Options{Buffer: 8, WriteTimeout: time.Second})
	// A client that never reads: its socket buffers fill, then its queue.
	conn, err := net.Dial("tcp", f.http.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /?after=0 HTTP/1.1\r\nHost: x\r\n\r\n")
	fast, stop := ids(t, f.http.URL+"?after=0")
	defer stop()
	waitSubscribers(t, f.broker, 2)
	big := `{"pad":"` + strings.Repeat("x", 60000) + `"}`
	start := time.Now()
	const n = 400 // ~24 MB: more than loopback buffers hold
	for i := 1; i <= n; i++ {
		f.commit(t, true, domain.Event{Name: "big", Status: "completed", Metadata: []byte(big)})
		// The reader that reads keeps up; the one that never reads falls behind.
		expect(t, fast, fmt.Sprint(i))
	}
	publishing := time.Since(start)
	select {
	case <-f.drops:
	case <-time.After(10 * time.Second):
		t.Fatal("the reader that never reads was not dropped")
	}
	waitSubscribers(t, f.broker, 1)
	if publishing > 20*time.Second {
		t.Fatalf("publishing took %v: a slow reader held the committer", publishing)
	}
	// The dropped connection is closed by the server.
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, conn); err != nil {
		t.Fatalf("the dropped stream was not closed: %v", err)
	}
}

func TestWaitPaired(t *testing.T) {
	f := newFixture(t, Options{})
	ch, stop := f.broker.WaitPaired(f.sess.ID)
	defer stop()
	other, stopOther := f.broker.WaitPaired(f.sess.ID + 1)
	defer stopOther()
	f.broker.Notice(domain.Notice{SessionID: f.sess.ID, Kind: domain.NoticePaired})
	select {
	case <-ch:
	case <-time.After(time.Second):
		t.Fatal("the waiter was not woken")
	}
	select {
	case <-other:
		t.Fatal("another session's waiter was woken")
	default:
	}
}
