package api

import (
	"bytes"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/live"
	"github.com/observable-code/observable/internal/secret"
)

// streamEvents serves Server-Sent Events. It resumes after Last-Event-ID,
// or after ?after= (EventSource cannot set headers on its first request).
func (s *Server) streamEvents(w http.ResponseWriter, r *http.Request) error {
	who := callerOf(r)
	after := int64(-1)
	for _, v := range []string{r.Header.Get("Last-Event-ID"), r.URL.Query().Get("after")} {
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return domain.Errorf(domain.EInvalidLastEventID, "Last-Event-ID (or after) must be the seq of the last event received")
		}
		after = n
		break
	}
	req := live.StreamRequest{SessionID: who.sessionID, Addr: addrKey(s.clientAddr(r)), After: after, Revocations: who.revocations}
	if who.device != nil {
		// Kept to recheck, on a revocation notice, that the device still stands.
		req.DeviceID, req.TokenHash = who.device.ID, secret.Hash(who.deviceToken)
	}
	sub, err := s.deps.Broker.Subscribe(r.Context(), req)
	if err != nil {
		return dbOp("open stream", err)
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	if r.ProtoMajor == 1 {
		// An idle HTTP/1.1 stream is held by the broker, not by a goroutine
		// here: the connection is taken over, after a head with the same
		// headers (the security headers among them) as every answer.
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			h.Set("Connection", "close")
			var head bytes.Buffer
			head.WriteString("HTTP/1.1 200 OK\r\n")
			h.Write(&head)
			head.WriteString("\r\n")
			if err := conn.SetWriteDeadline(sub.WriteDeadline()); err != nil {
				sub.Cancel()
				conn.Close()
				return nil
			}
			if _, err := conn.Write(head.Bytes()); err != nil {
				sub.Cancel()
				conn.Close()
				return nil
			}
			sub.Start(live.ConnSink(conn), conn)
			return nil
		}
	}
	w.WriteHeader(http.StatusOK)
	select {
	case <-sub.Start(&heldSink{w: w, rc: http.NewResponseController(w)}, nil):
	case <-r.Context().Done():
		sub.Close()
	}
	return nil
}

// heldSink writes a stream through a ResponseWriter whose handler waits
// (HTTP/2, or a writer that cannot be taken over). Close waits for a write
// in progress, so nothing writes after the handler has returned.
type heldSink struct {
	mu     sync.Mutex
	w      http.ResponseWriter
	rc     *http.ResponseController
	closed bool
}

func (h *heldSink) Write(frames [][]byte, deadline time.Time) error {
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

func (h *heldSink) Close() {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
}
