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
	case errors.Is(err, ingest.ErrClosed):
		retryAfter(w, 5*time.Second)
		writeError(w, http.StatusServiceUnavailable, "shutting_down", "this server is shutting down; retry in a few seconds")
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
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, "body_too_large",
			"the body is over "+strconv.FormatInt(s.cfg.MaxBodyBytes, 10)+" bytes; send fewer events per request")
		return nil, false
	case err != nil:
		writeError(w, http.StatusBadRequest, "bad_body", "the request body could not be read: "+err.Error())
		return nil, false
	}
	return body, true
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
