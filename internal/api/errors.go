package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/observable-code/observable/internal/domain"
)

// answer is how a code goes over HTTP. The Retry-After the client gets when
// the error does not say how long to wait is domain.DefaultWait's, which the
// pairing page uses too.
type answer struct {
	status int
}

// statuses is the one table from error code to HTTP status. Every code of
// domain.Codes has an entry (a test checks it).
var statuses = map[string]answer{
	domain.EInternal: {status: http.StatusInternalServerError},

	domain.EBadBody:            {status: http.StatusBadRequest},
	domain.EInvalidJSON:        {status: http.StatusBadRequest},
	domain.EInvalidEvent:       {status: http.StatusBadRequest},
	domain.EInvalidHost:        {status: http.StatusBadRequest},
	domain.EInvalidName:        {status: http.StatusBadRequest},
	domain.EInvalidNotify:      {status: http.StatusBadRequest},
	domain.EInvalidMuted:       {status: http.StatusBadRequest},
	domain.EInvalidEndpoint:    {status: http.StatusBadRequest},
	domain.EInvalidKeys:        {status: http.StatusBadRequest},
	domain.EInvalidStatus:      {status: http.StatusBadRequest},
	domain.EInvalidLimit:       {status: http.StatusBadRequest},
	domain.EInvalidBefore:      {status: http.StatusBadRequest},
	domain.EInvalidSeq:         {status: http.StatusBadRequest},
	domain.EInvalidWait:        {status: http.StatusBadRequest},
	domain.EInvalidTimeout:     {status: http.StatusBadRequest},
	domain.EInvalidFormat:      {status: http.StatusBadRequest},
	domain.EInvalidSize:        {status: http.StatusBadRequest},
	domain.EInvalidLastEventID: {status: http.StatusBadRequest},
	domain.EInvalidExpect:      {status: http.StatusBadRequest},
	domain.EInvalidSnooze:      {status: http.StatusBadRequest},
	domain.EInvalidSort:        {status: http.StatusBadRequest},

	domain.EUnauthorized:        {status: http.StatusUnauthorized},
	domain.EBadOrigin:           {status: http.StatusForbidden},
	domain.ESessionKeyRequired:  {status: http.StatusForbidden},
	domain.EDeviceTokenRequired: {status: http.StatusForbidden},
	domain.ENotFound:            {status: http.StatusNotFound},
	domain.EUnknownCode:         {status: http.StatusNotFound},
	domain.EMethodNotAllowed:    {status: http.StatusMethodNotAllowed},
	domain.ECodeUsedOrExpired:   {status: http.StatusGone},
	domain.EBodyTooLarge:        {status: http.StatusRequestEntityTooLarge},
	domain.ETooManyEvents:       {status: http.StatusRequestEntityTooLarge},
	domain.EURLTooLong:          {status: http.StatusUnprocessableEntity},
	domain.ETooManyJobs:         {status: http.StatusUnprocessableEntity},
	domain.ETooManyDevices:      {status: http.StatusUnprocessableEntity},
	domain.ETooManyChannels:     {status: http.StatusUnprocessableEntity},
	domain.EInvalidChannel:      {status: http.StatusBadRequest},
	domain.EChannelRefused:      {status: http.StatusUnprocessableEntity},
	domain.EEmailUnavailable:    {status: http.StatusServiceUnavailable},
	domain.EChannelsUnavailable: {status: http.StatusServiceUnavailable},
	domain.ERateLimited:         {status: http.StatusTooManyRequests},

	domain.EPushUnavailable:     {status: http.StatusServiceUnavailable},
	domain.ETooManyStreams:      {status: http.StatusServiceUnavailable},
	domain.ETooManyConnections:  {status: http.StatusServiceUnavailable},
	domain.EDatabaseUnavailable: {status: http.StatusServiceUnavailable},
	domain.EShuttingDown:        {status: http.StatusServiceUnavailable},
	domain.EDiskFull:            {status: http.StatusInsufficientStorage},
}

// StatusOf is the HTTP status of an error code, for the pages other
// packages serve (the pairing page) to answer as the API does.
func StatusOf(code string) int {
	if a, ok := statuses[code]; ok {
		return a.status
	}
	return http.StatusInternalServerError
}

// apiError is the contract's error body.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Index and Field locate a bad event (additions to the contract).
	Index *int   `json:"index,omitempty"`
	Field string `json:"field,omitempty"`
}

// opError names the operation a store error came from, for the log and
// the database error counter; the client never sees it.
type opError struct {
	op  string
	err error
}

func (e *opError) Error() string { return e.op + ": " + e.err.Error() }
func (e *opError) Unwrap() error { return e.err }

// dbOp labels a store error with its operation (nil stays nil).
func dbOp(op string, err error) error {
	if err == nil {
		return nil
	}
	return &opError{op: op, err: err}
}

// writeErr answers err in the contract's shape: the status and
// Retry-After of its code. Errors without a code are the server's fault:
// logged, and answered without detail.
func (s *Server) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	s.writeErrStatus(w, r, err, 0)
}

// writeErrStatus is writeErr with the status forced (status > 0): readiness
// answers every failure with 503, which is what load balancers look for.
func (s *Server) writeErrStatus(w http.ResponseWriter, r *http.Request, err error, status int) {
	op := "request"
	var oe *opError
	if errors.As(err, &oe) {
		op = oe.op
	}
	e, ok := domain.AsError(err)
	switch {
	case !ok && errors.Is(err, context.Canceled):
		// The client left; nobody reads the answer.
		w.WriteHeader(499)
		return
	case !ok && errors.Is(err, context.DeadlineExceeded):
		e = domain.Wrap(err, domain.EDatabaseUnavailable, "the database is unavailable; nothing was stored, retry in a few seconds")
	case !ok:
		s.deps.Metrics.DatabaseErrors.WithLabelValues(op).Inc()
		s.log.Error("request failed", "route", r.Pattern, "op", op, "err", err)
		e = domain.Errorf(domain.EInternal, "%s failed on the server; it has been logged", op)
	}
	switch e.Code {
	case domain.EDiskFull:
		s.deps.Metrics.DatabaseErrors.WithLabelValues(op).Inc()
		if n, due := s.outageLog.due(s.now()); due {
			s.log.Error("the database's disk is full: writes fail until space is freed", "op", op, "err", err, "refused_since_last_warning", n)
		}
	case domain.EDatabaseUnavailable:
		s.deps.Metrics.DatabaseErrors.WithLabelValues(op).Inc()
		// Once every few seconds, not once a request: an outage would flood the log.
		if n, due := s.outageLog.due(s.now()); due {
			s.log.Warn("database unavailable", "op", op, "err", err, "refused_since_last_warning", n)
		}
	}
	a, known := statuses[e.Code]
	if !known {
		// A code missing from the table is a bug a test catches; the
		// client still gets a well-formed answer.
		a = answer{status: http.StatusInternalServerError}
	}
	if status > 0 {
		a.status = status
	}
	if wait := cmpOr(e.RetryAfter, domain.DefaultWait(e.Code)); wait > 0 {
		retryAfter(w, wait)
	}
	writeErrorBody(w, a.status, apiError{Code: e.Code, Message: e.Message, Field: e.Field, Index: e.Index})
}

func cmpOr(a, b time.Duration) time.Duration {
	if a > 0 {
		return a
	}
	return b
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeErrorBody(w, http.StatusInternalServerError, apiError{Code: domain.EInternal, Message: "the server could not encode its answer"})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
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
