// Package store defines the storage the server needs, as one interface that
// both the SQLite and the PostgreSQL store satisfy (see package sqlstore and
// the conformance suite in storetest).
package store

import (
	"context"
	"time"

	"github.com/observable-code/observable/internal/domain"
)

// ErrUnavailable wraps errors that mean the database cannot be reached now:
// the request may be retried later.
var ErrUnavailable error = &domain.Error{Code: domain.EDatabaseUnavailable,
	Message: "the database is unavailable; nothing was stored, retry in a few seconds"}

// ErrTooManyJobs is in Append.Err when the request's events would give its
// session more job names than the store's limit (JobLimiter).
var ErrTooManyJobs error = &domain.Error{Code: domain.ETooManyJobs, Message: "too many jobs"}

// JobLimiter is implemented by stores that cap a session's job names:
// events of a new name past max are refused (Append.Err wraps
// ErrTooManyJobs); events of the session's existing jobs always pass.
// 0 is no limit. Set it before the store is used.
type JobLimiter interface {
	SetMaxJobsPerSession(max int)
}

// DeviceLimiter is implemented by stores that cap a session's paired
// devices: a claim past max is refused (domain.ETooManyDevices) unless its
// pairing replaces the others. 0 is no limit. Set it before the store is used.
type DeviceLimiter interface {
	SetMaxDevicesPerSession(max int)
}

// ErrDiskFull wraps errors that mean the database's disk is full: nothing
// was written, and writes succeed again once space is freed.
var ErrDiskFull error = &domain.Error{Code: domain.EDiskFull,
	Message: "the server's database disk is full; nothing was stored. Retry later; the server's operator must free space on the database's disk"}

// Store is everything the server keeps. Secrets arrive already hashed.
// Every method is safe for concurrent use.
type Store interface {
	Sessions
	Devices
	Events
	PushQueue
	Pings
	JobModel
	Channels
	// Ping checks that the database answers; after a write failed for a
	// full disk it also tries a small write (ErrDiskFull while that fails).
	Ping(ctx context.Context) error
	Close() error
}

// JobModel is what the job model (issue 11, docs/jobs.md) adds beyond the
// summaries Events keeps: the user's settings of a job, its incidents, and
// the evaluator's deadlines.
type JobModel interface {
	// UpdateJob applies PATCH /api/v1/jobs/{name} at now and returns the job
	// (domain.ErrNotFound when the session has no such job).
	UpdateJob(ctx context.Context, sessionID int64, name string, p domain.JobPatch, now time.Time) (domain.Job, error)
	// Incidents is a job's incident history, newest first.
	Incidents(ctx context.Context, sessionID int64, name string, limit int) ([]domain.Incident, error)
	// EvaluateJobs takes up to limit jobs whose next deadline is at or before
	// now (from the deadline index; on PostgreSQL rows another instance holds
	// are skipped), opens their missed or overdue incidents and queues the
	// alerts, in one transaction. up is when this server started (what came
	// due while it was down gets its grace again). It returns how many jobs it
	// looked at and how many alerts it queued.
	EvaluateJobs(ctx context.Context, now, up time.Time, limit int) (jobs, alerts int, err error)
	// NextDeadline is the earliest deadline of any job (ok false: none).
	NextDeadline(ctx context.Context) (at time.Time, ok bool, err error)
}

// Sessions holds sessions and their pairings.
type Sessions interface {
	CreateSession(ctx context.Context, keyHash []byte, host string, now time.Time) (domain.Session, error)
	// SessionByKey finds a session by the hash of its key (ErrNotFound).
	SessionByKey(ctx context.Context, keyHash []byte) (domain.Session, error)
	Session(ctx context.Context, id int64) (domain.Session, error)
	SessionStatus(ctx context.Context, id int64) (domain.SessionStatus, error)
	CreatePairing(ctx context.Context, p domain.Pairing) error
	// CreateSessionWithPairing stores a new session and its first pairing
	// (p's SessionID is filled in) in one transaction: both or neither.
	CreateSessionWithPairing(ctx context.Context, keyHash []byte, host string, now time.Time, p domain.Pairing) (domain.Session, error)
	// Pairing reads a pairing without consuming it (ErrNotFound).
	Pairing(ctx context.Context, codeHash []byte) (domain.Pairing, error)
	// ClaimPairing consumes a usable pairing and adds the device in one
	// transaction: ErrNotFound for an unknown code, ErrGone for a used or
	// expired one. A replacing pairing removes the session's other devices.
	ClaimPairing(ctx context.Context, codeHash []byte, d domain.Device, tokenHash []byte, now time.Time) (domain.Device, error)
	// ClaimPairingAgain is ClaimPairing by a phone that was device previous:
	// if that device is of the pairing's session, it is removed in the same
	// transaction (before the device limit counts), so the phone takes its
	// own place; otherwise previous is left alone.
	ClaimPairingAgain(ctx context.Context, codeHash []byte, d domain.Device, tokenHash []byte, previous string, now time.Time) (domain.Device, error)
}

// Devices holds paired devices and their settings.
type Devices interface {
	DeviceByToken(ctx context.Context, tokenHash []byte) (domain.Device, error)
	// TouchDevice records that the device was seen at now.
	TouchDevice(ctx context.Context, deviceID string, now time.Time) error
	UpdateDevice(ctx context.Context, deviceID string, s domain.DeviceSettings) error
	DeleteDevice(ctx context.Context, deviceID string) error
	// SetPush stores the device's push subscription; nil removes it.
	SetPush(ctx context.Context, deviceID string, sub *domain.PushSubscription) error
}

