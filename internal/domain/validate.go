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
	MaxRunLen      = 64
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
var ErrTooManyEvents error = &Error{Code: ETooManyEvents, Message: "too many events in one request"}

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

// Validate checks a decoded event against the contract. Index only labels
// errors. The text of metadata and source, kept as sent, is checked in the
// body by ParseEvents before it decodes (invalid UTF-8, unpaired surrogate
// and NUL escapes), in one pass for the whole request.
func (e *Event) Validate(index int) error {
	bad := func(field, reason string) error {
		return &ValidationError{Index: index, Field: field, Reason: reason}
	}
	if e.ID != "" && len(e.ID) > MaxIDLen {
		return bad("id", fmt.Sprintf("must be at most %d bytes", MaxIDLen))
	}
	if p := TextProblem(e.ID); p != "" {
		return bad("id", p)
	}
	if n := utf8.RuneCountInString(e.Name); n == 0 || n > MaxNameLen {
		return bad("name", fmt.Sprintf("is required and must be 1 to %d characters", MaxNameLen))
	}
	if p := TextProblem(e.Name); p != "" {
		return bad("name", p)
	}
	if !ValidStatus(e.Status) {
		return bad("status", `is required and must be "completed", "failed" or another lowercase word of at most 32 characters matching [a-z][a-z0-9_]*`)
	}
	if d := e.DurationMS; d != nil && (*d < 0 || math.IsNaN(*d) || math.IsInf(*d, 0)) {
		return bad("duration_ms", "must be a number of milliseconds, 0 or more")
	}
	if e.Error != nil {
		if e.Error.Type == "" {
			return bad("error.type", "is required when error is given")
		}
		for _, f := range [...]struct{ field, s string }{
			{"error.type", e.Error.Type}, {"error.message", e.Error.Message}, {"error.traceback", e.Error.Traceback},
		} {
			if p := TextProblem(f.s); p != "" {
				return bad(f.field, p)
			}
		}
	}
	if len(e.Metadata) > MaxMetadataLen {
		return bad("metadata", fmt.Sprintf("is %d bytes serialized; the limit is %d (%d KiB)", len(e.Metadata), MaxMetadataLen, MaxMetadataLen>>10))
	}
	if len(e.Run) > MaxRunLen {
		return bad("run", fmt.Sprintf("must be at most %d bytes", MaxRunLen))
	}
	if p := TextProblem(e.Run); p != "" {
		return bad("run", p)
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
	Run        *string         `json:"run"`
	Expect     json.RawMessage `json:"expect"`
}

type wireError struct {
	Type      *string `json:"type"`
	Message   *string `json:"message"`
	Traceback *string `json:"traceback"`
}

// batchBody finds a batch's events. It embeds no struct: the decoder names
// a wrongly typed field by its Go path, which would put the embedded
// type's name in front of it ("wireEvent.duration_ms").
type batchBody struct {
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
	// The decoder would quietly turn invalid UTF-8 in strings into U+FFFD
	// (and keep it raw in metadata): look for it first, in one pass that
	// costs little beside the decode, and only then say where it is.
	if !utf8.Valid(body) {
		if batch, err := findBadText(body, invalidUTF8, reasonUTF8); err != nil {
			return nil, batch, err
		}
	}
	// Likewise an unpaired surrogate escape, which it would make U+FFFD
	// in strings, and a NUL escape, which metadata and source would keep
	// as sent: one walk of the body finds either, so Validate need not
	// walk metadata and source again.
	if at, _ := badEscape(body); at >= 0 {
		if batch, err := findBadText(body, hasLoneSurrogate, reasonSurrogate); err != nil {
			return nil, batch, err
		}
		if batch, err := findBadText(body, hasNULEscape, reasonNUL); err != nil {
			return nil, batch, err
		}
	}
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
	var top batchBody
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, false, describeDecodeError(body, -1, err)
	}
	if top.Events == nil {
		var w wireEvent
		if err := json.Unmarshal(body, &w); err != nil {
			return nil, false, describeDecodeError(body, -1, err)
		}
		ev, err := w.toEvent(-1)
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
		return nil, true, Errorf(ETooManyEvents, "too many events in one request: %d events, the limit is %d; send them in several requests", len(raws), maxEvents)
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
	if w.Run != nil {
		ev.Run = *w.Run
	}
	if ev.Expect, err = declaredExpect(w.Expect); err != nil {
		return bad("expect", err.Error())
	}
	return ev, ev.Validate(index)
}

// rawEvent holds an event's fields as sent, to find the one with invalid
// UTF-8 (decoded into strings, it would be gone).
type rawEvent struct {
	ID        json.RawMessage `json:"id"`
	Name      json.RawMessage `json:"name"`
	Status    json.RawMessage `json:"status"`
	Timestamp json.RawMessage `json:"timestamp"`
	Error     json.RawMessage `json:"error"`
	Metadata  json.RawMessage `json:"metadata"`
	Source    json.RawMessage `json:"source"`
	Run       json.RawMessage `json:"run"`
	Expect    json.RawMessage `json:"expect"`
}

type rawError struct {
	Type      json.RawMessage `json:"type"`
	Message   json.RawMessage `json:"message"`
	Traceback json.RawMessage `json:"traceback"`
}

func invalidUTF8(raw []byte) bool      { return !utf8.Valid(raw) }
func hasLoneSurrogate(raw []byte) bool { return loneSurrogate(raw) >= 0 }
func hasNULEscape(raw []byte) bool     { return nulEscape(raw) >= 0 }

// findBadText names the field of a body that holds text bad says cannot
// be kept (invalid UTF-8, an unpaired surrogate escape). It returns nil
// when the body is not JSON of the right shape (the decode that follows
// says what is wrong) or when the text is only in fields nobody reads,
// which are dropped.
func findBadText(body []byte, bad func([]byte) bool, reason string) (bool, error) {
	var top batchBody
	if json.Unmarshal(body, &top) != nil {
		return false, nil
	}
	if top.Events == nil {
		return false, rawEventText(body, -1, bad, reason)
	}
	var raws []json.RawMessage
	if json.Unmarshal(top.Events, &raws) != nil {
		return true, nil
	}
	for i, raw := range raws {
		if err := rawEventText(raw, i, bad, reason); err != nil {
			return true, err
		}
	}
	return true, nil
}

func rawEventText(raw []byte, index int, bad func([]byte) bool, reason string) error {
	if !bad(raw) {
		return nil
	}
	var ev rawEvent
	if json.Unmarshal(raw, &ev) != nil {
		return nil
	}
	var er rawError
	if bad(ev.Error) {
		_ = json.Unmarshal(ev.Error, &er)
	}
	for _, f := range [...]struct {
		field string
		raw   []byte
	}{
		{"id", ev.ID}, {"name", ev.Name}, {"status", ev.Status}, {"timestamp", ev.Timestamp},
		{"error.type", er.Type}, {"error.message", er.Message}, {"error.traceback", er.Traceback},
		{"metadata", ev.Metadata}, {"source", ev.Source}, {"run", ev.Run}, {"expect", ev.Expect},
	} {
		if bad(f.raw) {
			return &ValidationError{Index: index, Field: f.field, Reason: reason}
		}
	}
	return nil
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
