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

// eventsPath is where events are posted; its refusals are counted by reason.
const eventsPath = "/api/v1/events"

// countRejected counts the refused POSTs of events by reason.
func (s *Server) countRejected(next handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		err := next(w, r)
		if err == nil {
			return nil
		}
		reason := "unavailable"
		switch code := domain.ErrorCode(err); code {
		case domain.EUnauthorized, domain.EBadOrigin, domain.ESessionKeyRequired:
			reason = "unauthorized"
		case domain.EBodyTooLarge, domain.EBadBody:
			reason = "too_large"
		case domain.EInvalidEvent:
			reason = "invalid"
		case domain.ETooManyEvents, domain.ERateLimited, domain.ETooManyJobs:
			reason = code
		}
		s.deps.Metrics.EventsRejected.WithLabelValues(reason).Inc()
		return err
	}
}

func (s *Server) postEvents(w http.ResponseWriter, r *http.Request) error {
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	return s.acceptEvents(w, r, body)
}

// acceptEvents parses a v1 body of events, stores them and answers 202.
func (s *Server) acceptEvents(w http.ResponseWriter, r *http.Request, body []byte) error {
	start := time.Now()
	events, _, err := domain.ParseEvents(body, s.opts.MaxBatchEvents)
	if err != nil {
		if _, coded := domain.AsError(err); !coded {
			return domain.Errorf(domain.EInvalidEvent, "%v", err)
		}
		return err
	}
	a, err := s.submitEvents(r.Context(), callerOf(r).sessionID, events)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	b := make([]byte, 0, 48)
	b = append(b, `{"accepted":`...)
	b = strconv.AppendInt(b, int64(len(a.Stored)), 10)
	b = append(b, `,"duplicates":`...)
	b = strconv.AppendInt(b, int64(a.Duplicates), 10)
	w.Write(append(b, "}\n"...))
	s.deps.Metrics.IngestLatency.Observe(time.Since(start).Seconds())
	return nil
}

// submitEvents stores events of a session through the committer, within
// the session's rate: the one path of every event, whichever route it came
// by (v1, the published SDK's, pings).
func (s *Server) submitEvents(ctx context.Context, sessionID int64, events []domain.Event) (*store.Append, error) {
	m := s.deps.Metrics
	now := s.now()
	if ok, wait := s.sessionLimit.allow(sessionID, float64(len(events)), now); !ok {
		m.RateLimited.WithLabelValues("session_events").Inc()
		return nil, rateLimited(wait, "this session sends more than "+
			strconv.FormatFloat(s.opts.SessionRate, 'f', -1, 64)+" events a second; nothing in this request was stored, retry after the Retry-After seconds")
	}
	a := &store.Append{SessionID: sessionID, Events: events, ReceivedAt: now}
	if err := s.deps.Committer.Submit(ctx, a); err != nil {
		return nil, dbOp("store events", err)
	}
	m.EventsAccepted.Add(float64(len(a.Stored)))
	if a.Duplicates > 0 {
		m.EventsDuplicate.Add(float64(a.Duplicates))
	}
	return a, nil
}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	query := store.EventQuery{Limit: defaultListLimit, Name: q.Get("name"), Status: q.Get("status")}
	// %00 and %FF decode to bytes PostgreSQL refuses in a query (a 500).
	if err := refuseText(domain.EInvalidName, "name", query.Name); err != nil {
		return err
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxListLimit {
			return domain.Errorf(domain.EInvalidLimit, "limit must be a whole number from 1 to %d", maxListLimit)
		}
		query.Limit = n
	}
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return domain.Errorf(domain.EInvalidBefore, "before must be a seq (a whole number of 1 or more), as given by next_before")
		}
		query.Before = n
	}
	if query.Status != "" && !domain.ValidStatus(query.Status) {
		e := domain.Errorf(domain.EInvalidStatus, "status must be a lowercase word such as failed or completed")
		e.Field = "status"
		return e
	}
	events, more, err := s.boundedEvents(r.Context(), callerOf(r).sessionID, query)
	if err != nil {
		return dbOp("list events", err)
	}
	var next *int64
	if more || len(events) == query.Limit {
		next = &events[len(events)-1].Seq
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": events, "next_before": next})
	return nil
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
	out := []domain.StoredEvent{} // an empty list is [], never null
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

func (s *Server) getEvent(w http.ResponseWriter, r *http.Request) error {
	seq, err := strconv.ParseInt(r.PathValue("seq"), 10, 64)
	if err != nil || seq < 1 {
		return domain.Errorf(domain.EInvalidSeq, "the event's seq must be a whole number of 1 or more")
	}
	e, err := s.deps.Store.Event(r.Context(), callerOf(r).sessionID, seq)
	if errors.Is(err, domain.ErrNotFound) {
		return domain.Errorf(domain.ENotFound, "this session has no event %d (events older than the retention period are deleted)", seq)
	}
	if err != nil {
		return dbOp("read event", err)
	}
	writeJSON(w, http.StatusOK, e)
	return nil
}

// refuseText is a 400 of code naming field when s holds what no database
// here stores (NUL, invalid UTF-8); nil when s is fine.
func refuseText(code, field, s string) error {
	p := domain.TextProblem(s)
	if p == "" {
		return nil
	}
	e := domain.Errorf(code, "%s %s", field, p)
	e.Field = field
	return e
}
