package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/store"
)

// PostgresOptions tune the PostgreSQL store.
type PostgresOptions struct {
	// MaxConns caps the connection pool; 0 means max(8, 4×GOMAXPROCS).
	// Listen holds one more connection, and opening holds one more while
	// it migrates.
	MaxConns int
}

const (
	// noticeChannel is the NOTIFY channel every instance listens on.
	noticeChannel = "observable"
	// migrationLockKey names the advisory lock that makes instances opening
	// one database together migrate it one after the other. Advisory locks
	// are per database, so other databases on the server are not affected.
	migrationLockKey int64 = 0x6f62732d6d6967 // "obs-mig"
)

var postgresDialect = dialect{
	name:          "postgres",
	dollarParams:  true,
	typedValues:   true,
	lockRow:       " FOR UPDATE",
	skipLocked:    " FOR UPDATE SKIP LOCKED",
	notify:        notifyPostgres,
	isUnavailable: postgresUnavailable,
	oldestEvents:  `SELECT session_id, seq FROM events WHERE received_at < $1 ORDER BY received_at LIMIT $2 FOR UPDATE SKIP LOCKED`,
}

// OpenPostgres connects to the database at url (postgres://user:password@
// host:port/database?option=value, or libpq's key=value form) and brings
// its schema up to date. Errors never contain the password.
func OpenPostgres(ctx context.Context, url string, opts PostgresOptions) (*DB, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		err = fmt.Errorf("open postgres: the database URL is not valid (want postgres://user:password@host:port/database): %w", err)
		return nil, redact(err, urlPasswords(url)...)
	}
	fail := func(what string, err error) (*DB, error) {
		if postgresUnavailable(err) {
			err = fmt.Errorf("open postgres %s: %s: %w: %w (is PostgreSQL running there, and are the user and password right?)",
				describe(cfg), what, store.ErrUnavailable, err)
		} else {
			err = fmt.Errorf("open postgres %s: %s: %w", describe(cfg), what, err)
		}
		return nil, redact(err, append(urlPasswords(url), cfg.Password)...)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = "observable-server"
	}
	pool := stdlib.OpenDB(*cfg)
	n := opts.MaxConns
	if n <= 0 {
		n = max(8, 4*runtime.GOMAXPROCS(0))
	}
	pool.SetMaxOpenConns(n)
	pool.SetMaxIdleConns(n)
	// Recycling connections spreads them again after a failover or a
	// connection pooler's restart; idle ones are given back to the server.
	pool.SetConnMaxLifetime(30 * time.Minute)
	pool.SetConnMaxIdleTime(5 * time.Minute)
	if err := pool.PingContext(ctx); err != nil {
		pool.Close()
		return fail("connect", err)
	}
	if err := migratePostgres(ctx, cfg); err != nil {
		pool.Close()
		return fail("migrate", err)
	}
	db := &DB{d: postgresDialect, write: pool, read: pool, pg: newPGCache()}
	db.closers = []func() error{pool.Close}
	if err := db.prepareIngest(ctx); err != nil {
		db.Close()
		return fail("prepare", err)
	}
	return db, nil
}

// migratePostgres runs the migrations. Every transaction of migrate,
// the version table's creation included, first takes a transaction-scoped
// advisory lock, so instances opening one database together take turns.
func migratePostgres(ctx context.Context, cfg *pgx.ConnConfig) error {
	conn := stdlib.OpenDB(*cfg)
	defer conn.Close()
	conn.SetMaxOpenConns(1)
	return migrate(ctx, conn, postgresDialect, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLockKey)
		return err
	})
}

// notifyPostgres publishes notices to every listening instance, in one
// round trip. PostgreSQL sends them only when the transaction commits, in
// commit order.
func notifyPostgres(ctx context.Context, tx *sql.Tx, notices ...domain.Notice) error {
	payloads := make([]string, len(notices))
	for i, n := range notices {
		payloads[i] = encodeNotice(n)
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p`, noticeChannel, payloads); err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	return nil
}

// postgresUnavailable tells errors that mean PostgreSQL cannot be reached
// now (the request may succeed later) from errors of the SQL itself.
func postgresUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return true // refused, unknown host, too many clients, starting up…
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "08"): // connection exception
			return true
		case pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03": // admin shutdown, crash shutdown, cannot connect now
			return true
		case pgErr.Code == "53300": // too many connections
			return true
		}
		return false
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) {
		return true
	}
	// pgconn marks errors that happened before the query was sent, such as
	// using a connection it already closed, and wraps timeouts.
	if pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return true
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	for _, errno := range []syscall.Errno{syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED,
		syscall.EPIPE, syscall.ETIMEDOUT, syscall.EHOSTUNREACH, syscall.ENETUNREACH} {
		if errors.Is(err, errno) {
			return true
		}
	}
	var netErr net.Error
	return errors.As(err, &netErr)
}

// describe names the database for errors and logs, without credentials.
func describe(cfg *pgx.ConnConfig) string {
	return fmt.Sprintf("%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)
}

// redactedError hides secrets in the text of the error it wraps; errors.Is
// and errors.As still see the original.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redact replaces every given secret in err's text. A driver error may
// quote the connection string; this makes sure no password gets out even
// then.
func redact(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "xxxxx")
		}
	}
	if msg == err.Error() {
		return err
	}
	return &redactedError{msg: msg, err: err}
}

var keywordPassword = regexp.MustCompile(`password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)`)

// urlPasswords finds the password of a connection string in every spelling
// an error might quote it: as written, and percent-decoded.
func urlPasswords(connString string) []string {
	var out []string
	if u, err := url.Parse(connString); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok {
			out = append(out, p, url.QueryEscape(p), url.PathEscape(p))
		}
	}
	if i := strings.Index(connString, "://"); i >= 0 { // unparsable URL: user:password@
		rest := connString[i+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if _, p, ok := strings.Cut(rest[:at], ":"); ok {
				out = append(out, p)
				if d, err := url.PathUnescape(p); err == nil {
					out = append(out, d)
				}
			}
		}
	}
	for _, m := range keywordPassword.FindAllStringSubmatch(connString, -1) {
		out = append(out, m[1], strings.Trim(m[1], "'"))
	}
	return out
}
