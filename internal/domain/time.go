// Package domain holds the plain types of Observable Code and the rules that
// belong to them (validation, notification decisions). It knows nothing of
// HTTP or SQL: storage and transport are built around it.
package domain

import (
	"fmt"
	"time"
)

// TimeLayout is the wire format of every time: RFC 3339, UTC, milliseconds.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// Time is a UTC instant with millisecond precision that marshals in the
// contract's format. The zero Time marshals as null.
type Time struct{ time.Time }

// NewTime truncates t to milliseconds in UTC.
func NewTime(t time.Time) Time { return Time{t.UTC().Truncate(time.Millisecond)} }

// TimeFromMillis converts Unix milliseconds, the storage representation.
func TimeFromMillis(ms int64) Time { return Time{time.UnixMilli(ms).UTC()} }

// Millis is the storage representation of t.
func (t Time) Millis() int64 { return t.UnixMilli() }

// MarshalJSON writes the contract's format, or null for the zero time.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	b := make([]byte, 0, len(TimeLayout)+2)
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, TimeLayout)
	return append(b, '"'), nil
}

// UnmarshalJSON accepts any RFC 3339 time (with any offset) and normalises it.
func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*t = Time{}
		return nil
	}
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return fmt.Errorf("must be an RFC 3339 time string")
	}
	parsed, err := time.Parse(time.RFC3339Nano, string(b[1:len(b)-1]))
	if err != nil {
		return fmt.Errorf("must be an RFC 3339 time such as 2026-01-02T15:04:05.000Z")
	}
	*t = NewTime(parsed)
	return nil
}
