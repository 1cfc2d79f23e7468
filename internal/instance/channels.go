package instance

import (
	"fmt"
	"log/slog"
	"net/url"
	"runtime/debug"

	"github.com/observable-code/observable/internal/api"
	"github.com/observable-code/observable/internal/channel"
	"github.com/observable-code/observable/internal/config"
	"github.com/observable-code/observable/internal/metrics"
	"github.com/observable-code/observable/internal/store"
)

// channels are the parts of alert channels (docs/channels.md): what the
// API checks and seals with, and the delivery worker (nil without a key:
// the queue then waits for one).
type channels struct {
	deps   api.ChannelDeps
	worker *channel.Worker
}

// newChannels builds the channel parts from the configuration: a bad
// setting or an unreadable key file stops the server with what to fix.
func newChannels(cfg config.Config, st store.Store, m *metrics.Metrics, pushWake func(), log *slog.Logger) (*channels, error) {
	guard, err := channel.NewGuard(cfg.ChannelAllow)
	if err != nil {
		return nil, err // it names the flag and the entry
	}
	var smtp *channel.SMTPConfig
	if cfg.SMTPURL != "" {
		if smtp, err = channel.ParseSMTPURL(cfg.SMTPURL, cfg.SMTPFrom); err != nil {
			return nil, fmt.Errorf("--smtp-url or --smtp-from: %w", err)
		}
	}
	c := &channels{deps: api.ChannelDeps{Guard: guard, EmailOn: smtp != nil}}
	if cfg.KeyFile == "" {
		// PostgreSQL without --key-file: instances must share one key, and
		// none may invent its own.
		log.Warn("channels are unavailable: on PostgreSQL give every instance the same --key-file (32 random bytes, base64, one line: e.g. head -c 32 /dev/urandom | base64 > channels.key)")
		return c, nil
	}
	// On SQLite the key file is made on first start; on PostgreSQL it must
	// exist, or each instance would make a key of its own.
	key, err := channel.LoadOrCreateKey(cfg.KeyFile, !cfg.IsPostgres())
	if err != nil {
		return nil, fmt.Errorf("channel key file (--key-file): %w", err)
	}
	if c.deps.Sealer, err = channel.NewSealer(key); err != nil {
		return nil, fmt.Errorf("channel key file (--key-file): %w", err)
	}
	host := ""
	if u, err := url.Parse(cfg.PublicURL); err == nil {
		host = u.Hostname()
	}
	c.worker, err = channel.NewWorker(channel.WorkerOptions{
		Store: st, Sealer: c.deps.Sealer, PublicURL: cfg.PublicURL, Logger: log,
		Senders:   channel.NewSenders(channel.Options{Guard: guard, SMTP: smtp, UserAgent: userAgent(), PublicHost: host}),
		Result:    func(r string) { m.ChannelMessages.WithLabelValues(r).Inc() },
		TurnedOff: pushWake,
	})
	if err != nil {
		return nil, err
	}
	c.deps.Wake = c.worker.Wake
	return c, nil
}

// Wake tells the worker that messages were queued. It never blocks.
func (c *channels) Wake() {
	if c.worker != nil {
		c.worker.Wake()
	}
}

// userAgent is "observable-server/<version>" when the build knows its
// version (go install …@v1.2.3), else "observable-server".
func userAgent() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return "observable-server/" + bi.Main.Version
	}
	return "observable-server"
}
