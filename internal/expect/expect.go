// Package expect knows when a job should run and how long it should take: expectations
// (a fixed period or a cron schedule in a time zone, declared by code or by the user, or
// learned from the job's own history), their JSON (the contract's EXPECT), their schedules
// across DST, their words for the phone, and the pure checks the evaluator needs (missed,
// overdue, too slow, too fast). No storage, no HTTP, no clock: every function takes its `now`.
// How the learner works and how to call it: docs/expectations.md.
package expect

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Source says who set an expectation; a user's wins over code's, code's over a learned one.
type Source string

const (
	Learned Source = "learned"
	Code    Source = "code"
	User    Source = "user"
)

// Limits of what an expectation may say.
const (
	MinEvery      = time.Minute // the evaluator works to the minute
	MaxEvery      = 31 * 24 * time.Hour
	MaxGrace      = 31 * 24 * time.Hour
	MaxDuration   = 366 * 24 * time.Hour
	MaxAlertAfter = 1000
)

// Expectation is what a job is expected to do. Exactly one of Every and Cron is set.
// Zero Grace means "the default for this period" (GraceAt); zero Min/MaxDuration means no
// bound; zero AlertAfter means 1. Typical and Usual* are set by the learner, for words and
// the duration chart's band.
type Expectation struct {
	Source      Source
	Every       time.Duration // a fixed period, counted from the last run's start
	Cron        string        // 5 fields or a descriptor (@hourly, @daily, @weekly, @monthly, …)
	TZ          string        // IANA zone of Cron; "" is UTC
	Grace       time.Duration
	MaxDuration time.Duration
	MinDuration time.Duration
	AlertAfter  int

	// Off, set only by the user, turns watching off: no run is expected and no
	// duration is judged (failed runs still alert). It stands alone: no period,
	// schedule or bound goes with it.
	Off bool

	Typical             time.Duration // median duration (learned), 0 unknown
	UsualLow, UsualHigh time.Duration // most runs take this long (learned), 0 unknown

	sched *cronSchedule // compiled Cron+TZ, set by Validate (copies share it: it is immutable)
}

// Parse decodes an EXPECT from a client (an event's "expect", a PATCH body's "expect"),
// stamps it with src, and validates it. Fields only the server sets (typical_ms, usual_ms)
// are dropped unless src is Learned.
func Parse(data []byte, src Source) (Expectation, error) {
	if string(bytes.TrimSpace(data)) == "null" {
		return Expectation{}, errors.New(`expect is null: that clears the expectation; give {"every_s": n} or {"cron": "…"} to set one`)
	}
	var e Expectation
	if err := json.Unmarshal(data, &e); err != nil {
		return Expectation{}, err
	}
	e.Source = src
	if src != Learned {
		e.Typical, e.UsualLow, e.UsualHigh = 0, 0, 0
	}
	if err := e.Validate(); err != nil {
		return Expectation{}, err
	}
	return e, nil
}

