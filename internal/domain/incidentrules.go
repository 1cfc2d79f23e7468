package domain

import (
	"slices"
	"time"

	"github.com/observable-code/observable/internal/expect"
)

// FlapWindow: an incident that would open again this soon after the last one
// closed reopens it instead, without an alert, and its next close stays quiet
// too while its last alert is this recent: a job flapping between failing and
// passing sends one notice, not one per change.
const FlapWindow = 15 * time.Minute

// IncidentState is a job's latest incident as the commit and the evaluator
// change it; open while ClosedAt is 0. New and Dirty say what to write.
type IncidentState struct {
	ID        int64
	Kind      string
	OpenedAt  int64 // Unix ms
	ClosedAt  int64
	AlertedAt int64 // the last alert it sent, 0 none
	Runs      int64 // failed runs folded into it
	Flaps     int
	New       bool // to insert (ID is 0 until then)
	Dirty     bool // to update
}

// Open reports whether the incident is open.
func (in *IncidentState) Open() bool { return in != nil && in.ClosedAt == 0 }

// Judge updates the job's incident after Apply took an event, and returns the
// alert the event causes: an incident's kind when one opens, AlertRecovered
// when it closes, "" otherwise (failed runs inside an open incident are folded
// into it). The expectation is the one before this commit learned again.
func (m *JobModel) Judge(ev *StoredEvent, now time.Time) string {
	if !ev.Outcome() {
		return ""
	}
	e := m.Expectation()
	open := m.Incident.Open()
	switch {
	case ev.Failed():
		if open {
			m.Incident.Runs++
			m.Incident.Dirty = true
			return ""
		}
		need := 1
		if e != nil {
			need = e.Failures()
		}
		if m.FailStreak < need || m.Paused {
			return ""
		}
		return m.openIncident(IncidentFailed, int64(m.FailStreak), now)
	case ev.Status == StatusCompleted:
		verdict := expect.Fine
		if e != nil && ev.DurationMS != nil {
			verdict = e.CheckDuration(time.Duration(*ev.DurationMS * float64(time.Millisecond)))
		}
		if open {
			// A run came (missed) or the late one ended (overdue): that is over,
			// however long it took. Otherwise only a good run closes it.
			if k := m.Incident.Kind; verdict != expect.Fine && k != IncidentMissed && k != IncidentOverdue {
				return ""
			}
			return m.closeIncident(now)
		}
		if verdict == expect.Fine || m.Paused {
			return ""
		}
		return m.openIncident(verdict.String(), 0, now)
	}
	return ""
}

// Deadline is the evaluator's: the job's next deadline has passed at now. It
// opens a missed or overdue incident when the job is late and returns the
// alert ("" none). up is when this server started: what came due while it was
// down gets its grace again (expect.Expectation.Resumed), so the server's own
// downtime never reads as a missed run.
func (m *JobModel) Deadline(now, up time.Time) string {
	e := m.Expectation()
	if m.Paused || e == nil {
		m.NextDeadline = 0
		return ""
	}
	if m.overdue(e, now) {
		m.State = StateOverdue
		m.NextDeadline = 0
		if m.LastStart > 0 {
			if _, d := e.Due(time.UnixMilli(m.LastStart)); d.After(now) {
				m.NextDeadline = d.UnixMilli()
			}
		}
		if m.Incident.Open() {
			return ""
		}
		return m.openIncident(IncidentOverdue, 0, now)
	}
	if m.NextDue == 0 {
		m.NextDeadline = 0
		return ""
	}
	due, deadline := time.UnixMilli(m.NextDue), time.UnixMilli(m.NextDeadline)
	if late := e.Resumed(due, deadline, up); late.After(now) {
		m.NextDeadline = late.UnixMilli()
		return ""
	}
	if len(m.Running) > 0 {
		// A run is going on: not missed; look again when it would be overdue.
		m.NextDeadline = 0
		for _, r := range m.Running {
			if at, ok := e.OverdueAt(time.UnixMilli(r.Start)); ok && at.After(now) && (m.NextDeadline == 0 || at.UnixMilli() < m.NextDeadline) {
				m.NextDeadline = at.UnixMilli()
			}
		}
		return ""
	}
	m.State = StateMissed
	// Once missed, nothing is due until a run comes (which settles the job again).
	m.NextDeadline = 0
	if m.Incident.Open() {
		return ""
	}
	return m.openIncident(IncidentMissed, 0, now)
}

func (m *JobModel) snoozed(t int64) bool { return m.SnoozedUntil > t }

func (m *JobModel) openIncident(kind string, runs int64, now time.Time) string {
	t := now.UnixMilli()
	if in := m.Incident; in != nil && in.ClosedAt != 0 && t-in.ClosedAt < FlapWindow.Milliseconds() {
		in.ClosedAt, in.Runs, in.Dirty = 0, in.Runs+runs, true
		in.Flaps++
		return ""
	}
	m.Incident = &IncidentState{Kind: kind, OpenedAt: t, Runs: runs, New: true}
	if m.snoozed(t) {
		return ""
	}
	m.Incident.AlertedAt = t
	return kind
}

func (m *JobModel) closeIncident(now time.Time) string {
	in, t := m.Incident, now.UnixMilli()
	in.ClosedAt, in.Dirty = t, true
	if m.Paused || m.snoozed(t) || in.AlertedAt == 0 || (in.Flaps > 0 && t-in.AlertedAt < FlapWindow.Milliseconds()) {
		return ""
	}
	in.AlertedAt = t
	return AlertRecovered
}

// AlertFor decides whether a device is told about an event, and as what:
// incident is the alert the event causes for its job (Judge), "" none. With
// notify "all" every other event is told as AlertEvent, except a failure
// (folded into an open incident, or not yet alert_after of them).
func AlertFor(notify string, muted []string, ev *Event, incident string) string {
	if notify == NotifyOff || slices.Contains(muted, ev.Name) {
		return ""
	}
	switch {
	case incident != "":
		return incident
	case notify == NotifyAll && !ev.Failed():
		return AlertEvent
	}
	return ""
}
