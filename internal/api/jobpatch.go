package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/expect"
)

// jobIncidents is how many of a job's incidents GET /api/v1/jobs/{name} lists.
const jobIncidents = 20

// maxSnooze is the longest snooze_s PATCH takes: a month, as a grace may be.
const maxSnooze = expect.MaxGrace

// checkJobName refuses a name no event could have before the database sees
// it: PostgreSQL fails on NUL and invalid UTF-8 instead of finding nothing.
func checkJobName(name string) error {
	if n := utf8.RuneCountInString(name); n == 0 || n > domain.MaxNameLen || !utf8.ValidString(name) || strings.ContainsRune(name, 0) {
		return domain.Errorf(domain.EInvalidName,
			"a job name is 1 to %d characters of valid UTF-8 without NUL; escape it in the path (encodeURIComponent)", domain.MaxNameLen)
	}
	return nil
}

// patchJob is PATCH /api/v1/jobs/{name} (device token): the user's
// expectation (null removes it and the learned or declared one applies
// again; {"off": true} turns watching off), pause (sticky until resumed) and, an extension, snooze_s (alerts
// held that long; 0 ends a snooze). It answers the JOB.
func (s *Server) patchJob(w http.ResponseWriter, r *http.Request) error {
	who := callerOf(r)
	name := r.PathValue("name")
	if err := checkJobName(name); err != nil {
		return err
	}
	var body struct {
		Expect  json.RawMessage `json:"expect"`
		Paused  *bool           `json:"paused"`
		SnoozeS *float64        `json:"snooze_s"`
	}
	if err := s.decodeJSON(w, r, &body); err != nil {
		return err
	}
	var p domain.JobPatch
	switch raw := bytes.TrimSpace(body.Expect); {
	case len(raw) == 0:
	case string(raw) == "null":
		p.ClearExpect = true
	default:
		e, err := expect.Parse(raw, expect.User)
		if err != nil {
			return &domain.Error{Code: domain.EInvalidExpect, Field: "expect", Message: "expect: " + err.Error()}
		}
		p.Expect = &e
	}
	p.Paused = body.Paused
	if body.SnoozeS != nil {
		v := *body.SnoozeS
		if math.IsNaN(v) || v < 0 || v > maxSnooze.Seconds() {
			return &domain.Error{Code: domain.EInvalidSnooze, Field: "snooze_s",
				Message: fmt.Sprintf("snooze_s must be a number of seconds from 0 (ends a snooze) to %d (%d days), e.g. 86400 for a day",
					int64(maxSnooze/time.Second), int64(maxSnooze/(24*time.Hour)))}
		}
		d := time.Duration(v * float64(time.Second))
		p.SnoozeFor = &d
	}
	job, err := s.deps.Store.UpdateJob(r.Context(), who.sessionID, name, p, s.now())
	if errors.Is(err, domain.ErrNotFound) {
		return domain.Errorf(domain.ENotFound, "this session has no job of that name (GET /api/v1/jobs lists them)")
	}
	if err != nil {
		return dbOp("update job", err)
	}
	url, err := s.pingURL(r.Context(), who.sessionID, name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, jobWithPing{job, url})
	return nil
}
