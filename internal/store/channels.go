package store

import (
	"context"
	"time"

	"github.com/observable-code/observable/internal/domain"
)

// ChannelJob is one message waiting to be delivered to one channel: queued
// in the commit that stores its event (or by the evaluator, "Send a test",
// or an email channel's creation), in the same way as a PushJob.
type ChannelJob struct {
	ID       int64
	Channel  domain.Channel // as it was when claimed, Sealed included
	Seq      int64          // 0 for test and confirm messages, and alerts without a run
	Kind     string         // an incident's kind, AlertRecovered, AlertEvent, ChannelKindTest or ChannelKindConfirm
	Attempts int            // this claim included
	// Event is what the message is about, read by the claim (nil when there
	// is none or it was pruned); Incident the incident an alert is about,
	// ID included: email threads by it.
	Event    *domain.StoredEvent
	Incident *domain.Incident
	QueuedAt time.Time
}

// Channels keeps a session's channels and their delivery queue. Secrets
// arrive sealed; the store never sees them in clear.
type Channels interface {
	// CreateChannel adds c (c.ID set by the caller; c.Sealed and c.Shown
	// made by package channel), refusing past domain.MaxChannelsPerSession
	// with a domain.Error of code ETooManyChannels. An email channel
	// (Verified false) gets its confirmation message queued in the same
	// transaction.
	CreateChannel(ctx context.Context, c domain.Channel, confirmHash []byte, now time.Time) error
	// Channels lists a session's channels, oldest first.
	ListChannels(ctx context.Context, sessionID int64) ([]domain.Channel, error)
	// GetChannel is one of the session's channels (domain.ErrNotFound).
	GetChannel(ctx context.Context, sessionID int64, id string) (domain.Channel, error)
	// UpdateChannel applies p; setting Notify to something other than off
	// on a channel that turned itself off turns it on again (DisabledAt and
	// Failures reset).
	UpdateChannel(ctx context.Context, sessionID int64, id string, p domain.ChannelPatch) (domain.Channel, error)
	// DeleteChannel removes the channel and its queued messages.
	DeleteChannel(ctx context.Context, sessionID int64, id string) error
	// ConfirmChannel marks verified the email channel whose confirmation
	// token hashes to tokenHash (domain.ErrNotFound when none does).
	ConfirmChannel(ctx context.Context, tokenHash []byte, now time.Time) (domain.Channel, error)
	// ChannelByConfirmHash is the channel waiting for the confirmation token
	// that hashes to tokenHash, unconfirmed (domain.ErrNotFound when none).
	ChannelByConfirmHash(ctx context.Context, tokenHash []byte) (domain.Channel, error)
	// QueueChannelMessage queues a message of kind (test, confirm) for one
	// channel of the session.
	QueueChannelMessage(ctx context.Context, sessionID int64, id, kind string, now time.Time) error

	// ClaimChannelJobs leases up to limit due jobs until now+lease, with
	// their channel, event and incident, in one statement; on PostgreSQL
	// with SKIP LOCKED, so that instances never share a job.
	ClaimChannelJobs(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]ChannelJob, error)
	// CompleteChannelJob removes a delivered job and resets its channel's
	// Failures (and LastError when ok).
	CompleteChannelJob(ctx context.Context, id int64, channelID string) error
	// RetryChannelJob releases a job to be tried again at at.
	RetryChannelJob(ctx context.Context, id int64, at time.Time, lastErr string) error
	// PostponeChannelJob releases a job that was claimed but not tried
	// (its destination's turn had not come, or the instance stopped), due at
	// at: the claim's attempt is given back.
	PostponeChannelJob(ctx context.Context, id int64, at time.Time) error
	// FailChannelJob gives a job up: the channel's LastError becomes
	// message, Failures grows by one, and once it reaches
	// domain.ChannelDisableAfter with the first of them at least
	// domain.ChannelDisableSpan ago, the channel turns itself off (notify
	// off, DisabledAt now) and the session's phones get a push of kind
	// domain.AlertChannelOff. It reports whether the channel was turned off.
	FailChannelJob(ctx context.Context, id int64, channelID string, message string, now time.Time) (bool, error)
}
