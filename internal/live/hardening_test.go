package live

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/secret"
)

// The longest silence of a stream stays within the configured heartbeat,
// whatever the phase of the last write against the broker's ticks.
func TestHeartbeatGapWithinInterval(t *testing.T) {
	for _, every := range []time.Duration{time.Second, 25 * time.Second, 30 * time.Second} {
		tick := every / 5
		worst := time.Duration(0)
		// The last write lands anywhere between two ticks, in 1 ms steps.
		for offset := time.Duration(0); offset < tick; offset += time.Millisecond {
			last := -offset
			for at := time.Duration(0); ; at += tick {
				if heartbeatDue(at-last, every, tick) {
					worst = max(worst, at-last)
					break
				}
			}
		}
		if worst > every {
			t.Errorf("heartbeat %v: a stream can stay silent %v", every, worst)
		}
	}
}

// Driven for real with a short heartbeat: the comment lines come within it.
func TestHeartbeatArrivesWithinInterval(t *testing.T) {
	f := newFixture(t, Options{Heartbeat: 500 * time.Millisecond})
	resp, err := http.Get(f.http.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 256)
	var pings []time.Time
	for len(pings) < 4 {
		n, err := resp.Body.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(buf[:n]), ": ping") {
			pings = append(pings, time.Now())
		}
	}
	for i := 1; i < len(pings); i++ {
		// The bound holds at the server; the slack is for a loaded machine.
		if gap := pings[i].Sub(pings[i-1]); gap > 500*time.Millisecond+150*time.Millisecond {
			t.Errorf("%v between heartbeats, configured 500ms", gap)
		}
	}
}

// Reports of the gauge are made under the lock: after opens and closes on
// many goroutines the last one reported is the number open.
func TestGaugeEqualsOpenStreamsAfterConcurrentChurn(t *testing.T) {
	var mu sync.Mutex
	reported, crossed := 0, 0
	var calls atomic.Int64
	b := NewBroker(nil, Options{OnSubscribers: func(n int) {
		// A report that takes a moment (a preempted goroutine) widens the
		// window in which reports made outside the lock cross.
		if calls.Add(1)%3 == 0 {
			time.Sleep(time.Microsecond)
		}
		mu.Lock()
		// Each open or close moves the count by one, reported in order.
		if n != reported+1 && n != reported-1 {
			crossed++
		}
		reported = n
		mu.Unlock()
	}})
	defer b.Close()
	var wg sync.WaitGroup
	keep := make([]*Subscriber, 0)
	var keepMu sync.Mutex
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				s := &Subscriber{b: b, session: int64(i % 7), done: make(chan struct{}), out: nopSink{}}
				if !b.add(s) {
					t.Error("add refused")
					return
				}
				if i%50 == 0 {
					keepMu.Lock()
					keep = append(keep, s)
					keepMu.Unlock()
					continue
				}
				s.Close()
			}
		}()
	}
	wg.Wait()
	mu.Lock()
	got := reported
	mu.Unlock()
	if got != len(keep) || b.Subscribers() != len(keep) || crossed > 0 {
		t.Fatalf("gauge says %d, broker %d, open %d; %d of %d reports out of order", got, b.Subscribers(), len(keep), crossed, calls.Load())
	}
}

type nopSink struct{}

func (nopSink) write([][]byte, time.Time) error { return nil }
func (nopSink) close()                          {}

// A client that closes its idle stream frees it at once, not at the next
// heartbeat (25 s by default).
func TestClosedPeerIsRemovedPromptly(t *testing.T) {
	f := newFixture(t, Options{Heartbeat: 25 * time.Second})
	for i := 0; i < 50; i++ {
		conn := openRaw(t, f.http.Listener.Addr().String(), "/")
		waitSubscribers(t, f.broker, 1)
		conn.Close()
		start := time.Now()
		waitSubscribers(t, f.broker, 0)
		if took := time.Since(start); took > time.Second {
			t.Fatalf("a closed stream was removed after %v", took)
		}
	}
}

// openRaw opens a stream and reads its head, never reading after it.
func openRaw(t *testing.T, addr, path string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 0, 512)
	one := make([]byte, 512)
	for !strings.Contains(string(buf), ": connected\n\n") {
		n, err := conn.Read(one)
		if err != nil {
			t.Fatalf("stream head: %v (%q)", err, buf)
		}
		buf = append(buf, one[:n]...)
	}
	return conn
}

