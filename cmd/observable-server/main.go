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
	"syscall"
	"time"

	"github.com/observable-code/observable/internal/config"
	"github.com/observable-code/observable/internal/connlimit"
	"github.com/observable-code/observable/internal/fdlimit"
	"github.com/observable-code/observable/internal/instance"
	"github.com/observable-code/observable/internal/live"
	"github.com/observable-code/observable/internal/store/sqlstore"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	restrictUmask() // before anything is created: the database's files hold events
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
	// Every stream holds a socket: the stream caps count on the hard limit.
	if soft, err := fdlimit.Raise(); err != nil {
		log.Warn("open-files limit", "soft", soft, "err", err)
	} else {
		log.Info("open-files limit", "soft", soft)
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
func openStore(ctx context.Context, cfg config.Config, log *slog.Logger) (*sqlstore.DB, int, error) {
	if cfg.IsPostgres() {
		db, err := sqlstore.OpenPostgres(ctx, cfg.Database, sqlstore.PostgresOptions{MaxConns: cfg.PostgresMaxConns})
		// Several transactions at once: PostgreSQL has row locks, not one writer.
		return db, 4, err
	}
	// Before SQLite opens them: it keeps the mode of files it reuses.
	fixed, err := sqlstore.RestrictFiles(cfg.Database)
	if err != nil {
		return nil, 0, err
	}
	for _, f := range fixed {
		log.Warn("the database file was readable by other users; it is owner-only (0600) now", "file", f)
	}
	db, err := sqlstore.OpenSQLite(ctx, cfg.Database, sqlstore.SQLiteOptions{Synchronous: cfg.SQLiteSync})
	return db, 1, err
}

func serve(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	openCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	db, writers, err := openStore(openCtx, cfg, log)
	cancel()
	if err != nil {
		return fmt.Errorf("open database %s: %w", redact(cfg.Database), err)
	}
	defer db.Close()

	in, err := instance.New(ctx, cfg, db, writers, log)
	if err != nil {
		return err
	}
	stopped := false
	defer func() { // on an early return (the port is taken, say), stop before the store closes
		if !stopped {
			in.Drain()
			in.Close()
		}
	}()

	httpServer := &http.Server{
		Addr:              cfg.Listen,
		Handler:           in.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		// Bodies are small; a client that sends one slower than this is broken.
		// A shutdown does not wait for it: Drain gives bodies still arriving
		// a second, and Shutdown drops connections still in their headers
		// after 5 s.
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
	ln = limitConns(ln, cfg, log, in.ConnRefused) // under TLS: a handshake holds a descriptor too
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
	in.Drain()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	if err := httpServer.Shutdown(shutdownCtx); err != nil {
		log.Warn("shutdown: requests still running were cut", "err", err)
	}
	in.Close()
	stopped = true
	log.Info("stopped")
	return nil
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

// limitConns caps the connections held, per client address and in total,
// so that no client can take the process to its open-files limit.
func limitConns(ln net.Listener, cfg config.Config, log *slog.Logger, refused func()) net.Listener {
	opts := connlimit.Options{MaxConns: cfg.MaxConns, PerAddress: cfg.ConnsPerAddress, Exempt: cfg.TrustProxy, OnRefuse: refused}
	if opts.MaxConns == 0 {
		opts.MaxConns = connlimit.DefaultMaxConns(fdlimit.Current())
	}
	if cfg.TLSCert == "" && cfg.TLSDomain == "" {
		opts.Refusal = connlimit.Refusal503 // plain HTTP only: a TLS client could not read it
	}
	log.Info("connection caps", "max_conns", opts.MaxConns, "max_conns_per_address", opts.PerAddress)
	// A stream past --max-streams gets a 503 that says when to retry; a
	// connection past --max-conns only waits. The first must come first.
	if streams := cfg.MaxStreams; streams >= opts.MaxConns || (streams == 0 && live.DefaultMaxStreams() >= opts.MaxConns) {
		log.Warn("--max-streams is not below --max-conns: streams will wait for a connection instead of being refused with a 503; lower --max-streams or raise --max-conns", "max_conns", opts.MaxConns, "max_streams", streams)
	}
	return connlimit.New(ln, opts)
}
