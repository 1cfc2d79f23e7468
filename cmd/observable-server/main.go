// Command observable-server is the Observable Code server: the API the SDK
// posts to, the live streams, the push sender and the phone app, in one
// static binary. With no flags it listens on :3000 with SQLite in
// ./observable.db; see --help.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/observable-code/observable/internal/api"
	"github.com/observable-code/observable/internal/config"
	"github.com/observable-code/observable/internal/ingest"
	"github.com/observable-code/observable/internal/live"
	"github.com/observable-code/observable/internal/metrics"
	"github.com/observable-code/observable/internal/push"
	"github.com/observable-code/observable/internal/retention"
	"github.com/observable-code/observable/internal/store"
	"github.com/observable-code/observable/internal/store/sqlstore"
	"github.com/observable-code/observable/internal/web"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	if os.Getenv("GOGC") == "" {
		// The live heap is small (tens of MB with thousands of streams), so
		// collecting less often costs little memory and takes most GC
		// pauses out of the POST → stream latency tail. GOGC overrides it.
		debug.SetGCPercent(400)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := config.Parse(args, getenv, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "observable-server: %v\n", err)
		return 2
	}
	log := newLogger(cfg, stderr)
	slog.SetDefault(log) // libraries and background tasks log the same way
	for _, w := range cfg.Warnings {
		log.Warn(w)
	}
	if err := serve(ctx, cfg, log); err != nil {
		log.Error("observable-server stopped", "err", err)
		return 1
	}
	return 0
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// openStore opens SQLite or PostgreSQL by the --database setting.
func openStore(ctx context.Context, cfg config.Config) (*sqlstore.DB, int, error) {
	if cfg.IsPostgres() {
		db, err := sqlstore.OpenPostgres(ctx, cfg.Database, sqlstore.PostgresOptions{MaxConns: cfg.PostgresMaxConns})
		// Several transactions at once: PostgreSQL has row locks, not one writer.
		return db, 4, err
	}
	db, err := sqlstore.OpenSQLite(ctx, cfg.Database, sqlstore.SQLiteOptions{Synchronous: cfg.SQLiteSync})
	return db, 1, err
}

func serve(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	openCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	db, writers, err := openStore(openCtx, cfg)
	cancel()
	if err != nil {
		return fmt.Errorf("open database %s: %w", redact(cfg.Database), err)
	}
	defer db.Close()

	m := metrics.New()
	broker := live.NewBroker(db, live.Options{
		Buffer: cfg.StreamBuffer, Heartbeat: cfg.Heartbeat, Logger: log,
		OnSubscribers: func(n int) { m.StreamSubs.Set(float64(n)) },
		OnDrop:        m.StreamDropped.Inc,
	})
	pushes, err := push.New(ctx, push.Options{
		Store: db, Contact: cfg.PushContact, Allow: cfg.PushAllow, PublicURL: cfg.PublicURL,
		Logger: log, Result: func(r string) { m.PushSent.WithLabelValues(r).Inc() },
	})
	if err != nil {
		return fmt.Errorf("set up push: %w", err)
	}
	committer := ingest.New(db, ingest.Options{
		Workers: writers,
		// A database that stops answering (a partition, not a refusal) must
		// turn into 503s the SDK retries, not requests that hang.
		Timeout: 5 * time.Second,
		Published: func(batch []*store.Append) {
			queued := 0
			for _, a := range batch {
				broker.Publish(a.SessionID, a.Stored)
				queued += a.Pushes
			}
			if queued > 0 {
				pushes.Wake()
			}
		},
		Committed: func(events int, took time.Duration, err error) {
			m.CommitEvents.Observe(float64(events))
			m.CommitLatency.Observe(took.Seconds())
			if err != nil {
				m.DatabaseErrors.WithLabelValues("commit").Inc()
			}
		},
	})
	site := web.New(web.Options{Store: db, PublicURL: cfg.PublicURL, Logger: log})
	srv := api.New(cfg, api.Deps{
		Store: db, Committer: committer, Broker: broker, Metrics: m, Logger: log,
		Push: pushes, Web: site.App(), PairPage: site.PairPage(),
	})

	bg, stopBackground := context.WithCancel(context.Background())
	defer stopBackground()
	waitBackground := background(bg, cfg, db, broker, pushes, m, log)

	httpServer := &http.Server{
		Addr:              cfg.Listen,
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		// Bodies are small; a client that sends one slower than this is broken.
		ReadTimeout: 30 * time.Second,
		// No WriteTimeout: streams and long polls set their own deadlines.
		IdleTimeout:    120 * time.Second,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another server running there? choose another with --listen)", cfg.Listen, err)
	}
	ln, stopTLS, err := tlsListener(ctx, ln, cfg, log)
	if err != nil {
		return fmt.Errorf("set up TLS: %w", err)
	}
	defer stopTLS()
	serveErr := make(chan error, 1)
	go func() {
		if err := httpServer.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			serveErr <- err
		}
	}()
	log.Info("observable-server ready", "version", version, "listen", ln.Addr().String(),
		"public_url", cfg.PublicURL, "database", redact(cfg.Database))

	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight requests")
	srv.Drain()
	broker.Close()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	if err := httpServer.Shutdown(shutdownCtx); err != nil {
		log.Warn("shutdown: requests still running were cut", "err", err)
	}
	committer.Close()
	stopBackground()
	// The push worker hands back jobs it had claimed; let it before the
	// database closes.
	waitBackground()
	log.Info("stopped")
	return nil
}

// background starts the tasks every instance runs beside requests, and
// returns a function that waits for them to end once ctx is cancelled.
func background(ctx context.Context, cfg config.Config, db *sqlstore.DB, broker *live.Broker, pushes *push.Service, m *metrics.Metrics, log *slog.Logger) func() {
	var wg sync.WaitGroup
	goBackground := func(f func()) {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}
	pruner := &retention.Pruner{Store: db, Retention: cfg.Retention, Log: log, OnPruned: func(n int64) { m.PrunedEvents.Add(float64(n)) }}
	goBackground(func() { pruner.Run(ctx) })
	goBackground(func() { pushes.Run(ctx) })
	if l, ok := any(db).(store.Listener); ok && cfg.IsPostgres() {
		goBackground(func() {
			if err := l.Listen(ctx, broker.Notice); err != nil && ctx.Err() == nil {
				log.Error("listen for other instances' events", "err", err)
			}
		})
	}
	return wg.Wait
}

// redact hides the password of a database URL for logs.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
