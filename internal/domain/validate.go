package domain

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"
)

// Limits of one event, from the contract.
const (
	MaxIDLen       = 64
	MaxNameLen     = 200
	MaxStatusLen   = 32
	MaxMetadataLen = 64 << 10
)

// ValidationError says which event of a request, and which field of it, is
// wrong. Index is -1 when the request held a single event.
type ValidationError struct {
	Index  int
	Field  string
	Reason string
}

func (e *ValidationError) Error() string {
	path := e.Field
	if e.Index >= 0 {
		path = fmt.Sprintf("events[%d].%s", e.Index, e.Field)
		if e.Field == "" {
			path = fmt.Sprintf("events[%d]", e.Index)
		}
	}
	if path == "" {
		return e.Reason
	}
	return path + ": " + e.Reason
}

// ErrTooManyEvents is returned by ParseEvents when a batch is over the limit.
var ErrTooManyEvents = errors.New("too many events in one request")

// ValidStatus reports whether s is a lowercase word the contract accepts.
func ValidStatus(s string) bool {
	if len(s) == 0 || len(s) > MaxStatusLen || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// Validate checks an event against the contract. Index only labels errors.
func (e *Event) Validate(index int) error {
	bad := func(field, reason string) error {
		return &ValidationError{Index: index, Field: field, Reason: reason}
	}
	if e.ID != "" && len(e.ID) > MaxIDLen {
		return bad("id", fmt.Sprintf("must be at most %d bytes", MaxIDLen))
	}
	if n := utf8.RuneCountInString(e.Name); n == 0 || n > MaxNameLen {
		return bad("name", fmt.Sprintf("is required and must be 1 to %d characters", MaxNameLen))
	}
	if !ValidStatus(e.Status) {
		return bad("status", `is required and must be "completed", "failed" or another lowercase word of at most 32 characters matching [a-z][a-z0-9_]*`)
	}
	if d := e.DurationMS; d != nil && (*d < 0 || math.IsNaN(*d) || math.IsInf(*d, 0)) {
		return bad("duration_ms", "must be a number of milliseconds, 0 or more")
	}
	if e.Error != nil && e.Error.Type == "" {
		return bad("error.type", "is required when error is given")
	}
	if len(e.Metadata) > MaxMetadataLen {
		return bad("metadata", fmt.Sprintf("is %d bytes serialized; the limit is %d (64 KiB)", len(e.Metadata), MaxMetadataLen))
	}
	return nil
}

// wireEvent mirrors Event with pointers, so that absent, null and wrongly
// typed fields can be told apart.
type wireEvent struct {
	ID         *string         `json:"id"`
	Name       *string         `json:"name"`
	Status     *string         `json:"status"`
	DurationMS *float64        `json:"duration_ms"`
	Timestamp  json.RawMessage `json:"timestamp"`
	Error      *wireError      `json:"error"`
	Metadata   json.RawMessage `json:"metadata"`
	Source     json.RawMessage `json:"source"`
}

type wireError struct {
	Type      *string `json:"type"`
	Message   *string `json:"message"`
	Traceback *string `json:"traceback"`
}

type wireBody struct {
	wireEvent
	Events json.RawMessage `json:"events"`
}

type fastBody struct {
	wireEvent
	Events *[]wireEvent `json:"events"`
}

// ParseEvents decodes a request body holding one EVENT or {"events": [...]}
// and validates every event. It returns the events and whether the body was
// a batch. Either all events are valid or an error is returned: a
// *ValidationError naming the event and field, ErrTooManyEvents, or a
// *ValidationError with no field for malformed JSON.
func ParseEvents(body []byte, maxEvents int) ([]Event, bool, error) {
	// One decode for the usual, valid request; the careful path below
	// only runs to say precisely what is wrong.
	var fast fastBody
	if err := json.Unmarshal(body, &fast); err == nil {
		if fast.Events == nil && !bytes.Contains(body, []byte(`"events"`)) {
			ev, err := fast.wireEvent.toEvent(-1)
			if err != nil {
				return nil, false, err
			}
			return []Event{ev}, false, nil
		}
		if fast.Events != nil && len(*fast.Events) > 0 && (maxEvents <= 0 || len(*fast.Events) <= maxEvents) {
			events := make([]Event, len(*fast.Events))
			for i := range *fast.Events {
				ev, err := (*fast.Events)[i].toEvent(i)
				if err != nil {
					return nil, true, err
				}
				events[i] = ev
			}
			return events, true, nil
		}
	}
	var top wireBody
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, false, describeDecodeError(body, -1, err)
	}
	if top.Events == nil {
		ev, err := top.wireEvent.toEvent(-1)
		if err != nil {
			return nil, false, err
		}
		return []Event{ev}, false, nil
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(top.Events, &raws); err != nil || raws == nil {
		return nil, true, &ValidationError{Index: -1, Field: "events", Reason: "must be an array of events"}
	}
	if len(raws) == 0 {
		return nil, true, &ValidationError{Index: -1, Field: "events", Reason: "must hold at least one event"}
	}
	if maxEvents > 0 && len(raws) > maxEvents {
		return nil, true, fmt.Errorf("%w: %d events, the limit is %d; send them in several requests", ErrTooManyEvents, len(raws), maxEvents)
	}
	events := make([]Event, len(raws))
	for i, raw := range raws {
		var w wireEvent
		if err := json.Unmarshal(raw, &w); err != nil {
			return nil, true, describeDecodeError(raw, i, err)
		}
		ev, err := w.toEvent(i)
		if err != nil {
			return nil, true, err
		}
		events[i] = ev
	}
	return events, true, nil
}

func (w *wireEvent) toEvent(index int) (Event, error) {
	bad := func(field, reason string) (Event, error) {
		return Event{}, &ValidationError{Index: index, Field: field, Reason: reason}
	}
	var ev Event
	if w.ID != nil {
		if *w.ID == "" {
			return bad("id", "must not be empty; leave it out to have none")
		}
		ev.ID = *w.ID
	}
	if w.Name != nil {
		ev.Name = *w.Name
	}
	if w.Status != nil {
		ev.Status = *w.Status
	}
	ev.DurationMS = w.DurationMS
	if w.Timestamp != nil {
		if err := ev.Timestamp.UnmarshalJSON(w.Timestamp); err != nil {
			return bad("timestamp", err.Error())
		}
	}
	if w.Error != nil {
		if w.Error.Type == nil {
			return bad("error.type", "is required when error is given")
		}
		if w.Error.Message == nil {
			return bad("error.message", "is required when error is given (it may be empty)")
		}
		ev.Error = &ErrorInfo{Type: *w.Error.Type, Message: *w.Error.Message}
		if w.Error.Traceback != nil {
			ev.Error.Traceback = *w.Error.Traceback
		}
	}
	var err error
	if ev.Metadata, err = compactObject(w.Metadata); err != nil {
		return bad("metadata", err.Error())
	}
	if ev.Source, err = compactObject(w.Source); err != nil {
		return bad("source", err.Error())
	}
	return ev, ev.Validate(index)
}

// compactObject returns raw without insignificant whitespace, or nil for an
// absent or null value. Anything but an object is refused.
func compactObject(raw json.RawMessage) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] != '{' {
		return nil, errors.New("must be a JSON object")
	}
	if !bytes.ContainsAny(raw, " \t\r\n") {
		// The decoder has checked it; without whitespace it is compact.
		return raw, nil
	}
	var buf bytes.Buffer
	buf.Grow(len(raw))
	if err := json.Compact(&buf, raw); err != nil {
		return nil, errors.New("must be valid JSON")
	}
	return buf.Bytes(), nil
}

// describeDecodeError turns a json error into one that names the field.
func describeDecodeError(raw []byte, index int, err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		field := typeErr.Field
		return &ValidationError{Index: index, Field: field, Reason: "must be " + jsonKind(typeErr.Type.Kind().String(), field)}
	}
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) {
		return &ValidationError{Index: index, Reason: fmt.Sprintf("the body is not valid JSON (at byte %d: %v)", syntaxErr.Offset, syntaxErr)}
	}
	if index >= 0 {
		return &ValidationError{Index: index, Reason: "must be a JSON object"}
	}
	return &ValidationError{Index: -1, Reason: "the body must be a JSON object: one event, or {\"events\": [...]}"}
}

func jsonKind(goKind, field string) string {
	switch goKind {
	case "string":
		return "a string"
	case "float64":
		return "a number"
	case "ptr", "struct":
		if field == "error" {
			return `an object {"type": ..., "message": ...}`
		}
		return "an object"
	case "slice":
		return "an array"
	}
	return "of another type"
}
