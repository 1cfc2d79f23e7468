package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/store"
)

// Read limits of GET /api/v1/events.
const (
	defaultListLimit = 50
	maxListLimit     = 200
)

func (s *Server) postEvents(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	m := s.deps.Metrics
	who, ok := s.authenticate(w, r, sessionKey)
	if !ok {
		m.EventsRejected.WithLabelValues("unauthorized").Inc()
		return
	}
	body, ok := s.readBody(w, r)
	if !ok {
		m.EventsRejected.WithLabelValues("too_large").Inc()
		return
	}
	events, _, err := domain.ParseEvents(body, s.cfg.MaxBatchEvents)
	if err != nil {
		var ve *domain.ValidationError
		switch {
		case errors.Is(err, domain.ErrTooManyEvents):
			m.EventsRejected.WithLabelValues("too_many_events").Inc()
			writeError(w, http.StatusRequestEntityTooLarge, "too_many_events", err.Error())
		case errors.As(err, &ve):
			m.EventsRejected.WithLabelValues("invalid").Inc()
			e := apiError{Code: "invalid_event", Message: ve.Error() + "; nothing in this request was stored", Field: ve.Field}
			if ve.Index >= 0 {
				e.Index = &ve.Index
			}
			writeErrorBody(w, http.StatusBadRequest, e)
		default:
			m.EventsRejected.WithLabelValues("invalid").Inc()
			writeError(w, http.StatusBadRequest, "invalid_event", err.Error())
		}
		return
	}
	now := s.now()
	if ok, wait := s.sessionLimit.allow(who.sessionID, float64(len(events)), now); !ok {
		m.EventsRejected.WithLabelValues("rate_limited").Inc()
		m.RateLimited.WithLabelValues("session_events").Inc()
		retryAfter(w, wait)
		writeError(w, http.StatusTooManyRequests, "rate_limited", "this session sends more than "+
			strconv.FormatFloat(s.cfg.SessionRate, 'f', -1, 64)+" events a second; nothing in this request was stored, retry after the Retry-After seconds")
		return
	}
	a := &store.Append{SessionID: who.sessionID, Events: events, ReceivedAt: now}
	if err := s.deps.Committer.Submit(r.Context(), a); err != nil {
		reason := "unavailable"
		if errors.Is(err, store.ErrTooManyJobs) {
			reason = "too_many_jobs" // refused alone (Append.Err); the database is fine
		}
		m.EventsRejected.WithLabelValues(reason).Inc()
		s.storeError(w, "store events", err)
		return
	}
	m.EventsAccepted.Add(float64(len(a.Stored)))
	if a.Duplicates > 0 {
		m.EventsDuplicate.Add(float64(a.Duplicates))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	b := make([]byte, 0, 48)
	b = append(b, `{"accepted":`...)
	b = strconv.AppendInt(b, int64(len(a.Stored)), 10)
	b = append(b, `,"duplicates":`...)
	b = strconv.AppendInt(b, int64(a.Duplicates), 10)
	w.Write(append(b, "}\n"...))
	m.IngestLatency.Observe(time.Since(start).Seconds())
}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) {
	who, ok := s.authenticate(w, r, either)
	if !ok {
		return
	}
	q := r.URL.Query()
	query := store.EventQuery{Limit: defaultListLimit, Name: q.Get("name"), Status: q.Get("status")}
	// %00 and %FF decode to bytes PostgreSQL refuses in a query (a 500).
	if refuseText(w, "invalid_name", "name", query.Name) {
		return
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxListLimit {
			writeError(w, http.StatusBadRequest, "invalid_limit", "limit must be a whole number from 1 to 200")
			return
		}
		query.Limit = n
	}
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "invalid_before", "before must be a seq (a whole number of 1 or more), as given by next_before")
			return
		}
		query.Before = n
	}
	if query.Status != "" && !domain.ValidStatus(query.Status) {
		writeErrorBody(w, http.StatusBadRequest, apiError{Code: "invalid_status", Field: "status",
			Message: "status must be a lowercase word such as failed or completed"})
		return
	}
	events, more, err := s.boundedEvents(r.Context(), who.sessionID, query)
	if s.storeError(w, "list events", err) {
		return
	}
	var next *int64
	if more || len(events) == query.Limit {
		next = &events[len(events)-1].Seq
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": events, "next_before": next})
}

// Reads of events are bounded by bytes as well as by count: 200 events of
// up to --max-body-bytes each would make one answer of 200 MiB. A list is
// read a few events at a time and stops once answerBudget bytes are in it
// (always after at least one event), so a request holds at most a page and
// the budget, and next_before carries the client on.
const (
	answerBudget = 2 << 20
	readPage     = 8
)

// boundedEvents reads up to q.Limit events, newest first, within
// answerBudget; more says it stopped at the budget before q.Limit.
func (s *Server) boundedEvents(ctx context.Context, sessionID int64, q store.EventQuery) ([]domain.StoredEvent, bool, error) {
	var out []domain.StoredEvent
	size := 0
	for len(out) < q.Limit {
		page := q
		page.Limit = min(readPage, q.Limit-len(out))
		events, err := s.deps.Store.ListEvents(ctx, sessionID, page)
		if err != nil {
			return nil, false, err
		}
		for i := range events {
			if len(out) > 0 && size+eventSize(&events[i]) > answerBudget {
				return out, true, nil
			}
			size += eventSize(&events[i])
			out = append(out, events[i])
		}
		if len(events) < page.Limit {
			return out, false, nil
		}
		q.Before = events[len(events)-1].Seq
	}
	return out, false, nil
}

// eventSize is about what an event takes in an answer.
func eventSize(e *domain.StoredEvent) int {
	n := 256 + len(e.Name) + len(e.Status) + len(e.ID) + len(e.Metadata) + len(e.Source)
	if e.Error != nil {
		n += len(e.Error.Type) + len(e.Error.Message) + len(e.Error.Traceback)
	}
	return n
}

func (s *Server) getEvent(w http.ResponseWriter, r *http.Request) {
	who, ok := s.authenticate(w, r, either)
	if !ok {
		return
	}
	seq, err := strconv.ParseInt(r.PathValue("seq"), 10, 64)
	if err != nil || seq < 1 {
		writeError(w, http.StatusBadRequest, "invalid_seq", "the event's seq must be a whole number of 1 or more")
		return
	}
	e, err := s.deps.Store.Event(r.Context(), who.sessionID, seq)
	if errors.Is(err, domain.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", "this session has no event "+strconv.FormatInt(seq, 10)+" (events older than the retention period are deleted)")
		return
	}
	if s.storeError(w, "read event", err) {
		return
	}
	writeJSON(w, http.StatusOK, e)
}

// refuseText answers 400 naming field when s holds what no database here
// stores (NUL, invalid UTF-8), and reports whether it did.
func refuseText(w http.ResponseWriter, code, field, s string) bool {
	p := domain.TextProblem(s)
	if p == "" {
		return false
	}
	writeErrorBody(w, http.StatusBadRequest, apiError{Code: code, Field: field, Message: field + " " + p})
	return true
}
