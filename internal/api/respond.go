package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/ingest"
	"github.com/observable-code/observable/internal/store"
)

// apiError is the contract's error body.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Index and Field locate a bad event (additions to the contract).
	Index *int   `json:"index,omitempty"`
	Field string `json:"field,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "the server could not encode its answer")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	writeErrorBody(w, status, apiError{Code: code, Message: message})
}

func writeErrorBody(w http.ResponseWriter, status int, e apiError) {
	body, _ := json.Marshal(struct {
		Error apiError `json:"error"`
	}{e})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

// retryAfter sets Retry-After in whole seconds, at least one.
func retryAfter(w http.ResponseWriter, d time.Duration) {
	secs := int64((d + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.FormatInt(max(secs, 1), 10))
}

// storeError answers for an error from the store or the committer and
// reports whether there was one. Errors the user can act on keep their
// meaning; the rest are the server's fault and are logged without detail
// to the client.
func (s *Server) storeError(w http.ResponseWriter, op string, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, domain.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", op+": not found")
	case errors.Is(err, domain.ErrGone):
		writeError(w, http.StatusGone, "gone", op+": used or expired")
	case errors.Is(err, store.ErrTooManyJobs):
		// The message names the limit, its flag and what to do.
		writeError(w, http.StatusUnprocessableEntity, "too_many_jobs", err.Error())
	case errors.Is(err, ingest.ErrClosed):
		retryAfter(w, 5*time.Second)
		writeError(w, http.StatusServiceUnavailable, "shutting_down", "this server is shutting down; retry in a few seconds")
	case errors.Is(err, store.ErrDiskFull):
		s.deps.Metrics.DatabaseErrors.WithLabelValues(op).Inc()
		if n, ok := s.outageLog.due(s.now()); ok {
			s.log.Error("the database's disk is full: writes fail until space is freed", "op", op, "err", err, "refused_since_last_warning", n)
		}
		retryAfter(w, 30*time.Second)
		writeError(w, http.StatusInsufficientStorage, "disk_full",
			"the server's database disk is full; nothing was stored. Retry later; the server's operator must free space on the database's disk")
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		s.deps.Metrics.DatabaseErrors.WithLabelValues(op).Inc()
		if n, ok := s.outageLog.due(s.now()); ok {
			// Once every few seconds, not once a request: an outage would flood the log.
			s.log.Warn("database unavailable", "op", op, "err", err, "refused_since_last_warning", n)
		}
		retryAfter(w, 5*time.Second)
		writeError(w, http.StatusServiceUnavailable, "database_unavailable", "the database is unavailable; nothing was stored, retry in a few seconds")
	case errors.Is(err, context.Canceled):
		// The client left; nobody reads the answer.
		w.WriteHeader(499)
	default:
		s.deps.Metrics.DatabaseErrors.WithLabelValues(op).Inc()
		s.log.Error("database error", "op", op, "err", err)
		writeError(w, http.StatusInternalServerError, "internal", op+" failed on the server; it has been logged")
	}
	return true
}

// readBody reads at most the configured body size; past it, 413.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	tooBigAnswer := func() {
		writeError(w, http.StatusRequestEntityTooLarge, "body_too_large",
			"the body is over "+strconv.FormatInt(s.cfg.MaxBodyBytes, 10)+" bytes; send fewer events per request")
	}
	if r.ContentLength > s.cfg.MaxBodyBytes {
		// Declared too big: answer before reading a byte, and close rather
		// than wait for (or drain) a body that is refused anyway.
		s.bodies.finished(w, false)
		tooBigAnswer()
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	s.bodies.finished(w, err == nil)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		tooBigAnswer()
		return nil, false
	case err != nil:
		// Never the error's text: it names the sockets' addresses.
		writeError(w, http.StatusBadRequest, "bad_body", "the request body could not be read: the connection was cut or the body came too slowly; send the request again")
		return nil, false
	}
	return body, true
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
// leaves v as it is.
func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	body, ok := s.readBody(w, r)
	if !ok {
		return false
	}
	if len(body) == 0 {
		return true
	}
	if !utf8.Valid(body) {
		// The decoder would quietly turn bad bytes into U+FFFD: refuse them
		// instead, so what is stored is what the client meant.
		writeError(w, http.StatusBadRequest, "invalid_json", "the body must be UTF-8 text; send it encoded as UTF-8")
		return false
	}
	if err := json.Unmarshal(body, v); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_json", "the body must be a JSON object: "+err.Error())
		return false
	}
	return true
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
