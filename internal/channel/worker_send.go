package channel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"strings"
	"time"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/store"
)

const (
	// bookkeepingTimeout bounds the queue writes after a send, which
	// outlive a stopping server's context.
	bookkeepingTimeout = 10 * time.Second
)

// readyJob is a claimed job whose secrets are open, ready to send.
type readyJob struct {
	job    store.ChannelJob
	sec    domain.ChannelSecrets
	sender Sender
	msg    Message
	// host is where it goes, the key of per-host concurrency and pacing:
	// the URL's host:port, or the SMTP relay for every email.
	host     string
	slackURL string    // a Slack channel's webhook, paced on its own
	at       time.Time // when the pacer lets it go
	log      *slog.Logger
}

// prepare opens the job's secrets and builds its message. A job that cannot
// be sent (its secrets unreadable, its type not set up, past the TTL) is
// settled here and ok is false.
func (w *Worker) prepare(ctx context.Context, job store.ChannelJob) (p readyJob, ok bool) {
	c := job.Channel
	// Never a URL, topic, token or address: logs name the channel and its
	// host only.
	log := w.log.With("channel", c.ID, "type", c.Type, "channel_job", job.ID, "attempt", job.Attempts)
	p = readyJob{job: job, log: log}
	if age := w.o.Now().Sub(job.QueuedAt); age >= w.o.TTL {
		if job.Attempts <= 1 {
			// Never tried (the server was down): the destination is not to
			// blame, so the channel's failures are left alone.
			log.Info("channels: message older than the TTL before its first try; dropped", "age", age.Round(time.Second))
			w.complete(ctx, p, ResultExpired)
			return p, false
		}
		w.giveUp(ctx, p, fmt.Sprintf("Not delivered within %s of retries", spanText(w.o.TTL)))
		return p, false
	}
	sec, err := w.o.Sealer.Open(c.ID, c.Sealed)
	if err != nil {
		log.Error("channels: cannot open a channel's secrets; was --key-file changed or lost?", "err", err)
		w.giveUp(ctx, p, "This server cannot read the channel's settings any more (its key file changed): remove the channel and add it again")
		return p, false
	}
	p.sec = sec
	p.sender = w.o.Senders[c.Type]
	if p.sender == nil {
		why := fmt.Sprintf("This server cannot send %s messages", c.Type)
		if c.Type == domain.ChannelEmail {
			why = "Email is not set up on this server any more (--smtp-url): ask its operator"
		}
		log.Warn("channels: no sender for the channel's type; given up", "why", why)
		w.giveUp(ctx, p, why)
		return p, false
	}
	p.host, p.slackURL = destinationOf(c.Type, sec)
	p.log = log.With("host", p.host)
	p.msg = NewMessage(job, sec, w.o.PublicURL)
	return p, true
}

// destination is the pacing key of a channel: the host:port its messages go
// to (every email goes through the one SMTP relay).
func destinationOf(typ string, sec domain.ChannelSecrets) (host, slackURL string) {
	raw := sec.URL
	switch typ {
	case domain.ChannelEmail:
		return "smtp", ""
	case domain.ChannelNtfy:
		raw = sec.Server
		if raw == "" {
			raw = DefaultNtfyServer
		}
	case domain.ChannelSlack:
		slackURL = sec.URL
	}
	if u, err := url.Parse(raw); err == nil && u.Host != "" {
		return strings.ToLower(u.Host), slackURL
	}
	return "?", slackURL
}

// deliver waits for the job's send time, sends it and records what became
// of it.
func (w *Worker) deliver(ctx context.Context, p readyJob) {
	if pause := p.at.Sub(w.o.Now()); pause > 0 {
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			w.postpone(ctx, p, 0)
			return
		case <-t.C:
		}
	}
	// A third of the lease bounds a send whatever its sender does (their own
	// timeouts are shorter): a job waits at most a third for its time, sends
	// within a third, and is marked done before another instance may take it.
	sendCtx, cancel := context.WithTimeout(ctx, w.o.Lease/3)
	err := p.sender.Send(sendCtx, p.job.Channel, p.sec, p.msg)
	cancel()
	var de *DeliveryError
	switch {
	case err == nil:
		p.log.Debug("channels: delivered", "kind", p.job.Kind)
		w.complete(ctx, p, ResultSent)
	case ctx.Err() != nil:
		// Shutting down: whether it arrived is unknown; sending it again
		// (here or on another instance) is better than losing it.
		w.postpone(ctx, p, 0)
	case errors.As(err, &de) && de.Permanent:
		w.giveUp(ctx, p, de.Message)
	case errors.As(err, &de):
		w.retryLater(ctx, p, de.RetryAfter, de.Message)
	default:
		// Not a DeliveryError: its text may quote a URL, which is a secret.
		p.log.Error("channels: unexpected send error", "err_type", fmt.Sprintf("%T", err))
		w.retryLater(ctx, p, 0, "The message could not be sent (an internal error); it will be tried again")
	}
}

