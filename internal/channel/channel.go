// Package channel sends a session's alerts to the places besides the phone
// that the user set up (issue 14, docs/channels.md): generic webhooks,
// Slack, Discord, ntfy and email. It checks a channel's fields, seals its
// secrets, formats each type's message, reaches only the hosts it may
// (Guard), and delivers what the store queued (Worker).
package channel

import (
	"context"
	"fmt"
	"time"

	"github.com/observable-code/observable/internal/domain"
)

// Message is what every type formats: one alert, test or confirmation, in
// the words and links the phone's own notification would use.
type Message struct {
	Kind     string // an incident's kind, domain.AlertRecovered, AlertEvent, ChannelKindTest or ChannelKindConfirm
	Job      string // "" for test and confirm
	Seq      int64  // the run's event, 0 when none
	Title    string // one line: "nightly_sync failed"
	Body     string // plain text: what happened, error type and message, duration
	Event    *domain.StoredEvent
	Incident *domain.Incident
	At       time.Time // when it happened (the event's or the incident's time)
	// URL opens the run (or the job, or the app) on the phone: the
	// server's public URL plus the app's path.
	URL string
	// ConfirmURL is an email channel's confirmation link (kind confirm).
	ConfirmURL string
}

// Sender delivers one message to one channel's destination. Errors are
// *DeliveryError when the destination answered or could not be reached.
type Sender interface {
	Send(ctx context.Context, c domain.Channel, sec domain.ChannelSecrets, m Message) error
}

// DeliveryError is a failed delivery, in words the phone shows.
type DeliveryError struct {
	// Message says what happened and, where it can, what to do: "Slack
	// answered 404: the webhook was deleted; add it again".
	Message string
	// Permanent: trying again will not help (a 4xx other than 408 and 429,
	// a refused address, a bad configuration).
	Permanent bool
	// RetryAfter is the destination's own wait (429 or 503 Retry-After), 0
	// when it named none.
	RetryAfter time.Duration
}

func (e *DeliveryError) Error() string { return e.Message }

// permanent and temporary make DeliveryErrors.
func permanent(format string, a ...any) error {
	return &DeliveryError{Message: fmt.Sprintf(format, a...), Permanent: true}
}

func temporary(format string, a ...any) error {
	return &DeliveryError{Message: fmt.Sprintf(format, a...)}
}
