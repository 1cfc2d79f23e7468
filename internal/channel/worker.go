package channel

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/observable-code/observable/internal/store"
)

// Store is what the worker needs of the database: the channel queue that
// the commit (and the evaluator, "Send a test", an email channel's
// creation) fills.
type Store interface {
	ClaimChannelJobs(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]store.ChannelJob, error)
	CompleteChannelJob(ctx context.Context, id int64, channelID string) error
	RetryChannelJob(ctx context.Context, id int64, at time.Time, lastErr string) error
	PostponeChannelJob(ctx context.Context, id int64, at time.Time) error
	FailChannelJob(ctx context.Context, id int64, channelID string, message string, now time.Time) (bool, error)
}

// Defaults of the WorkerOptions whose zero value means "choose for me"
// (docs/channels.md, "Retries and auto-off").
const (
	DefaultLease        = 60 * time.Second
	DefaultMaxAttempts  = 10
	DefaultRetryBase    = 10 * time.Second
	DefaultRetryMax     = 30 * time.Minute
	DefaultTTL          = 24 * time.Hour
	DefaultConcurrency  = 16
	DefaultPerHost      = 2
	DefaultHostRate     = 5 // messages per second to one host
	DefaultSlackRate    = 1 // per Slack webhook URL: Slack's documented limit
	DefaultPollInterval = 5 * time.Second
)

// Outcomes reported through WorkerOptions.Result.
const (
	ResultSent    = "sent"
	ResultRetry   = "retry"
	ResultFailed  = "failed"  // given up: the channel's last_error says why
	ResultExpired = "expired" // past the TTL before its first try
)

// WorkerOptions configure a Worker. Store, Senders and Sealer are
// required; every other zero value picks the default above.
type WorkerOptions struct {
	Store   Store
	Senders map[string]Sender // by channel type
	Sealer  *Sealer
	// PublicURL is the server's address as phones see it: the links of the
	// messages.
	PublicURL string
	Logger    *slog.Logger
	// Result is told the outcome of every job (ResultSent…). It is called
	// from several goroutines at once.
	Result func(result string)
	// TurnedOff is called when a give-up turned a channel off, which
	// queued a push of kind domain.AlertChannelOff: the push worker's Wake.
	TurnedOff func()
	// Now is the queue's clock: due times, the TTL, give-ups. Tests move
	// it; the pacing of sends to a host (HostRate) reads it too but waits
	// in real time.
	Now func() time.Time

	Lease       time.Duration
	MaxAttempts int
	// RetryBase is the first retry delay; it doubles per attempt up to
	// RetryMax, with full jitter. A destination's Retry-After wins when
	// longer.
	RetryBase time.Duration
	RetryMax  time.Duration
	// TTL is how long an alert is worth delivering after it came to be;
	// older jobs are given up.
	TTL time.Duration
	// Concurrency bounds the jobs held at once (sending or waiting for
	// their host); PerHost the sends in flight to one host.
	Concurrency int
	PerHost     int
	// HostRate and SlackRate are messages per second to one host and to
	// one Slack webhook URL.
	HostRate  float64
	SlackRate float64
	// PollInterval is how often the worker looks for retries that came due
	// and for jobs other instances queued.
	PollInterval time.Duration
}

// Worker delivers the channel queue. Ingest never waits on it: it only
// calls Wake, which never blocks.
type Worker struct {
	o       WorkerOptions
	log     *slog.Logger
	wake    chan struct{}
	runOnce sync.Once
}

// NewWorker checks o and fills its defaults; Run starts the worker.
func NewWorker(o WorkerOptions) (*Worker, error) {
	if o.Store == nil || o.Sealer == nil || o.Senders == nil {
		return nil, errors.New("channel worker: a store, a sealer and senders are required")
	}
	workerDefaults(&o)
	return &Worker{o: o, log: o.Logger, wake: make(chan struct{}, 1)}, nil
}

func workerDefaults(o *WorkerOptions) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Result == nil {
		o.Result = func(string) {}
	}
	if o.TurnedOff == nil {
		o.TurnedOff = func() {}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	set(&o.Lease, DefaultLease)
	set(&o.RetryBase, DefaultRetryBase)
	set(&o.RetryMax, DefaultRetryMax)
	set(&o.TTL, DefaultTTL)
	set(&o.PollInterval, DefaultPollInterval)
	setInt := func(n *int, v int) {
		if *n <= 0 {
			*n = v
		}
	}
	setInt(&o.MaxAttempts, DefaultMaxAttempts)
	setInt(&o.Concurrency, DefaultConcurrency)
	setInt(&o.PerHost, DefaultPerHost)
	o.PerHost = min(o.PerHost, o.Concurrency)
	if o.HostRate <= 0 {
		o.HostRate = DefaultHostRate
	}
	if o.SlackRate <= 0 {
		o.SlackRate = DefaultSlackRate
	}
}

// Wake tells the worker that jobs may be due. It never blocks.
func (w *Worker) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run delivers jobs until ctx ends, then waits for the sends in flight and
// hands back the jobs that had not started. It is meant to be called once.
func (w *Worker) Run(ctx context.Context) {
	w.runOnce.Do(func() { w.run(ctx) })
}

// workerLoop is the state of one Run; only its goroutine touches it.
//
// Each claimed job gets its send time from the pacer at once. A job that
// may go soon is held in memory: it waits for one of its host's PerHost
// send slots, then for its time. One that would wait long (a burst to a
// Slack URL at one message a second), or whose host already holds
// hostCap jobs (a slow destination), goes back to the queue: due at its
// send time, which it keeps when it is claimed again, so that a burst costs
// each job one extra claim and no slot is counted twice. This bounds what
// one destination holds, so that others' alerts are not kept waiting, and
// keeps every held job well within its lease.
type workerLoop struct {
	w        *Worker
	ctx      context.Context
	wg       sync.WaitGroup
	done     chan string // the host of a finished send
	hosts    map[string]*workerHost
	held     int
	hostCap  int
	hold     time.Duration // the longest wait for a send time held in memory
	paces    *pacer
	reserved map[int64]time.Time // send times of jobs put back to wait for them
	looked   time.Time           // when the queue was last looked at for them
}

