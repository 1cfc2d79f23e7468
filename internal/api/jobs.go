package api

import (
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/store"
)

// jobRecentEvents is how many of a job's newest events GET
// /api/v1/jobs/{name} carries in full, within answerBudget bytes.
const jobRecentEvents = 20

// jobWithPing is a JOB with its Healthchecks-style ping URL (pings.go).
type jobWithPing struct {
	domain.Job
	PingURL string `json:"ping_url"`
}

// listJobs answers summaries: each job's last event without its metadata
// and with long texts cut (sqlstore.SummaryTextChars), so the answer is
// under 10 KiB a job, 10 MiB at the default --max-jobs-per-session, however
// large the events were. GET /api/v1/jobs/{name} has the full event.
func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) error {
	jobs, err := s.deps.Store.Jobs(r.Context(), callerOf(r).sessionID)
	if err != nil {
		return dbOp("list jobs", err)
	}
	switch r.URL.Query().Get("sort") {
	case "", "recent":
	case "state":
		domain.SortByState(jobs)
	default:
		return &domain.Error{Code: domain.EInvalidSort, Field: "sort",
			Message: `sort must be "recent" (the default: most recently run first) or "state" (problems first)`}
	}
	names := make([]string, len(jobs))
	for i, j := range jobs {
		names[i] = j.Name
	}
	urls, err := s.pingURLs(r.Context(), callerOf(r).sessionID, names)
	if err != nil {
		return err
	}
	out := make([]jobWithPing, len(jobs))
	for i, j := range jobs {
		out[i] = jobWithPing{j, urls[i]}
	}
	writeJSON(w, http.StatusOK, map[string]any{"jobs": out})
	return nil
}

// getJob answers one job, its last event in full, and its newest events.
func (s *Server) getJob(w http.ResponseWriter, r *http.Request) error {
	who := callerOf(r)
	name := r.PathValue("name")
	// A name no event could have is refused before the database sees it:
	// PostgreSQL fails on NUL and invalid UTF-8 instead of finding nothing.
	if n := utf8.RuneCountInString(name); n == 0 || n > domain.MaxNameLen || !utf8.ValidString(name) || strings.ContainsRune(name, 0) {
		return domain.Errorf(domain.EInvalidName,
			"a job name is 1 to %d characters of valid UTF-8 without NUL; escape it in the path (encodeURIComponent)", domain.MaxNameLen)
	}
	job, err := s.deps.Store.Job(r.Context(), who.sessionID, name)
	if errors.Is(err, domain.ErrNotFound) {
		return domain.Errorf(domain.ENotFound, "this session has no job of that name (GET /api/v1/jobs lists them; a job whose runs are all older than the retention period is gone)")
	}
	if err != nil {
		return dbOp("read job", err)
	}
	recent, _, err := s.boundedEvents(r.Context(), who.sessionID, store.EventQuery{Limit: jobRecentEvents, Name: name})
	if err != nil {
		return dbOp("read job", err)
	}
	url, err := s.pingURL(r.Context(), who.sessionID, name)
	if err != nil {
		return err
	}
	incidents, err := s.deps.Store.Incidents(r.Context(), who.sessionID, name, jobIncidents)
	if err != nil {
		return dbOp("read job", err)
	}
	writeJSON(w, http.StatusOK, struct {
		jobWithPing
		Recent    []domain.StoredEvent `json:"recent"`
		Incidents []domain.Incident    `json:"incidents"`
	}{jobWithPing{job, url}, recent, incidents})
	return nil
}
