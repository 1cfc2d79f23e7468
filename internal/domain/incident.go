package domain

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/observable-code/observable/internal/expect"
)

// Incident kinds; an alert's kind is one of them, or AlertRecovered when it closes.
const (
	IncidentFailed  = "failed"
	IncidentMissed  = "missed"
	IncidentOverdue = "overdue"
	IncidentSlow    = "slow"
	IncidentFast    = "fast"
)

// Incident is one stretch of trouble of a job: it opens with one alert, folds the
// failed runs that follow into it, and closes with one recovered alert.
type Incident struct {
	ID       int64  `json:"id"`
	Kind     string `json:"kind"`
	OpenedAt Time   `json:"opened_at"`
	ClosedAt *Time  `json:"closed_at,omitempty"`
	Runs     int64  `json:"runs"` // failed runs folded into it
}

// JobExpect is JOB.expect: the expectation that applies, with when the next run
// is due, its typical duration and the phone's words for it.
type JobExpect struct {
	Model *JobModel
}

// MarshalJSON writes EXPECT plus next_due_at, typical_ms and description.
func (x JobExpect) MarshalJSON() ([]byte, error) {
	e := x.Model.Expectation()
	if e == nil { // turned off: say so, with the same fields as ever
		e = x.Model.User
	}
	bare := *e
	bare.Typical = 0 // written below, as null when unknown
	b, err := json.Marshal(bare)
	if err != nil {
		return nil, err
	}
	var next any
	if x.Model.NextDue > 0 {
		next = TimeFromMillis(x.Model.NextDue)
	}
	var typical any
	if e.Typical > 0 {
		typical = e.Typical.Milliseconds()
	}
	extra, err := json.Marshal(struct {
		NextDueAt   any    `json:"next_due_at"`
		Typical     any    `json:"typical_ms"`
		Description string `json:"description"`
	}{next, typical, e.Describe()})
	if err != nil {
		return nil, err
	}
	if bytes.Equal(b, []byte("{}")) {
		return extra, nil
	}
	return append(append(b[:len(b)-1], ','), extra[1:]...), nil
}

// JobPatch is PATCH /api/v1/jobs/{name}: each field nil when absent.
type JobPatch struct {
	// Expect is the user's expectation; ClearExpect removes it (null).
	Expect      *expect.Expectation
	ClearExpect bool
	Paused      *bool
	// SnoozeFor holds the job's alerts that long from now; 0 ends a snooze.
	SnoozeFor *time.Duration
}
