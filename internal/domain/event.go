package domain

import "encoding/json"

// Statuses with a meaning of their own; any other lowercase word is allowed.
const (
	StatusCompleted = "completed"
	StatusFailed    = "failed"
	StatusStarted   = "started" // a run began: not an outcome, not a run of its own
	// StatusLog is a note about a job (a Healthchecks /log ping): neither a
	// run nor the end of one.
	StatusLog = "log"
)

// IsRun reports whether an event of this status is a run's outcome, counted
// in a job's runs: anything but a start or a log line.
func IsRun(status string) bool { return status != StatusStarted && status != StatusLog }

// ErrorInfo describes the exception of a failed run.
type ErrorInfo struct {
	Type      string `json:"type"`
	Message   string `json:"message"`
	Traceback string `json:"traceback,omitempty"`
}

// Event is one run or happening, as a client posts it. Metadata and Source
// are kept as the client's JSON (compacted), never re-encoded.
type Event struct {
	ID         string          `json:"id,omitempty"`
	Name       string          `json:"name"`
	Status     string          `json:"status"`
	DurationMS *float64        `json:"duration_ms,omitempty"`
	Timestamp  Time            `json:"timestamp"`
	Error      *ErrorInfo      `json:"error,omitempty"`
	Metadata   json.RawMessage `json:"metadata,omitempty"`
	Source     json.RawMessage `json:"source,omitempty"`
	// Run ties a started event to the one that ends it (v1.1).
	Run string `json:"run,omitempty"`
	// Expect is the job's expectation as declared in code (an EXPECT, compacted
	// and validated), or the literal null, which clears the declaration.
	Expect json.RawMessage `json:"expect,omitempty"`
}

// StoredEvent is an event as the server keeps and serves it.
type StoredEvent struct {
	Seq int64 `json:"seq"`
	Event
	ReceivedAt Time `json:"received_at"`
}

// Failed reports whether the run failed.
func (e *Event) Failed() bool { return e.Status == StatusFailed }

// Outcome reports whether the event is a run's outcome (IsRun).
func (e *Event) Outcome() bool { return IsRun(e.Status) }

// Started reports whether the event marks a run's beginning.
func (e *Event) Started() bool { return e.Status == StatusStarted }