// Validate checks the expectation and compiles its schedule, so that NextAfter and the
// checks need not parse it again. Its errors name the field and say what to write instead.
func (e *Expectation) Validate() error {
	switch e.Source {
	case "", Learned, Code, User:
	default:
		return fmt.Errorf("source %q: must be learned, code or user", e.Source)
	}
	if e.Off {
		if e.Source != User && e.Source != "" {
			return errors.New(`off: only the user turns watching off (PATCH /api/v1/jobs/{name}); code declares what to expect, or nothing`)
		}
		if e.Every != 0 || e.Cron != "" || e.TZ != "" || e.Grace != 0 || e.MaxDuration != 0 || e.MinDuration != 0 || e.AlertAfter != 0 {
			return errors.New(`off stands alone: send {"off": true} to stop watching this job, or a period or schedule without "off"`)
		}
		e.sched = nil
		return nil
	}
	switch {
	case e.Every != 0 && e.Cron != "":
		return errors.New("set either every_s (a period) or cron (a schedule), not both")
	case e.Every == 0 && e.Cron == "":
		return errors.New(`set every_s (a period in seconds, e.g. 3600) or cron (a schedule, e.g. "0 3 * * *")`)
	case e.Every != 0:
		if e.Every < MinEvery {
			return fmt.Errorf("every_s %v is too short: the shortest period is 60 (1 minute)", e.Every.Seconds())
		}
		if e.Every > MaxEvery {
			return fmt.Errorf(`every_s %v is too long: the longest period is 31 days; for a monthly job use cron, e.g. "0 3 1 * *"`, e.Every.Seconds())
		}
		if e.TZ != "" {
			return errors.New("tz applies to a cron schedule only: a period (every_s) is the same in every zone")
		}
		e.sched = nil
	default:
		s, err := compileCron(e.Cron, e.TZ)
		if err != nil {
			return err
		}
		e.sched = s
	}
	if e.Grace < 0 || e.Grace > MaxGrace {
		return fmt.Errorf("grace_s must be between 0 and %.0f (%d days)", MaxGrace.Seconds(), MaxGrace/(24*time.Hour))
	}
	if e.MaxDuration < 0 || e.MaxDuration > MaxDuration || e.MinDuration < 0 || e.MinDuration > MaxDuration {
		return fmt.Errorf("max_duration_ms and min_duration_ms must be between 0 and %d (%d days)", MaxDuration.Milliseconds(), MaxDuration/(24*time.Hour))
	}
	if e.MaxDuration > 0 && e.MinDuration >= e.MaxDuration {
		return fmt.Errorf("min_duration_ms (%d) must be less than max_duration_ms (%d)", e.MinDuration.Milliseconds(), e.MaxDuration.Milliseconds())
	}
	if e.AlertAfter < 0 || e.AlertAfter > MaxAlertAfter {
		return fmt.Errorf("alert_after must be between 1 and %d consecutive failed runs", MaxAlertAfter)
	}
	return nil
}

// Same reports whether two expectations say the same thing (== also compares the compiled
// schedule's pointer). Use it to tell whether a declaration in code changed.
func (e Expectation) Same(o Expectation) bool {
	e.sched, o.sched = nil, nil
	return e == o
}

// Failures is how many consecutive failed runs open an incident (alert_after, default 1).
func (e Expectation) Failures() int {
	if e.AlertAfter <= 0 {
		return 1
	}
	return e.AlertAfter
}

// wire is EXPECT on the wire. Durations come as numbers (seconds for *_s, milliseconds for
// *_ms) or, for people typing JSON by hand, as strings ParseDuration reads ("15m").
type wire struct {
	Source      Source          `json:"source,omitempty"`
	Every       json.RawMessage `json:"every_s,omitempty"`
	Cron        string          `json:"cron,omitempty"`
	TZ          string          `json:"tz,omitempty"`
	Grace       json.RawMessage `json:"grace_s,omitempty"`
	MaxDuration json.RawMessage `json:"max_duration_ms,omitempty"`
	MinDuration json.RawMessage `json:"min_duration_ms,omitempty"`
	AlertAfter  int             `json:"alert_after,omitempty"`
	Off         bool            `json:"off,omitempty"`
	Typical     json.RawMessage `json:"typical_ms,omitempty"`
	Usual       []float64       `json:"usual_ms,omitempty"`
	// Server-computed on a JOB (next_due_at); accepted so a GET's expect can be sent back.
	NextDueAt json.RawMessage `json:"next_due_at,omitempty"`
}