type workerHost struct {
	inflight int
	waiting  []readyJob
}

func (w *Worker) run(ctx context.Context) {
	l := &workerLoop{
		w: w, ctx: ctx,
		// Buffered to Concurrency, so a finishing send never waits on the loop.
		done:     make(chan string, w.o.Concurrency),
		hosts:    map[string]*workerHost{},
		hostCap:  w.o.PerHost + max(1, min(2*w.o.PerHost, w.o.Concurrency/4)),
		hold:     w.o.Lease / 3,
		paces:    newPacer(w.o.HostRate, w.o.SlackRate),
		reserved: map[int64]time.Time{},
	}
	defer l.wg.Wait()
	tick := time.NewTicker(w.o.PollInterval)
	defer tick.Stop()
	more := true
	for {
		if free := w.o.Concurrency - l.held; more && free > 0 && ctx.Err() == nil {
			jobs, err := w.o.Store.ClaimChannelJobs(ctx, w.o.Now(), w.o.Lease, free)
			if err != nil && ctx.Err() == nil {
				w.log.Warn("channels: cannot claim jobs; retrying at the next poll", "err", err)
			}
			more = err == nil && len(jobs) == free
			for _, job := range jobs {
				l.dispatch(job)
			}
		}
		// Jobs put back come due at their send times: look for them then
		// rather than at the next poll, or their slots would pass unused.
		var due <-chan time.Time
		var dueTimer *time.Timer
		if d, ok := l.nextReserved(); ok {
			dueTimer = time.NewTimer(d)
			due = dueTimer.C
		}
		select {
		case <-ctx.Done():
			l.releaseWaiting()
			return
		case <-w.wake:
			more = true
		case <-tick.C:
			more = true
			l.forgetReserved()
		case <-due:
			more = true
			l.looked = w.o.Now()
		case host := <-l.done:
			l.finish(host)
		}
		if dueTimer != nil {
			dueTimer.Stop()
		}
	}
}

// dispatch opens a claimed job's secrets (its destination is among them),
// gives it its send time, and holds it or puts it back.
func (l *workerLoop) dispatch(job store.ChannelJob) {
	p, ok := l.w.prepare(l.ctx, job)
	if !ok {
		return // settled already: no secrets, no sender, expired
	}
	now := l.w.o.Now()
	// A send time kept from an earlier claim is used while it is still to
	// come (or only just past); a stale one is not: its slot went unused.
	if at, ok := l.reserved[job.ID]; ok && !at.Before(now.Add(-time.Second)) {
		p.at = at
	} else {
		p.at = now.Add(l.paces.reserve(p.host, p.slackURL, now))
	}
	delete(l.reserved, job.ID)
	h := l.hosts[p.host]
	if h == nil {
		h = &workerHost{}
		l.hosts[p.host] = h
	}
	switch wait := p.at.Sub(now); {
	case wait > l.hold:
		l.reserved[job.ID] = p.at
		l.w.postpone(l.ctx, p, wait)
	case h.inflight+len(h.waiting) >= l.hostCap:
		// The host holds enough already: back to the queue until its send
		// time, a second at least (it keeps its slot if it comes back
		// within a second of it).
		l.reserved[job.ID] = p.at
		l.w.postpone(l.ctx, p, max(wait, time.Second))
	case h.inflight < l.w.o.PerHost:
		l.start(h, p)
	default:
		h.waiting = append(h.waiting, p)
		l.held++
	}
	if h.inflight == 0 && len(h.waiting) == 0 {
		delete(l.hosts, p.host)
	}
}

func (l *workerLoop) start(h *workerHost, p readyJob) {
	h.inflight++
	l.held++
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		l.w.deliver(l.ctx, p)
		l.done <- p.host
	}()
}

func (l *workerLoop) finish(host string) {
	h := l.hosts[host]
	h.inflight--
	l.held--
	if len(h.waiting) > 0 {
		next := h.waiting[0]
		h.waiting = h.waiting[1:]
		l.held-- // start counts it again
		l.start(h, next)
	}
	if h.inflight == 0 && len(h.waiting) == 0 {
		delete(l.hosts, host)
	}
}

// nextReserved is how long until the first job put back comes due.
func (l *workerLoop) nextReserved() (time.Duration, bool) {
	var first time.Time
	for _, at := range l.reserved {
		if at.After(l.looked) && (first.IsZero() || at.Before(first)) {
			first = at
		}
	}
	if first.IsZero() {
		return 0, false
	}
	// A little after it: the queue holds it due from that very millisecond.
	return max(first.Sub(l.w.o.Now())+5*time.Millisecond, time.Millisecond), true
}

// forgetReserved drops send times that jobs put back did not come for
// (another instance took them, or they were deleted).
func (l *workerLoop) forgetReserved() {
	cutoff := l.w.o.Now().Add(-time.Minute)
	for id, at := range l.reserved {
		if at.Before(cutoff) {
			delete(l.reserved, id)
		}
	}
}

// releaseWaiting hands jobs that never started back to the queue, so that
// another instance need not wait for their lease to end.
func (l *workerLoop) releaseWaiting() {
	for _, h := range l.hosts {
		for _, p := range h.waiting {
			l.w.postpone(l.ctx, p, 0)
		}
		h.waiting = nil
	}
}
