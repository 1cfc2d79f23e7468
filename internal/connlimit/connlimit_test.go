package connlimit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// fakeListener hands out pipe connections with chosen remote addresses.
type fakeListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newFake() *fakeListener {
	return &fakeListener{conns: make(chan net.Conn, 100), closed: make(chan struct{})}
}

type addrConn struct {
	net.Conn
	remote net.Addr
}

func (c addrConn) RemoteAddr() net.Addr { return c.remote }

// dial queues a connection from addr and returns the client's end.
func (f *fakeListener) dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	server, client := net.Pipe()
	f.conns <- addrConn{server, net.TCPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(addr), 40000))}
	t.Cleanup(func() { client.Close() })
	return client
}

func (f *fakeListener) Accept() (net.Conn, error) {
	select {
	case c := <-f.conns:
		return c, nil
	case <-f.closed:
		return nil, net.ErrClosed
	}
}
func (f *fakeListener) Close() error   { f.once.Do(func() { close(f.closed) }); return nil }
func (f *fakeListener) Addr() net.Addr { return &net.TCPAddr{} }

// acceptAll accepts in the background and sends what it gets on a channel.
func acceptAll(l net.Listener) <-chan net.Conn {
	out := make(chan net.Conn, 100)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(out)
				return
			}
			out <- c
		}
	}()
	return out
}

func got(t *testing.T, ch <-chan net.Conn) net.Conn {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(2 * time.Second):
		t.Fatal("no connection accepted")
		return nil
	}
}

func none(t *testing.T, ch <-chan net.Conn) {
	t.Helper()
	select {
	case c := <-ch:
		t.Fatalf("accepted %v, want it held back", c.RemoteAddr())
	case <-time.After(50 * time.Millisecond):
	}
}

// refused waits for the client end to be closed by the server, and returns
// what it was sent first.
func refused(t *testing.T, client net.Conn) string {
	t.Helper()
	client.SetReadDeadline(time.Now().Add(2 * time.Second))
	b, err := io.ReadAll(client)
	if err != nil {
		t.Fatalf("refused connection not closed: %v", err)
	}
	return string(b)
}

func TestAddrKey(t *testing.T) {
	for addr, want := range map[string]string{
		"192.0.2.7":                 "192.0.2.7",
		"::ffff:192.0.2.7":          "192.0.2.7",
		"2001:db8:1:2:aaaa::1":      "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff:ffff::9": "2001:db8:1:2::/64",
		"2001:db8:1:3::1":           "2001:db8:1:3::/64",
		"not an address":            "not an address",
	} {
		if got := AddrKey(addr); got != want {
			t.Errorf("AddrKey(%q) = %q, want %q", addr, got, want)
		}
	}
}

func TestPerAddressCap(t *testing.T) {
	f := newFake()
	var refusals atomic.Int64
	l := New(f, Options{PerAddress: 2, Refusal: []byte("no\n"), OnRefuse: func() { refusals.Add(1) }})
	defer l.Close()
	ch := acceptAll(l)
	f.dial(t, "192.0.2.1")
	f.dial(t, "192.0.2.1")
	a := got(t, ch)
	got(t, ch)
	third := f.dial(t, "192.0.2.1")
	if s := refused(t, third); s != "no\n" {
		t.Errorf("refused connection read %q, want the refusal", s)
	}
	f.dial(t, "192.0.2.2") // another address is not held back
	got(t, ch)
	if refusals.Load() != 1 || l.Open() != 3 {
		t.Errorf("refusals %d, open %d; want 1, 3", refusals.Load(), l.Open())
	}
	a.Close() // a slot of 192.0.2.1 comes back
	f.dial(t, "192.0.2.1")
	got(t, ch)
}

func TestIPv6SlashSixtyFourIsOneAddress(t *testing.T) {
	f := newFake()
	l := New(f, Options{PerAddress: 2})
	defer l.Close()
	ch := acceptAll(l)
	f.dial(t, "2001:db8:0:1::1")
	f.dial(t, "2001:db8:0:1:ffff::2")
	got(t, ch)
	got(t, ch)
	refused(t, f.dial(t, "2001:db8:0:1:1234::3"))
	f.dial(t, "2001:db8:0:2::1") // the next /64 is someone else
	got(t, ch)
}

func TestTrustedProxyExempt(t *testing.T) {
	f := newFake()
	l := New(f, Options{PerAddress: 1, Exempt: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	defer l.Close()
	ch := acceptAll(l)
	for range 5 {
		f.dial(t, "10.1.2.3")
		got(t, ch)
	}
	f.dial(t, "192.0.2.1")
	got(t, ch)
	refused(t, f.dial(t, "192.0.2.1"))
}

func TestTotalCapHoldsAcceptUntilOneCloses(t *testing.T) {
	f := newFake()
	l := New(f, Options{MaxConns: 2})
	ch := acceptAll(l)
	f.dial(t, "192.0.2.1")
	f.dial(t, "192.0.2.2")
	a := got(t, ch)
	got(t, ch)
	f.dial(t, "192.0.2.3")
	none(t, ch) // waits in the backlog, not refused
	a.Close()
	if c := got(t, ch); c.RemoteAddr().String() != "192.0.2.3:40000" {
		t.Errorf("accepted %v, want 192.0.2.3", c.RemoteAddr())
	}
	// Closing the listener wakes an Accept waiting for a slot.
	l.Close()
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("accepted a connection past the cap")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Accept still waiting after Close")
	}
}

func TestCloseOnceUnderRace(t *testing.T) {
	f := newFake()
	l := New(f, Options{MaxConns: 1, PerAddress: 1})
	defer l.Close()
	ch := acceptAll(l)
	for range 20 {
		f.dial(t, "192.0.2.1")
		c := got(t, ch)
		var wg sync.WaitGroup
		for range 8 { // the HTTP server and the broker may both close a hijacked conn
			wg.Add(1)
			go func() { defer wg.Done(); c.Close() }()
		}
		wg.Wait()
		if l.Open() != 0 {
			t.Fatalf("open = %d after closing the only connection", l.Open())
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.byAddr) != 0 {
		t.Errorf("per-address counts left behind: %v", l.byAddr)
	}
}

func TestTCPConnKeepsItsSocket(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := New(inner, Options{MaxConns: 4, PerAddress: 4})
	defer l.Close()
	ch := acceptAll(l)
	client, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	c := got(t, ch)
	defer c.Close()
	sc, ok := c.(syscall.Conn)
	if !ok {
		t.Fatal("the wrapped TCP connection is not a syscall.Conn: the stream watcher could not poll it")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var fd uintptr
	rc.Control(func(f uintptr) { fd = f })
	if fd == 0 {
		t.Error("no descriptor under the wrapped connection")
	}
	if _, ok := c.(interface{ NetConn() net.Conn }).NetConn().(*net.TCPConn); !ok {
		t.Error("NetConn() is not the *net.TCPConn")
	}
}

func TestRefusalIsAnHTTPAnswer(t *testing.T) {
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(Refusal503)), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	var e struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(body, &e); err != nil || resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !resp.Close || e.Error.Code != "too_many_connections" {
		t.Errorf("refusal: %d, Retry-After %q, close %v, body %q (%v)", resp.StatusCode, resp.Header.Get("Retry-After"), resp.Close, body, err)
	}
	// The security headers of every other answer (api's middleware).
	for k, v := range map[string]string{"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"} {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("refusal: %s %q, want %q", k, got, v)
		}
	}
}