// MarshalJSON writes the contract's EXPECT plus source, typical_ms and usual_ms ([low,
// high], an extension the phone uses for "usually 3–4 s"). The API adds next_due_at.
func (e Expectation) MarshalJSON() ([]byte, error) {
	w := struct {
		Source      Source    `json:"source,omitempty"`
		Every       *float64  `json:"every_s,omitempty"`
		Cron        string    `json:"cron,omitempty"`
		TZ          string    `json:"tz,omitempty"`
		Grace       *float64  `json:"grace_s,omitempty"`
		MaxDuration *int64    `json:"max_duration_ms,omitempty"`
		MinDuration *int64    `json:"min_duration_ms,omitempty"`
		AlertAfter  int       `json:"alert_after,omitempty"`
		Off         bool      `json:"off,omitempty"`
		Typical     *int64    `json:"typical_ms,omitempty"`
		Usual       []float64 `json:"usual_ms,omitempty"`
	}{Source: e.Source, Cron: e.Cron, TZ: e.TZ, AlertAfter: e.AlertAfter, Off: e.Off}
	secs := func(d time.Duration) *float64 {
		if d == 0 {
			return nil
		}
		f := d.Seconds()
		return &f
	}
	ms := func(d time.Duration) *int64 {
		if d == 0 {
			return nil
		}
		v := d.Milliseconds()
		return &v
	}
	w.Every, w.Grace = secs(e.Every), secs(e.Grace)
	w.MaxDuration, w.MinDuration, w.Typical = ms(e.MaxDuration), ms(e.MinDuration), ms(e.Typical)
	if e.UsualHigh > 0 {
		w.Usual = []float64{float64(e.UsualLow.Milliseconds()), float64(e.UsualHigh.Milliseconds())}
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads EXPECT strictly: an unknown field is an error (a typo like "evry_s"
// must not silently turn an expectation off). It does not validate: call Validate (or Parse).
func (e *Expectation) UnmarshalJSON(data []byte) error {
	if string(bytes.TrimSpace(data)) == "null" {
		return nil // encoding/json's convention; "null clears" is the caller's to decide
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var w wire
	if err := dec.Decode(&w); err != nil {
		return fmt.Errorf("expect: %v; fields are every_s, cron, tz, grace_s, max_duration_ms, min_duration_ms, alert_after (or off)", err)
	}
	var out Expectation
	var err error
	if out.Every, err = flexDuration(w.Every, time.Second, "every_s"); err != nil {
		return err
	}
	if out.Grace, err = flexDuration(w.Grace, time.Second, "grace_s"); err != nil {
		return err
	}
	if out.MaxDuration, err = flexDuration(w.MaxDuration, time.Millisecond, "max_duration_ms"); err != nil {
		return err
	}
	if out.MinDuration, err = flexDuration(w.MinDuration, time.Millisecond, "min_duration_ms"); err != nil {
		return err
	}
	if out.Typical, err = flexDuration(w.Typical, time.Millisecond, "typical_ms"); err != nil {
		return err
	}
	if len(w.Usual) == 2 && w.Usual[0] >= 0 && w.Usual[1] >= w.Usual[0] && w.Usual[1] < float64(MaxDuration/time.Millisecond) {
		out.UsualLow = time.Duration(w.Usual[0] * float64(time.Millisecond))
		out.UsualHigh = time.Duration(w.Usual[1] * float64(time.Millisecond))
	}
	out.Source, out.Cron, out.TZ, out.AlertAfter, out.Off = w.Source, w.Cron, w.TZ, w.AlertAfter, w.Off
	*e = out
	return nil
}

// flexDuration reads a number in unit, or a string ParseDuration understands ("15m").
func flexDuration(raw json.RawMessage, unit time.Duration, field string) (time.Duration, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, fmt.Errorf("%s: %v", field, err)
		}
		if _, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil && unit != time.Second {
			// A bare number in a string would read as seconds; in a *_ms field that is a trap.
			return 0, fmt.Errorf("%s: %q needs a unit (\"500ms\", \"2h\") or write it as a number of milliseconds", field, s)
		}
		d, err := ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("%s: %v", field, err)
		}
		return d, nil
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil || math.IsNaN(f) || f < 0 || f*float64(unit) > float64(math.MaxInt64) {
		return 0, fmt.Errorf("%s: must be a number, 0 or more, or a duration like \"15m\"", field)
	}
	return time.Duration(f * float64(unit)), nil
}
