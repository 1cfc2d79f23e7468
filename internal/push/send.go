package push

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	webpush "github.com/SherClockHolmes/webpush-go"

	"github.com/observable-code/observable/internal/alerttext"
	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/retryafter"
	"github.com/observable-code/observable/internal/store"
)

// Outcomes reported through Options.Result.
const (
	ResultSent    = "sent"
	ResultGone    = "gone"
	ResultRetry   = "retry"
	ResultFailed  = "failed"
	ResultSkipped = "skipped"
)

const (
	// bookkeepingTimeout bounds the queue writes after a send (done, retry,
	// release), which outlive a stopping server's context.
	bookkeepingTimeout = 10 * time.Second
	// maxRetryAfter caps a push service's Retry-After (the TTL caps it
	// further): a year, so that a huge value cannot overflow a Duration.
	maxRetryAfter = 365 * 24 * time.Hour
)

// reply is what a push service answered.
type reply struct {
	status     int
	retryAfter time.Duration
	reason     string // the start of its body, for logs
}

// deliver sends one claimed job and records what became of it.
func (s *Service) deliver(ctx context.Context, job store.PushJob) {
	// Never the endpoint or the keys: the endpoint is a capability to push
	// to the phone, so logs name its host only.
	log := s.log.With("push_job", job.ID, "device", job.DeviceID, "host", hostOf(job.Sub.Endpoint), "attempt", job.Attempts)
	// Bookkeeping outlives ctx: a notification that went out must be marked
	// done even as the server stops, or it would be sent again.
	book, cancel := context.WithTimeout(context.WithoutCancel(ctx), bookkeepingTimeout)
	defer cancel()
	s.result(s.attempt(ctx, book, job, log))
}

func (s *Service) attempt(ctx, book context.Context, job store.PushJob, log *slog.Logger) string {
	if job.Sub.Endpoint == "" {
		return s.complete(book, job, log, ResultSkipped, "the device has no push subscription any more")
	}
	if err := s.CheckEndpoint(job.Sub.Endpoint); err != nil {
		log.Warn("push: the subscription's host is not allowed any more (was --push-allow changed?); notification dropped")
		return s.complete(book, job, log, ResultSkipped, "")
	}
	// The claim read the event with the job: no query of its own here.
	ev := job.Event
	if ev == nil && job.Kind != domain.AlertChannelOff {
		return s.complete(book, job, log, ResultSkipped, "the event is gone (retention)")
	}
	age := time.Since(alertTime(job))
	if age >= s.opts.TTL {
		return s.complete(book, job, log, ResultSkipped, "the event is older than the notification TTL")
	}
	if err := CheckKeys(job.Sub.P256dh, job.Sub.Auth); err != nil {
		log.Warn("push: the subscription's keys are unusable; the phone must subscribe again", "err", err)
		return s.complete(book, job, log, ResultFailed, "")
	}
	payload, err := buildMessage(job.Kind, ev, job.Incident)
	if err != nil {
		log.Error("push: cannot build the notification", "err", err)
		return s.complete(book, job, log, ResultFailed, "")
	}
	r, err := s.send(ctx, job, payload, s.opts.TTL-age)
	switch {
	case err != nil && ctx.Err() != nil:
		return s.release(book, job, log)
	case err != nil:
		return s.retryLater(book, job, log, 0, err.Error())
	case r.status >= 200 && r.status < 300:
		log.Debug("push: delivered", "status", r.status, "kind", job.Kind)
		return s.complete(book, job, log, ResultSent, "")
	case r.status == http.StatusNotFound || r.status == http.StatusGone:
		log.Info("push: the push service says the subscription is gone; dropped", "status", r.status)
		if err := s.store.DropPushEndpoint(book, job.DeviceID, job.Sub.Endpoint); err != nil {
			log.Error("push: cannot drop the subscription", "err", err)
		}
		return ResultGone
	case r.status == http.StatusTooManyRequests || r.status == http.StatusRequestTimeout || r.status >= 500:
		return s.retryLater(book, job, log, r.retryAfter, fmt.Sprintf("push service answered %d %s", r.status, r.reason))
	default:
		log.Warn("push: the push service refused the notification; not retrying", "status", r.status, "reason", r.reason, "hint", refusalHint(r.status))
		return s.complete(book, job, log, ResultFailed, "")
	}
}