// Append is one request's events for AppendEvents. The caller fills
// SessionID, Events (validated) and ReceivedAt; the store fills Stored,
// Duplicates and Pushes.
type Append struct {
	SessionID  int64
	Events     []domain.Event
	ReceivedAt time.Time

	Stored     []domain.StoredEvent
	Duplicates int
	// Pushes counts the notifications the events queued.
	Pushes int
	// Channels counts the channel messages the events queued.
	Channels int
	// Err, set by the store, refuses this request alone (a limit it would
	// pass, such as the session's job count) while the others of the same
	// commit are stored; nothing of it was stored.
	Err error
}

// EventQuery selects events for ListEvents, newest first.
type EventQuery struct {
	Limit  int
	Before int64 // only events with a smaller seq; 0 for no bound
	Name   string
	Status string
}

// Events holds events and the job summaries derived from them.
type Events interface {
	// AppendEvents stores every Append in one transaction (group commit),
	// giving each new event the next seq of its session (seqs of a session
	// grow by one, without gaps) and skipping events whose client id the
	// session already has. It also updates job summaries and queues the
	// push notifications that devices' rules ask for.
	AppendEvents(ctx context.Context, batch []*Append) error
	ListEvents(ctx context.Context, sessionID int64, q EventQuery) ([]domain.StoredEvent, error)
	// EventsAfter returns up to limit events with seq > after, oldest first.
	EventsAfter(ctx context.Context, sessionID, after int64, limit int) ([]domain.StoredEvent, error)
	Event(ctx context.Context, sessionID, seq int64) (domain.StoredEvent, error)
	// Jobs summarises the session's jobs, most recently run first: each
	// job's Last is a summary (no metadata, long texts cut: see
	// sqlstore.SummaryTextChars), so the list stays small whatever the
	// events carry.
	Jobs(ctx context.Context, sessionID int64) ([]domain.Job, error)
	// Job is one job with its last event in full (ErrNotFound).
	Job(ctx context.Context, sessionID int64, name string) (domain.Job, error)
	// PruneEvents deletes up to limit events received before cutoff, keeping
	// job summaries consistent, and returns how many it deleted.
	PruneEvents(ctx context.Context, cutoff time.Time, limit int) (int64, error)
	// PrunePairings deletes pairings that expired before cutoff.
	PrunePairings(ctx context.Context, cutoff time.Time) (int64, error)
}

// PushJob is one notification waiting to be delivered to one device.
type PushJob struct {
	ID        int64
	DeviceID  string
	SessionID int64
	Seq       int64
	Kind      string // an incident's kind, domain.AlertRecovered or AlertEvent
	Attempts  int
	Sub       domain.PushSubscription
	// Event is what the notification is about, read by the claim itself so
	// that delivery needs no query of its own: only what a message shows
	// (no metadata, source or traceback). nil when the event is gone
	// (retention).
	Event *domain.StoredEvent
	// Incident is the incident an alert is about (kind failed, missed,
	// overdue, slow, fast or recovered), nil for an AlertEvent.
	Incident *domain.Incident
}

// PushQueue is the database-backed queue of push notifications.
type PushQueue interface {
	// ClaimPushJobs leases up to limit due jobs until now+lease, each with
	// its subscription and event (PushJob.Event); a job is handed to one
	// worker at a time, whichever instance it runs in.
	ClaimPushJobs(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]PushJob, error)
	CompletePushJob(ctx context.Context, id int64) error
	RetryPushJob(ctx context.Context, id int64, at time.Time, lastErr string) error
	// DropPushEndpoint removes a subscription the push service says is gone,
	// and the jobs queued for it.
	DropPushEndpoint(ctx context.Context, deviceID, endpoint string) error
	// Setting reads a server-wide value; SetSettingOnce writes it unless it
	// exists and returns the value that won (VAPID keys shared by instances).
	Setting(ctx context.Context, key string) (string, error)
	SetSettingOnce(ctx context.Context, key, value string) (string, error)
}

// Pings holds Healthchecks-style ping UUIDs (as hashes) and the runs
// started by /start that have not ended yet.
type Pings interface {
	// PingCheck finds the session and job of a ping UUID's hash (ErrNotFound).
	PingCheck(ctx context.Context, uuidHash []byte) (int64, string, error)
	// PutPingChecks records ping UUID hashes of a session's jobs in one
	// transaction; recording one again is a no-op.
	PutPingChecks(ctx context.Context, sessionID int64, checks []PingCheck, now time.Time) error
	StartPingRun(ctx context.Context, sessionID int64, name, rid string, at time.Time) error
	// EndPingRun takes the start with rid, or without rid the job's latest.
	EndPingRun(ctx context.Context, sessionID int64, name, rid string) (time.Time, bool, error)
	PrunePingStarts(ctx context.Context, before time.Time) error
}

// PingCheck is a job's ping UUID, as its SHA-256.
type PingCheck struct {
	UUIDHash []byte
	Name     string
}

// Listener is implemented by stores shared by several server instances: it
// delivers every instance's notices until ctx ends, reconnecting as needed.
type Listener interface {
	Listen(ctx context.Context, fn func(domain.Notice)) error
}
