package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/observable-code/observable/internal/domain"
)

// readBody reads at most the configured body size of a request carrying
// events; past it, 413.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	return s.readBodyAdvising(w, r, "send fewer events per request")
}

// readBodyAdvising is readBody whose 413 ends with advice, which is the
// route's: only those carrying events can send fewer of them.
func (s *Server) readBodyAdvising(w http.ResponseWriter, r *http.Request, advice string) ([]byte, error) {
	tooBig := func() error {
		return domain.Errorf(domain.EBodyTooLarge, "the body is over %d bytes; %s", s.opts.MaxBodyBytes, advice)
	}
	if r.ContentLength > s.opts.MaxBodyBytes {
		// Declared too big: answer before reading a byte, and close rather
		// than wait for (or drain) a body that is refused anyway.
		s.bodies.finished(w, false)
		return nil, tooBig()
	}
	body, err := readAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes), r.ContentLength)
	s.bodies.finished(w, err == nil)
	var overLimit *http.MaxBytesError
	switch {
	case errors.As(err, &overLimit):
		return nil, tooBig()
	case err != nil:
		// Never the error's text: it names the sockets' addresses.
		return nil, domain.Errorf(domain.EBadBody, "the request body could not be read: the connection was cut or the body came too slowly; send the request again")
	}
	return body, nil
}

// readAll reads r whole into one buffer of the declared length, where
// io.ReadAll would copy a batch's body several times as it grows. net/http
// ends the body at its Content-Length, and fails a shorter one.
func readAll(r io.Reader, declared int64) ([]byte, error) {
	if declared <= 0 {
		return io.ReadAll(r)
	}
	buf := make([]byte, declared)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// bodyReads tracks the requests whose body may still be arriving, so that
// a shutdown can cut those that send it too slowly (a half-sent request
// would otherwise hold the shutdown until the read timeout) without
// touching the rest. A read deadline on a request whose body was read
// would end its context (net/http then reads the connection in the
// background) and fail work in flight: only unread bodies get one.
type bodyReads struct {
	mu       sync.Mutex
	draining bool
	reads    map[http.ResponseWriter]*bodyRead
}

type bodyRead struct {
	rc        *http.ResponseController
	done, cut bool
}

// drainGrace is how long a shutdown lets a body still arriving take.
const drainGrace = time.Second

// track registers a request with a body, under the writer its handler
// gets; the returned func forgets it when the handler returns.
func (b *bodyReads) track(w http.ResponseWriter) func() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.reads == nil {
		b.reads = make(map[http.ResponseWriter]*bodyRead)
	}
	br := &bodyRead{rc: http.NewResponseController(w)}
	b.reads[w] = br
	if b.draining {
		br.cut = true
		_ = br.rc.SetReadDeadline(time.Now().Add(drainGrace))
	}
	return func() {
		b.mu.Lock()
		delete(b.reads, w)
		b.mu.Unlock()
	}
}

// finished records that the handler is done with the body: read whole
// (ok), or refused. A whole body's deadline from a shutdown is lifted:
// net/http's background read of the connection has started, and the
// deadline would end the request. A refused body's connection is closed
// after the answer, and its reads end now: net/http would otherwise try
// to read the rest of the body first, as long as the client stalls.
func (b *bodyReads) finished(w http.ResponseWriter, ok bool) {
	if !ok {
		w.Header().Set("Connection", "close")
		_ = http.NewResponseController(w).SetReadDeadline(time.Now())
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	br := b.reads[w]
	if br == nil || br.done {
		return
	}
	br.done = true
	if ok && br.cut {
		_ = br.rc.SetReadDeadline(time.Time{})
	}
}

// drain gives every body still being read drainGrace to arrive.
func (b *bodyReads) drain() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.draining = true
	deadline := time.Now().Add(drainGrace)
	for _, br := range b.reads {
		if !br.done && !br.cut {
			br.cut = true
			_ = br.rc.SetReadDeadline(deadline)
		}
	}
}

// decodeJSON reads an optional JSON object body into v; an empty body
// leaves v as it is. Its bodies are a few fields (settings, a name), never
// events.
func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := s.readBodyAdvising(w, r, "this route takes a JSON object of a few fields (settings, a name): send only those")
	if err != nil || len(body) == 0 {
		return err
	}
	if err := badText(body); err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return domain.Errorf(domain.EInvalidJSON, "the body must be a JSON object: %v", err)
	}
	return nil
}

// throttle lets a repeated warning through at most once per interval and
// counts what it held back.
type throttle struct {
	mu       sync.Mutex
	interval time.Duration
	last     time.Time
	held     int
}

func (t *throttle) due(now time.Time) (int, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if now.Sub(t.last) < t.interval {
		t.held++
		return 0, false
	}
	n := t.held
	t.last, t.held = now, 0
	return n, true
}
