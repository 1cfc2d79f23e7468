package live

import (
	"net/http"
	"strconv"

	"github.com/observable-code/observable/internal/domain"
)

// Serve is the tests' transport for a stream: the least of what package
// api does (which owns the real one, its headers and its error answers),
// over HTTP/1.1 only.
func (b *Broker) Serve(w http.ResponseWriter, r *http.Request, req StreamRequest) {
	sub, err := b.Subscribe(r.Context(), req)
	if err != nil {
		e, _ := domain.AsError(err)
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(e.RetryAfter.Seconds()))))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"error":{"code":` + strconv.Quote(e.Code) + `,"message":` + strconv.Quote(e.Message) + "}}\n"))
		return
	}
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		sub.Cancel()
		http.Error(w, "cannot take the connection over", http.StatusInternalServerError)
		return
	}
	_ = conn.SetWriteDeadline(sub.WriteDeadline())
	if _, err := conn.Write([]byte("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")); err != nil {
		sub.Cancel()
		conn.Close()
		return
	}
	sub.Start(ConnSink(conn), conn)
}
