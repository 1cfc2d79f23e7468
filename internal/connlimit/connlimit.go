// Package connlimit caps the connections a server holds, per client
// address and in total, at the accept loop: below HTTP, so a client that
// opens sockets and sends nothing (or closes before the answer) costs at
// most its share of descriptors, and the process never reaches its
// open-files limit (accept4: EMFILE), whatever the handlers are doing.
package connlimit

import (
	"encoding/json"

	"fmt"
	"github.com/observable-code/observable/internal/domain"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Reserve is what the default total cap leaves of the open-files limit for
// everything that is not a client connection: the database, logs, the
// listener, outgoing push connections.
const Reserve = 128

// DefaultMaxConns is the total cap for a soft open-files limit of fds (0:
// unknown). It stays above live's default stream cap (the limit less a
// tenth, at least 256), so a stream past its cap is refused with a 503
// while its connection can still be accepted.
func DefaultMaxConns(fds uint64) int {
	if fds == 0 {
		return 10000 + Reserve
	}
	const most = 1 << 30
	fds = min(fds, most)
	return int(max(fds, 256+Reserve) - Reserve)
}

// AddrKey is the key per-address limits count under: an IPv4 address, or
// the /64 of an IPv6 one, since one host usually holds a whole /64 and
// could otherwise take a new address for every connection or request.
// Anything that does not parse is its own key.
func AddrKey(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	return Key(a)
}

// Key is AddrKey for a parsed address.
func Key(a netip.Addr) string {
	a = a.Unmap()
	if !a.Is6() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// Options are the caps; a zero field turns its cap off.
type Options struct {
	// MaxConns is the most connections open at once. Past it Accept waits
	// (the kernel's backlog holds the next ones) until one closes.
	MaxConns int
	// PerAddress is the most connections one address key may hold; one
	// more is closed at once.
	PerAddress int
	// Exempt lists networks (reverse proxies) that PerAddress does not
	// apply to: all their users share their address.
	Exempt []netip.Prefix
	// Refusal, when set, is written (without blocking) to a connection
	// refused for its address before it is closed: a plain-HTTP answer
	// makes sense only without TLS.
	Refusal []byte
	// OnRefuse is called once per connection refused for its address
	// (for a metric).
	OnRefuse func()
}

// Refusal503 is the minimal answer to a connection over its address's
// cap, in the contract's error shape, with the code and wait every other
// answer takes from the domain.
var Refusal503 = refusal(domain.ETooManyConnections,
	"This address has too many connections open to the server (--max-conns-per-address); close some, or retry after Retry-After.")

func refusal(code, message string) []byte {
	body, _ := json.Marshal(map[string]map[string]string{"error": {"code": code, "message": message}})
	// The headers every answer of the API carries, this one included.
	return []byte(fmt.Sprintf("HTTP/1.1 503 Service Unavailable\r\nRetry-After: %d\r\nConnection: close\r\n"+
		"Cache-Control: no-store\r\nReferrer-Policy: no-referrer\r\nX-Content-Type-Options: nosniff\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s\n",
		int(domain.DefaultWait(code).Seconds()), len(body)+1, body))
}

// Listener is a net.Listener that enforces Options.
type Listener struct {
	net.Listener
	opts Options

	slots  chan struct{} // one per open connection when MaxConns > 0
	closed chan struct{}
	once   sync.Once

	mu     sync.Mutex
	byAddr map[string]int
	open   atomic.Int64
}

// New wraps ln.
func New(ln net.Listener, opts Options) *Listener {
	l := &Listener{Listener: ln, opts: opts, closed: make(chan struct{}), byAddr: map[string]int{}}
	if opts.MaxConns > 0 {
		// struct{} elements: the channel costs nothing however large the cap.
		l.slots = make(chan struct{}, opts.MaxConns)
	}
	return l
}

// Open is the number of accepted connections not yet closed.
func (l *Listener) Open() int { return int(l.open.Load()) }

// Accept waits for a free slot under MaxConns, then for a connection from
// an address under its cap; connections over their address's cap are
// closed here and never reach the caller.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		if l.slots != nil {
			select {
			case l.slots <- struct{}{}:
			case <-l.closed:
				return nil, net.ErrClosed
			}
		}
		c, err := l.Listener.Accept()
		if err != nil {
			l.freeSlot()
			return nil, err
		}
		key, counted := l.key(c.RemoteAddr())
		if counted {
			l.mu.Lock()
			if l.byAddr[key] >= l.opts.PerAddress {
				l.mu.Unlock()
				l.freeSlot()
				l.refuse(c)
				continue
			}
			l.byAddr[key]++
			l.mu.Unlock()
		}
		l.open.Add(1)
		return newConn(c, l, key, counted), nil
	}
}

// Close closes the listener and wakes an Accept waiting for a slot.
func (l *Listener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// key is the address key of a peer and whether PerAddress counts it.
func (l *Listener) key(addr net.Addr) (string, bool) {
	if l.opts.PerAddress <= 0 {
		return "", false
	}
	ta, ok := addr.(*net.TCPAddr)
	if !ok {
		return "", false // a unix socket, say: no address to share
	}
	a := ta.AddrPort().Addr().Unmap()
	for _, p := range l.opts.Exempt {
		if p.Contains(a) {
			return "", false
		}
	}
	return Key(a), true
}

func (l *Listener) freeSlot() {
	if l.slots != nil {
		<-l.slots
	}
}

// release gives back what an accepted connection held; conn.Close calls it
// once.
func (l *Listener) release(key string, counted bool) {
	if counted {
		l.mu.Lock()
		if n := l.byAddr[key] - 1; n > 0 {
			l.byAddr[key] = n
		} else {
			delete(l.byAddr, key) // the map shrinks back: no entry per address ever seen
		}
		l.mu.Unlock()
	}
	l.open.Add(-1)
	l.freeSlot()
}

// refuse closes a connection over its address's cap, after the refusal
// if one is set and the socket's buffer takes it at once.
func (l *Listener) refuse(c net.Conn) {
	if l.opts.OnRefuse != nil {
		l.opts.OnRefuse()
	}
	if len(l.opts.Refusal) > 0 {
		// A fresh socket's send buffer takes a few hundred bytes without
		// waiting; the deadline only guards the accept loop if it does not.
		c.SetWriteDeadline(time.Now().Add(5 * time.Millisecond))
		c.Write(l.opts.Refusal)
	}
	c.Close()
}

// conn is an accepted connection that gives its slot back when closed,
// whoever closes it (the HTTP server, or the stream broker holding a
// hijacked one) and however many times.
type conn struct {
	net.Conn
	l       *Listener
	key     string
	counted bool
	closed  atomic.Bool
}

func newConn(c net.Conn, l *Listener, key string, counted bool) net.Conn {
	wc := &conn{Conn: c, l: l, key: key, counted: counted}
	if _, ok := c.(syscall.Conn); ok {
		return &sysConn{wc}
	}
	return wc
}

func (c *conn) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return net.ErrClosed
	}
	err := c.Conn.Close()
	c.l.release(c.key, c.counted)
	return err
}

// NetConn is the connection under the wrapper, for code that needs the
// concrete type (a *net.TCPConn's options).
func (c *conn) NetConn() net.Conn { return c.Conn }

// sysConn also passes the socket through (syscall.Conn): the stream
// watcher polls idle streams' descriptors and sets TCP_USER_TIMEOUT on
// them, without a goroutine per stream.
type sysConn struct{ *conn }

func (c *sysConn) SyscallConn() (syscall.RawConn, error) {
	return c.conn.Conn.(syscall.Conn).SyscallConn()
}
