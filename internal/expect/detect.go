package expect

import "time"

// GraceAt is how late the run due at `due` may start before it counts as missed: Grace when
// set, else a tenth of the gap to the following run, between 1 minute and 1 hour.
func (e Expectation) GraceAt(due time.Time) time.Duration {
	if e.Grace > 0 {
		return e.Grace
	}
	return clamp(e.gapAt(due)/10, time.Minute, time.Hour)
}

// gapAt is the time between the run due at `due` and the one after it.
func (e Expectation) gapAt(due time.Time) time.Duration {
	if e.Every > 0 {
		return e.Every
	}
	if n := e.NextAfter(due); !n.IsZero() {
		return n.Sub(due)
	}
	return 0
}

// Due is when the run after the one that started at last is due, and its deadline (due plus
// grace): with no run by then, the job is missed. A run that started a little early (up to
// its grace, at most half the gap) belongs to the slot it came early for, so a 02:58 start
// of a 03:00 job is that night's run, not an extra one. Zero times for an invalid expectation.
func (e Expectation) Due(last time.Time) (due, deadline time.Time) {
	due = e.NextAfter(last)
	if due.IsZero() {
		return time.Time{}, time.Time{}
	}
	if e.Cron != "" {
		if early := min(e.GraceAt(due), e.gapAt(due)/2); due.Sub(last) <= early {
			due = e.NextAfter(due)
		}
	}
	return due, due.Add(e.GraceAt(due))
}

// FirstDue is Due for a job with no run yet, counted from when the expectation was set.
func (e Expectation) FirstDue(since time.Time) (due, deadline time.Time) {
	due = e.NextAfter(since)
	if due.IsZero() {
		return time.Time{}, time.Time{}
	}
	return due, due.Add(e.GraceAt(due))
}

// Missed reports whether, with the last run started at last, no run by now is a miss.
func (e Expectation) Missed(last, now time.Time) bool {
	_, deadline := e.Due(last)
	return !deadline.IsZero() && now.After(deadline)
}

// Resumed gives what came due while the server was down its grace again: the deadline to
// use, after a restart at up, for a run due at due whose deadline was deadline. A run not yet
// due at up keeps its deadline.
func (e Expectation) Resumed(due, deadline, up time.Time) time.Time {
	if due.After(up) {
		return deadline
	}
	if again := up.Add(e.GraceAt(due)); again.After(deadline) {
		return again
	}
	return deadline
}

// OverdueAt is when a run that started at start and has not ended becomes overdue (start
// plus MaxDuration); ok is false when the expectation has no max duration.
func (e Expectation) OverdueAt(start time.Time) (at time.Time, ok bool) {
	if e.MaxDuration <= 0 {
		return time.Time{}, false
	}
	return start.Add(e.MaxDuration), true
}

// Overdue reports whether a run that started at start and has not ended is overdue at now.
func (e Expectation) Overdue(start, now time.Time) bool {
	at, ok := e.OverdueAt(start)
	return ok && now.After(at)
}

// Verdict is what a completed run's duration says; its String is the incident kind.
type Verdict uint8

const (
	Fine Verdict = iota
	TooSlow
	TooFast
)

func (v Verdict) String() string {
	switch v {
	case TooSlow:
		return "slow"
	case TooFast:
		return "fast"
	}
	return "fine"
}

// CheckDuration judges a completed run's duration against MaxDuration and
// MinDuration: the band's rule, with the declared bounds as the band.
func (e Expectation) CheckDuration(d time.Duration) Verdict {
	return Band{Low: e.MinDuration, High: e.MaxDuration}.Check(d)
}

func clamp(d, lo, hi time.Duration) time.Duration {
	return max(lo, min(d, hi))
}
