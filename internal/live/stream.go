package live

import (
	"context"
	"net"
	"syscall"
	"time"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/store"
)

// preamble tells EventSource to retry after 2 s, and gets past proxies'
// buffers with a first comment.
const preamble = "retry: 2000\n: connected\n\n"

// StreamRequest is who opens a stream and where it starts.
type StreamRequest struct {
	SessionID int64
	// DeviceID and TokenHash are the device whose token opened the stream
	// (empty for the session key): its unpairing ends the stream.
	DeviceID  string
	TokenHash []byte
	// Addr is the client's address as the per-address cap counts it.
	Addr string
	// Revocations is Broker.Revocations read before the credential was
	// checked: a device stream that missed a revocation is checked again.
	Revocations uint64
	// After is the seq after which events are sent (< 0: only events
	// committed from now on).
	After int64
}

// Sink is where a stream's frames go once its response head is out: a
// connection the transport took over (ConnSink), or a response it holds
// open. Close must wait for a Write in progress and refuse later ones.
type Sink interface {
	Write(frames [][]byte, deadline time.Time) error
	Close()
}

// Subscription is a stream that holds its places under the caps and knows
// where it starts, but has no sink yet: the transport answers the request
// between Subscribe and Start (or Cancel).
type Subscription struct {
	b   *Broker
	s   *Subscriber
	req StreamRequest
}

// Subscribe reserves a stream of req's session. Its errors are coded:
// too_many_streams past a cap, database_unavailable when a stream from now
// cannot read where now is.
func (b *Broker) Subscribe(ctx context.Context, req StreamRequest) (*Subscription, error) {
	s := &Subscriber{b: b, session: req.SessionID, device: req.DeviceID, tokenHash: req.TokenHash,
		addr: req.Addr, done: make(chan struct{}), lastWrite: time.Now()}
	if lerr := b.reserve(s); lerr != nil {
		return nil, &domain.Error{Code: domain.ETooManyStreams, Message: lerr.message, RetryAfter: limitRetry * time.Second}
	}
	after := req.After
	if after < 0 {
		// From now: events committed after this read reach the stream by
		// publish or by the fill below, whichever comes first.
		newest, err := b.src.ListEvents(ctx, req.SessionID, store.EventQuery{Limit: 1})
		if err != nil {
			b.release(s)
			if domain.ErrorCode(err) == domain.EDatabaseUnavailable {
				err = domain.Wrap(err, domain.EDatabaseUnavailable, "the database is unavailable; the stream resumes by itself")
			}
			return nil, err // coded by the store, or the server's own failure
		}
		after = 0
		if len(newest) > 0 {
			after = newest[0].Seq
		}
	}
	s.last = after
	return &Subscription{b: b, s: s, req: req}, nil
}

// WriteDeadline bounds a write to the stream begun now, the response head's
// included.
func (sub *Subscription) WriteDeadline() time.Time {
	return time.Now().Add(sub.b.opts.WriteTimeout)
}

// Cancel gives back the places of a subscription that will not start.
func (sub *Subscription) Cancel() { sub.b.release(sub.s) }

// Start streams to out, whose response head has been written. conn is the
// connection out writes to when the transport took it over (nil when it
// holds the response open): the broker watches it for the peer hanging up,
// so that an idle stream costs no goroutine. Start returns at once; the
// channel is closed when the stream ends (the broker closes out).
func (sub *Subscription) Start(out Sink, conn net.Conn) <-chan struct{} {
	b, s := sub.b, sub.s
	s.out = sinkOf{out}
	if cs, ok := out.(*connSink); ok && cs.rc != nil {
		s.direct = cs
	}
	if err := s.out.write([][]byte{[]byte(preamble)}, sub.WriteDeadline()); err != nil {
		s.Close() // gives the places back and closes out
		return s.done
	}
	if conn != nil && b.watcher != nil {
		// A heartbeat unacknowledged past the next one means a dead
		// peer. Under the lock: the peer may hang up at once.
		s.mu.Lock()
		s.watch = b.watcher.add(conn, b.opts.Heartbeat+b.opts.WriteTimeout, s.Close)
		s.mu.Unlock()
	}
	if !b.add(s) {
		// The broker is closing, or the peer hung up already.
		s.Close()
		return s.done
	}
	if s.device != "" && b.revocations.Load() != sub.req.Revocations {
		// A revocation's check may have run before this stream was there.
		b.recheckLater(s.session)
	}
	// Read whatever was committed before the stream was registered.
	s.mu.Lock()
	s.markGap()
	s.kickLocked()
	s.mu.Unlock()
	return s.done
}

// Close ends the stream (its client went away).
func (sub *Subscription) Close() { sub.s.Close() }

// sinkOf lets a Sink serve where the subscriber writes.
type sinkOf struct{ Sink }

func (s sinkOf) write(frames [][]byte, deadline time.Time) error { return s.Write(frames, deadline) }
func (s sinkOf) close()                                          { s.Close() }

// ConnSink writes to a connection taken over from the HTTP server; Close
// closes it.
func ConnSink(conn net.Conn) Sink { return &connSink{conn: conn, rc: plainSocket(conn)} }

type connSink struct {
	conn net.Conn
	rc   syscall.RawConn // nil: no direct writes (TLS)
}

// tryWrite writes as much of p as the socket takes at once, without waiting.
func (c *connSink) tryWrite(p []byte, deadline time.Time) (int, error) {
	// A descriptor refuses writes once its deadline passed: the last one
	// was set by a write that may be long over.
	if err := c.conn.SetWriteDeadline(deadline); err != nil {
		return 0, err
	}
	return writeNow(c.rc, p)
}

func (c *connSink) Write(frames [][]byte, deadline time.Time) error {
	if err := c.conn.SetWriteDeadline(deadline); err != nil {
		return err
	}
	bufs := net.Buffers(frames)
	_, err := bufs.WriteTo(c.conn)
	return err
}

func (c *connSink) Close() { c.conn.Close() }