// book is a context for the queue writes after a send: they outlive ctx, so
// that a message that went out is marked done even as the server stops.
func bookkeeping(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), bookkeepingTimeout)
}

func (w *Worker) complete(ctx context.Context, p readyJob, result string) {
	b, cancel := bookkeeping(ctx)
	defer cancel()
	if err := w.o.Store.CompleteChannelJob(b, p.job.ID, p.job.Channel.ID); err != nil {
		p.log.Error("channels: cannot mark the message done; it may be sent again when its lease ends", "err", err)
	}
	w.o.Result(result)
}

// giveUp records the failure on the channel, which may turn it off.
func (w *Worker) giveUp(ctx context.Context, p readyJob, why string) {
	b, cancel := bookkeeping(ctx)
	defer cancel()
	off, err := w.o.Store.FailChannelJob(b, p.job.ID, p.job.Channel.ID, why, w.o.Now())
	if err != nil {
		p.log.Error("channels: cannot record a failed delivery; it is tried again when its lease ends", "err", err)
		w.o.Result(ResultRetry)
		return
	}
	p.log.Warn("channels: gave up on a message", "kind", p.job.Kind, "reason", why)
	if off {
		p.log.Warn("channels: the channel turned itself off after failing too long; the session's phones are told",
			"session", p.job.Channel.SessionID)
		w.o.TurnedOff()
	}
	w.o.Result(ResultFailed)
}

// retryLater puts the job back for a later attempt, or gives it up when it
// has had its tries or could only arrive past the TTL.
func (w *Worker) retryLater(ctx context.Context, p readyJob, after time.Duration, reason string) {
	if p.job.Attempts >= w.o.MaxAttempts {
		w.giveUp(ctx, p, fmt.Sprintf("%s (gave up after %d tries)", reason, p.job.Attempts))
		return
	}
	now := w.o.Now()
	delay := max(w.backoff(p.job.Attempts), min(after, w.o.TTL))
	at := now.Add(delay)
	if at.After(p.job.QueuedAt.Add(w.o.TTL)) {
		w.giveUp(ctx, p, fmt.Sprintf("%s (not delivered within %s)", reason, spanText(w.o.TTL)))
		return
	}
	b, cancel := bookkeeping(ctx)
	defer cancel()
	if err := w.o.Store.RetryChannelJob(b, p.job.ID, at, reason); err != nil {
		p.log.Error("channels: cannot reschedule the message; it is retried when its lease ends", "err", err)
	}
	p.log.Info("channels: will retry", "in", delay.Round(time.Millisecond), "reason", reason)
	w.o.Result(ResultRetry)
}

// postpone hands a job that was not sent back to the queue, due after d:
// one waiting for a busy host, or interrupted by shutdown (d 0), for this
// or another instance to send.
func (w *Worker) postpone(ctx context.Context, p readyJob, d time.Duration) {
	b, cancel := bookkeeping(ctx)
	defer cancel()
	if err := w.o.Store.PostponeChannelJob(b, p.job.ID, w.o.Now().Add(d)); err != nil {
		p.log.Warn("channels: cannot put a message back; it is retried when its lease ends", "err", err)
	}
}

// backoff is RetryBase doubled per attempt up to RetryMax, with full jitter
// (anywhere from a tenth to all of it) so that messages failed together do
// not retry together.
func (w *Worker) backoff(attempt int) time.Duration {
	d := w.o.RetryBase
	for i := 1; i < attempt && d < w.o.RetryMax; i++ {
		d *= 2
	}
	d = min(d, w.o.RetryMax)
	return d/10 + rand.N(d-d/10+1)
}

// spanText says a duration as a person would: "24 h", "30 min", "45 s".
func spanText(d time.Duration) string {
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%d h", d/time.Hour)
	case d >= time.Minute && d%time.Minute == 0:
		return fmt.Sprintf("%d min", d/time.Minute)
	}
	return d.Round(time.Second).String()
}
