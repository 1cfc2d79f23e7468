package domain

import "encoding/json"

// Statuses with a meaning of their own; any other lowercase word is allowed.
const (
	StatusCompleted = "completed"
	StatusFailed    = "failed"
)

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
}

// StoredEvent is an event as the server keeps and serves it.
type StoredEvent struct {
	Seq int64 `json:"seq"`
	Event
	ReceivedAt Time `json:"received_at"`
}

// Failed reports whether the run failed.
func (e *Event) Failed() bool { return e.Status == StatusFailed }
