package domain

// Kinds of notification a run can cause.
const (
	AlertFailed    = "failed"
	AlertRecovered = "recovered"
	AlertEvent     = "event"
)
