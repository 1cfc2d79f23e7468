package domain

import (
	"time"
)

// Session is one user's space. Its secret key is never kept: only its hash.
type Session struct {
	ID        int64
	CreatedAt Time
	// Host is the machine `observable setup` ran on, when the CLI said.
	Host string
}

// SessionStatus is what GET /api/v1/session answers.
type SessionStatus struct {
	Paired      bool     `json:"paired"`
	Devices     []Device `json:"devices"`
	EventCount  int64    `json:"event_count"`
	LastEventAt Time     `json:"last_event_at"`
}

// Pairing is a single-use, expiring invitation for a phone to join a session.
type Pairing struct {
	CodeHash  []byte
	SessionID int64
	CreatedAt Time
	ExpiresAt Time
	// Replace unpairs every other device of the session when claimed.
	Replace bool
	UsedAt  Time
}

// Usable reports whether the pairing can still be claimed at now.
func (p *Pairing) Usable(now time.Time) bool {
	return p.UsedAt.IsZero() && now.Before(p.ExpiresAt.Time)
}

// Notification rules a device can choose.
const (
	NotifyFailures = "failures"
	NotifyAll      = "all"
	NotifyOff      = "off"
)

// ValidNotify reports whether s is one of the rules.
func ValidNotify(s string) bool {
	return s == NotifyFailures || s == NotifyAll || s == NotifyOff
}

// PushSubscription is the browser's subscription (the Push API's JSON).
type PushSubscription struct {
	Endpoint string `json:"endpoint"`
	P256dh   string `json:"p256dh"`
	Auth     string `json:"auth"`
}

// Device is a paired phone (or any client holding a device token).
type Device struct {
	ID         string `json:"id"`
	SessionID  int64  `json:"-"`
	Name       string `json:"name"`
	PairedAt   Time   `json:"paired_at"`
	LastSeenAt Time   `json:"last_seen_at"`
	HasPush    bool   `json:"push"`
	// Settings, served by GET /api/v1/device only.
	Notify string   `json:"-"`
	Muted  []string `json:"-"`
}

// DeviceSettings is the body of GET and PATCH /api/v1/device.
type DeviceSettings struct {
	Name   string   `json:"name"`
	Notify string   `json:"notify"`
	Muted  []string `json:"muted"`
}

// Job summarises every retained run of one event name.
type Job struct {
	Name     string      `json:"name"`
	Last     StoredEvent `json:"last"`
	Runs     int64       `json:"runs"`
	Failures int64       `json:"failures"`
	P50MS    *float64    `json:"p50_ms"`
	P95MS    *float64    `json:"p95_ms"`

	// The job model (v1.1): docs/jobs.md.
	State        string     `json:"state"`
	Expect       *JobExpect `json:"expect"`
	Incident     *Incident  `json:"incident"`
	Paused       bool       `json:"paused"`
	SnoozedUntil *Time      `json:"snoozed_until"`
	Model        JobModel   `json:"-"`
}