func TestCapsRefuseWithRetryAfter(t *testing.T) {
	f := newFixture(t, Options{Limits: Limits{Total: 100, PerSession: 5, PerDevice: 2, PerAddr: 3}})
	get := func(q string) *http.Response {
		t.Helper()
		resp, err := http.Get(f.http.URL + "/?" + q)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	refused := func(q, flag string) {
		t.Helper()
		resp := get(q)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
			!strings.Contains(string(body), `"too_many_streams"`) || !strings.Contains(string(body), flag) {
			t.Fatalf("%s: %d %v %s; want 503 too_many_streams naming %s", q, resp.StatusCode, resp.Header, body, flag)
		}
	}
	get("dev=d1&tok=t1&addr=a1")
	get("dev=d1&tok=t1&addr=a2")
	refused("dev=d1&tok=t1&addr=a3", "--max-streams-per-device")
	get("addr=a1")
	get("addr=a1")
	refused("addr=a1", "--max-streams-per-address")
	get("addr=a3")
	refused("addr=a3", "--max-streams-per-session")
	waitSubscribers(t, f.broker, 5)
	f.broker.mu.RLock()
	held := f.broker.held.total
	f.broker.mu.RUnlock()
	if held != 5 {
		t.Fatalf("%d places held for 5 streams", held)
	}
}

// Unpairing a device ends its streams, and only its.
func TestRevokedDeviceStreamsClose(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	pair := func(name string) (domain.Device, string) {
		code, tok := secret.PairingCode(), secret.DeviceToken()
		now := time.Now()
		if err := f.db.CreatePairing(ctx, domain.Pairing{CodeHash: secret.Hash(code), SessionID: f.sess.ID,
			CreatedAt: domain.NewTime(now), ExpiresAt: domain.NewTime(now.Add(time.Minute))}); err != nil {
			t.Fatal(err)
		}
		d, err := f.db.ClaimPairing(ctx, secret.Hash(code), domain.Device{ID: secret.ID(), Name: name}, secret.Hash(tok), now)
		if err != nil {
			t.Fatal(err)
		}
		return d, tok
	}
	gone, goneTok := pair("gone")
	kept, keptTok := pair("kept")
	addr := f.http.Listener.Addr().String()
	revoked := openRaw(t, addr, "/?dev="+gone.ID+"&tok="+goneTok)
	defer revoked.Close()
	stays := openRaw(t, addr, "/?dev="+kept.ID+"&tok="+keptTok)
	defer stays.Close()
	key := openRaw(t, addr, "/")
	defer key.Close()
	waitSubscribers(t, f.broker, 3)

	if err := f.db.DeleteDevice(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	f.broker.Notice(domain.Notice{SessionID: f.sess.ID, Kind: domain.NoticeRevoked})
	waitSubscribers(t, f.broker, 2)
	revoked.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.Copy(io.Discard, revoked); err != nil {
		t.Fatalf("the unpaired device's stream was not closed: %v", err)
	}
	// A resync (notices possibly lost) finds the same.
	if err := f.db.DeleteDevice(ctx, kept.ID); err != nil {
		t.Fatal(err)
	}
	f.broker.Notice(domain.Notice{Kind: domain.NoticeResync})
	waitSubscribers(t, f.broker, 1)
}

// blockedSink records what a stream writes and never finishes a write,
// like a client that stopped reading.
type blockedSink struct {
	mu      sync.Mutex
	batches []int // bytes of each write begun
	release chan struct{}
}

func (b *blockedSink) write(frames [][]byte, _ time.Time) error {
	n := 0
	for _, f := range frames {
		n += len(f)
	}
	b.mu.Lock()
	b.batches = append(b.batches, n)
	b.mu.Unlock()
	<-b.release
	return net.ErrClosed
}

func (b *blockedSink) close() {}

func (b *blockedSink) written() []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]int(nil), b.batches...)
}

func blockedSubscriber(t *testing.T, f *fixture) (*Subscriber, *blockedSink) {
	out := &blockedSink{release: make(chan struct{})}
	s := &Subscriber{b: f.broker, session: f.sess.ID, out: out, done: make(chan struct{}), lastWrite: time.Now()}
	if !f.broker.add(s) {
		t.Fatal("add refused")
	}
	t.Cleanup(func() { close(out.release); s.Close() })
	return s, out
}

// A stream resumed from the start over large events holds one page of
// bytes, not the session's history, while its client does not read.
func TestResumeQueuesOnePageOfBytes(t *testing.T) {
	f := newFixture(t, Options{PageBytes: 256 << 10})
	big := `{"pad":"` + strings.Repeat("x", 60000) + `"}`
	for i := 0; i < 5; i++ {
		evs := make([]domain.Event, 20)
		for j := range evs {
			evs[j] = domain.Event{Name: "big", Status: "completed", Metadata: []byte(big)}
		}
		f.commit(t, false, evs...)
	}
	s, out := blockedSubscriber(t, f)
	s.mu.Lock()
	s.markGap()
	s.kickLocked()
	s.mu.Unlock()
	for deadline := time.Now().Add(5 * time.Second); len(out.written()) == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the stream wrote nothing")
		}
	}
	s.mu.Lock()
	queued, last := s.queued, s.last
	s.mu.Unlock()
	if first := out.written()[0]; first > 256<<10+64<<10 || queued > 0 || last > 10 {
		t.Fatalf("first write %d bytes, %d more queued, position %d: more than one 256 KiB page", first, queued, last)
	}
}

// The live queue of a stream that does not read is bounded by bytes too.
func TestSlowStreamDroppedPastByteBudget(t *testing.T) {
	f := newFixture(t, Options{Buffer: 1024, QueueBytes: 256 << 10})
	s, out := blockedSubscriber(t, f)
	big := `{"pad":"` + strings.Repeat("x", 60000) + `"}`
	for i := 0; i < 10; i++ {
		stored := f.commit(t, false, domain.Event{Name: "big", Status: "completed", Metadata: []byte(big)})
		if i == 0 {
			s.mu.Lock()
			s.last = stored[0].Seq - 1 // the stream was up to date
			s.mu.Unlock()
		}
		f.broker.Publish(f.sess.ID, stored)
		if i == 0 { // the first write begins, and blocks
			for len(out.written()) == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}
	select {
	case <-f.drops:
	case <-time.After(5 * time.Second):
		t.Fatal("a stream holding 9 × 60 KB unwritten was not dropped (budget 256 KiB)")
	}
}

func TestDefaultStreamCapLeavesDescriptorsSpare(t *testing.T) {
	for _, c := range []struct {
		fds  uint64
		want int
	}{{1024, 768}, {20000, 18000}, {65536, 58983}, {100, 16}, {1 << 40, 1<<30 - 1<<30/10}} {
		if got := streamsForFDs(c.fds); got != c.want {
			t.Errorf("streamsForFDs(%d) = %d, want %d", c.fds, got, c.want)
		}
	}
	if n := DefaultMaxStreams(); n < 16 {
		t.Errorf("DefaultMaxStreams() = %d", n)
	}
}
