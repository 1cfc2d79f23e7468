// Package instance assembles one server instance around an open store:
// metrics, the live broker, Web Push, the group committer, the phone app
// and the API, and the background tasks beside them. cmd/observable-server
// runs it behind a listener; the benchmarks drive its handler in-process,
// so that they measure what ships.
package instance

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/observable-code/observable/internal/api"
	"github.com/observable-code/observable/internal/config"
	"github.com/observable-code/observable/internal/ingest"
	"github.com/observable-code/observable/internal/jobs"
	"github.com/observable-code/observable/internal/live"
	"github.com/observable-code/observable/internal/metrics"
	"github.com/observable-code/observable/internal/push"
	"github.com/observable-code/observable/internal/retention"
	"github.com/observable-code/observable/internal/store"
	"github.com/observable-code/observable/internal/web"
)

// Instance is the running parts of one server.
type Instance struct {
	cfg       config.Config
	store     store.Store
	log       *slog.Logger
	metrics   *metrics.Metrics
	broker    *live.Broker
	push      *push.Service
	channels  *channels
	committer *ingest.Committer
	api       *api.Server

	stopBackground context.CancelFunc
	background     sync.WaitGroup
}

// New wires an instance on st. writers is how many transactions may be
// written at once (1 for SQLite).
func New(ctx context.Context, cfg config.Config, st store.Store, writers int, log *slog.Logger) (*Instance, error) {
	m := metrics.New()
	in := &Instance{cfg: cfg, store: st, log: log, metrics: m}
	if l, ok := st.(store.JobLimiter); ok {
		l.SetMaxJobsPerSession(cfg.MaxJobsPerSession)
	}
	if l, ok := st.(store.DeviceLimiter); ok {
		l.SetMaxDevicesPerSession(cfg.MaxDevicesPerSession)
	}
	maxStreams := cfg.MaxStreams
	if maxStreams == 0 {
		maxStreams = live.DefaultMaxStreams()
		log.Info("event streams: at most this many open at once, from the open-files limit (--max-streams)", "max_streams", maxStreams)
	}
	in.broker = live.NewBroker(st, live.Options{
		Buffer: cfg.StreamBuffer, Heartbeat: cfg.Heartbeat, Logger: log,
		Limits: live.Limits{Total: maxStreams, PerSession: cfg.StreamsPerSession,
			PerDevice: cfg.StreamsPerDevice, PerAddr: cfg.StreamsPerAddress},
		OnSubscribers: func(n int) { m.StreamSubs.Set(float64(n)) },
		OnDrop:        m.StreamDropped.Inc,
	})
	var err error
	in.push, err = push.New(ctx, push.Options{
		Store: st, Contact: cfg.PushContact, Allow: cfg.PushAllow, PublicURL: cfg.PublicURL,
		Logger: log, Result: func(r string) { m.PushSent.WithLabelValues(r).Inc() },
	})
	if err != nil {
		in.broker.Close()
		return nil, fmt.Errorf("set up push: %w", err)
	}
	if in.channels, err = newChannels(cfg, st, m, in.push.Wake, log); err != nil {
		in.broker.Close()
		return nil, fmt.Errorf("set up channels: %w", err)
	}
	in.committer = ingest.New(st, ingest.Options{
		Workers: writers,
		// A database that stops answering (a partition, not a refusal) must
		// turn into 503s the SDK retries, not requests that hang.
		Timeout:   5 * time.Second,
		Published: in.published,
		Committed: func(events int, took time.Duration, err error) {
			m.CommitEvents.Observe(float64(events))
			m.CommitLatency.Observe(took.Seconds())
			if err != nil {
				m.DatabaseErrors.WithLabelValues("commit").Inc()
			}
		},
	})
	site := web.New(web.Options{Store: st, PublicURL: cfg.PublicURL, Logger: log, Status: api.StatusOf})
	in.api = api.New(api.Options{
		PublicURL: cfg.PublicURL, MaxBodyBytes: cfg.MaxBodyBytes, MaxBatchEvents: cfg.MaxBatchEvents,
		SessionRate: cfg.SessionRate, SessionBurst: cfg.SessionBurst, SessionsPerMinute: cfg.SessionsPerMinute,
		QRPerMinute: cfg.QRPerMinute, PairingTTL: cfg.PairingTTL, TrustProxy: cfg.TrustProxy,
		PingBodyLimit: cfg.PingBodyLimit,
	}, api.Deps{
		Store: st, Committer: in.committer, Broker: in.broker, Metrics: m, Logger: log,
		Push: in.push, Web: site.App(), PairPage: site.PairPage(), Channels: in.channels.deps,
	})
	in.startBackground()
	return in, nil
}

// published fans a commit out: its events to the streams, and a wake-up to
// the push and channel workers when the commit queued a message for them.
func (in *Instance) published(batch []*store.Append) {
	queued, channels := 0, 0
	for _, a := range batch {
		in.broker.Publish(a.SessionID, a.Stored)
		queued += a.Pushes
		channels += a.Channels
	}
	if queued > 0 {
		in.push.Wake()
	}
	if channels > 0 {
		in.channels.Wake()
	}
}

// startBackground starts the tasks every instance runs beside requests:
// retention, push and channel delivery and, on a shared database, the listener for
// other instances' commits.
func (in *Instance) startBackground() {
	ctx, cancel := context.WithCancel(context.Background())
	in.stopBackground = cancel
	goBackground := func(f func()) {
		in.background.Add(1)
		go func() { defer in.background.Done(); f() }()
	}
	pruner := &retention.Pruner{Store: in.store, Retention: in.cfg.Retention, Log: in.log,
		OnPruned: func(n int64) { in.metrics.PrunedEvents.Add(float64(n)) }}
	goBackground(func() { pruner.Run(ctx) })
	goBackground(func() { in.push.Run(ctx) })
	if w := in.channels.worker; w != nil {
		goBackground(func() { w.Run(ctx) })
	}
	// The job model's evaluator: missed and overdue runs (docs/jobs.md). Its
	// alerts go to phones and channels alike.
	wake := func() { in.push.Wake(); in.channels.Wake() }
	evaluator := jobs.New(in.store, jobs.Options{Wake: wake, Logger: in.log})
	goBackground(func() { evaluator.Run(ctx) })
	if l, ok := in.store.(store.Listener); ok && in.cfg.IsPostgres() {
		goBackground(func() {
			if err := l.Listen(ctx, in.broker.Notice); err != nil && ctx.Err() == nil {
				in.log.Error("listen for other instances' events", "err", err)
			}
		})
	}
}

// Handler is the instance's whole HTTP surface.
func (in *Instance) Handler() http.Handler { return in.api.Handler() }

// ConnRefused counts a connection the accept loop closed at once.
func (in *Instance) ConnRefused() { in.metrics.ConnsRefused.Inc() }

// Drain starts a shutdown: readiness fails, streams close (they resume
// elsewhere), long polls answer. Requests in flight still finish.
func (in *Instance) Drain() {
	in.api.Drain()
	in.broker.Close()
}

// Close finishes queued commits and stops the background tasks; the push
// worker hands back the jobs it had claimed before it returns. Call it
// after the HTTP server has stopped, and before the store is closed.
func (in *Instance) Close() {
	in.committer.Close()
	in.stopBackground()
	in.background.Wait()
}
