package live

import (
	"net"
	"net/http"
	"sync"
	"time"

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

// Serve streams the session's events after req.After. On HTTP/1.x it takes
// the connection over and returns at once; otherwise it returns when the
// stream ends.
func (b *Broker) Serve(w http.ResponseWriter, r *http.Request, req StreamRequest) {
	s := &Subscriber{b: b, session: req.SessionID, device: req.DeviceID, tokenHash: req.TokenHash,
		addr: req.Addr, done: make(chan struct{}), lastWrite: time.Now()}
	if lerr := b.reserve(s); lerr != nil {
		writeRefusal(w, limitRetry, "too_many_streams", lerr.message)
		return
	}
	after := req.After
	if after < 0 {
		// From now: events committed after this read reach the stream by
		// publish or by the fill below, whichever comes first.
		newest, err := b.src.ListEvents(r.Context(), req.SessionID, store.EventQuery{Limit: 1})
		if err != nil {
			b.release(s)
			b.log.Warn("stream: read newest event", "session", req.SessionID, "err", err)
			writeRefusal(w, 5, "database_unavailable", "the database is unavailable; the stream resumes by itself")
			return
		}
		after = 0
		if len(newest) > 0 {
			after = newest[0].Seq
		}
	}
	s.last = after
	held := r.ProtoMajor != 1
	if !held {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			held = true
		} else {
			s.out = &connSink{conn: conn}
			head := "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n" +
				"X-Accel-Buffering: no\r\nX-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n" +
				"Connection: close\r\n\r\n" + preamble
			if err := s.out.write([][]byte{[]byte(head)}, time.Now().Add(b.opts.WriteTimeout)); err != nil {
				b.release(s)
				conn.Close()
				return
			}
			if b.watcher != nil {
				// A heartbeat unacknowledged past the next one means a dead
				// peer. Under the lock: the peer may hang up at once.
				s.mu.Lock()
				s.watch = b.watcher.add(conn, b.opts.Heartbeat+b.opts.WriteTimeout, s.Close)
				s.mu.Unlock()
			}
		}
	}
	if held {
		h := w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Accel-Buffering", "no")
		w.WriteHeader(http.StatusOK)
		hs := &heldSink{w: w, rc: http.NewResponseController(w)}
		if err := hs.write([][]byte{[]byte(preamble)}, time.Now().Add(b.opts.WriteTimeout)); err != nil {
			b.release(s)
			return
		}
		s.out = hs
	}
	if !b.add(s) {
		b.release(s)
		s.mu.Lock()
		wt := s.watch
		s.mu.Unlock()
		wt.remove()
		s.out.close()
		return
	}
	if s.device != "" && b.revocations.Load() != req.Revocations {
		// A revocation's check may have run before this stream was there.
		b.recheckLater(s.session)
	}
	// Read whatever was committed before the stream was registered.
	s.mu.Lock()
	s.markGap()
	s.kickLocked()
	s.mu.Unlock()
	if held {
		select {
		case <-s.Done():
		case <-r.Context().Done():
			s.Close()
		}
	}
}

// connSink writes to a hijacked connection; the broker owns it.
type connSink struct{ conn net.Conn }

func (c *connSink) write(frames [][]byte, deadline time.Time) error {
	if err := c.conn.SetWriteDeadline(deadline); err != nil {
		return err
	}
	bufs := net.Buffers(frames)
	_, err := bufs.WriteTo(c.conn)
	return err
}

func (c *connSink) close() { c.conn.Close() }

// heldSink writes through a ResponseWriter whose handler waits in Serve.
// close waits for a write in progress, so nothing writes after the handler
// has returned.
type heldSink struct {
	mu     sync.Mutex
	w      http.ResponseWriter
	rc     *http.ResponseController
	closed bool
}

func (h *heldSink) write(frames [][]byte, deadline time.Time) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return net.ErrClosed
	}
	_ = h.rc.SetWriteDeadline(deadline) // not every ResponseWriter supports it
	for _, f := range frames {
		if _, err := h.w.Write(f); err != nil {
			return err
		}
	}
	return h.rc.Flush()
}

func (h *heldSink) close() {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
}
