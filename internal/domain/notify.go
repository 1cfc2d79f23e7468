package domain

import "slices"

// Kinds of notification a run can cause.
const (
	AlertFailed    = "failed"
	AlertRecovered = "recovered"
	AlertEvent     = "event"
)

// Alert decides whether a device is told about an event, and as what.
// previous is the status of the job's run before this one ("" when none).
// It returns "" when the device stays quiet.
func Alert(notify string, muted []string, ev *Event, previous string) string {
	if notify == NotifyOff || slices.Contains(muted, ev.Name) {
		return ""
	}
	switch {
	case ev.Status == StatusFailed:
		return AlertFailed
	case ev.Status == StatusCompleted && previous == StatusFailed:
		return AlertRecovered
	case notify == NotifyAll:
		return AlertEvent
	}
	return ""
}