// send makes one request to the subscription's push service.
func (s *Service) send(ctx context.Context, job store.PushJob, payload []byte, ttl time.Duration) (reply, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.SendTimeout)
	defer cancel()
	urgency := webpush.UrgencyNormal
	if job.Kind != domain.AlertEvent {
		urgency = webpush.UrgencyHigh
	}
	resp, err := webpush.SendNotificationWithContext(ctx, payload, &webpush.Subscription{
		Endpoint: job.Sub.Endpoint,
		Keys:     webpush.Keys{P256dh: job.Sub.P256dh, Auth: job.Sub.Auth},
	}, &webpush.Options{
		HTTPClient:      s.client,
		RecordSize:      recordSize,
		Subscriber:      s.sub,
		Topic:           pushTopic(job),
		TTL:             max(int(ttl/time.Second), 1),
		Urgency:         urgency,
		VAPIDPublicKey:  s.keys.Public,
		VAPIDPrivateKey: s.keys.Private,
	})
	if err != nil {
		return reply{}, sendError(ctx, err, s.opts.SendTimeout)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return reply{
		status:     resp.StatusCode,
		retryAfter: min(retryafter.Parse(resp.Header.Get("Retry-After"), time.Now(), maxRetryAfter), s.opts.TTL),
		reason:     alerttext.Clip(strings.TrimSpace(alerttext.Clean(string(body))), 200),
	}, nil
}

// sendError describes a failed request without the endpoint that Go's
// url.Error would quote in full.
func sendError(ctx context.Context, err error, timeout time.Duration) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("no answer within %s", timeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s request failed: %w", ue.Op, ue.Err)
	}
	return err
}

// complete removes the job from the queue and returns result.
func (s *Service) complete(book context.Context, job store.PushJob, log *slog.Logger, result, why string) string {
	if why != "" {
		log.Debug("push: nothing to send", "why", why)
	}
	if err := s.store.CompletePushJob(book, job.ID); err != nil {
		log.Error("push: cannot mark the job done; it may be sent again when its lease ends", "err", err)
	}
	return result
}

// retryLater puts the job back for a later attempt, or gives it up when it
// has had its tries or would arrive too late to matter.
func (s *Service) retryLater(book context.Context, job store.PushJob, log *slog.Logger, after time.Duration, reason string) string {
	if job.Attempts >= s.opts.MaxAttempts {
		log.Warn("push: giving up on a notification", "attempts", job.Attempts, "last_error", reason)
		return s.complete(book, job, log, ResultFailed, "")
	}
	delay := max(s.backoff(job.Attempts), after)
	at := time.Now().Add(delay)
	if at.After(alertTime(job).Add(s.opts.TTL)) {
		log.Warn("push: giving up on a notification that could only arrive after its TTL", "last_error", reason)
		return s.complete(book, job, log, ResultFailed, "")
	}
	if err := s.store.RetryPushJob(book, job.ID, at, reason); err != nil {
		log.Error("push: cannot reschedule the job; it is retried when its lease ends", "err", err)
	}
	log.Info("push: will retry", "in", delay.Round(time.Millisecond), "reason", reason)
	return ResultRetry
}

// release hands a job interrupted by shutdown back to the queue at once, for
// this or another instance to send.
func (s *Service) release(book context.Context, job store.PushJob, log *slog.Logger) string {
	if err := s.store.RetryPushJob(book, job.ID, time.Now(), "interrupted by shutdown"); err != nil {
		log.Warn("push: cannot release the job; it is retried when its lease ends", "err", err)
	}
	return ResultRetry
}

// postpone puts back a job whose push service is stalled, to be claimed
// again once its requests have had time to finish. The claim counted as an
// attempt, so the delay follows the retry schedule: a long outage gives the
// job as many hours of tries as failed requests would.
func (s *Service) postpone(ctx context.Context, job store.PushJob) {
	book, cancel := context.WithTimeout(context.WithoutCancel(ctx), bookkeepingTimeout)
	defer cancel()
	at := time.Now().Add(max(s.opts.SendTimeout, s.backoff(job.Attempts)))
	if err := s.store.RetryPushJob(book, job.ID, at, "waiting for a stalled push service"); err != nil {
		s.log.Warn("push: cannot put back a job; it is retried when its lease ends", "push_job", job.ID, "err", err)
	}
}

// backoff is RetryBase doubled per attempt up to RetryMax, with jitter (half
// to all of it) so that jobs failed together do not retry together.
func (s *Service) backoff(attempt int) time.Duration {
	d := s.opts.RetryBase
	for i := 1; i < attempt && d < s.opts.RetryMax; i++ {
		d *= 2
	}
	d = min(d, s.opts.RetryMax)
	return d/2 + rand.N(d/2+1)
}

func refusalHint(status int) string {
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden:
		return "the VAPID signature was refused: the subscription was probably made with another server key (a new database?), or the push contact is not accepted; the phone subscribes again when the app is opened"
	case http.StatusRequestEntityTooLarge:
		return "the push service found the notification too large"
	case http.StatusBadRequest:
		return "the push service found the request malformed"
	}
	return "unexpected answer"
}
