// Package sqlstore implements store.Store with plain SQL over database/sql,
// on SQLite (modernc.org/sqlite, pure Go) or PostgreSQL (pgx). The SQL is
// written once with ? placeholders; a dialect holds what differs.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/store"
)

// dialect is what differs between the databases.
type dialect struct {
	name string
	// dollarParams rewrites ? placeholders as $1, $2, … (PostgreSQL).
	dollarParams bool
	// lockRow is appended to a SELECT that must lock the rows it reads
	// until the transaction ends. SQLite locks the whole database instead.
	lockRow string
	// skipLocked is appended to a locking SELECT to skip rows another
	// transaction holds (the push queue).
	skipLocked string
	// notify, when set, publishes notices to other instances from inside a
	// transaction, so they are sent only if it commits.
	notify func(ctx context.Context, tx *sql.Tx, notices ...domain.Notice) error
	// isUnavailable tells errors that mean the database cannot be reached.
	isUnavailable func(err error) bool
	// typedValues casts the parameters of a VALUES list to their column
	// types (PostgreSQL would take them as text).
	typedValues bool
	// oldestEvents selects (session_id, seq) of events received before
	// its first parameter, at most its second, oldest first (retention).
	oldestEvents string
}

// DB is a store.Store on a SQL database.
type DB struct {
	d dialect
	// write takes every write. On SQLite it is a single connection, so that
	// writers queue in Go instead of spinning on the file lock.
	write *sql.DB
	// read serves queries; on SQLite a pool of read-only connections that
	// WAL lets run beside the writer.
	read *sql.DB

	queries sync.Map // SQL with ? → the dialect's SQL
	// diskFull is set when a write failed for a full disk, and cleared by
	// the first write probe of Ping that succeeds: readiness follows it.
	diskFull atomic.Bool
	ingest   *prepared
	models   *modelCache  // SQLite only: the job models between commits (modelcache.go)
	pg       *pgCache     // PostgreSQL only: what a commit's reads found (postgres_cache.go)
	maxJobs  atomic.Int64 // a session's most job names, 0: no limit (jobs.go)
	closers  []func() error

	maxDevices atomic.Int64 // a session's most paired devices, 0: no limit (sessions.go)
}

var _ store.Store = (*DB)(nil)

// q returns query in the dialect's placeholder syntax.
func (db *DB) q(query string) string {
	if !db.d.dollarParams {
		return query
	}
	if v, ok := db.queries.Load(query); ok {
		return v.(string)
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	db.queries.Store(query, b.String())
	return b.String()
}

// wrap gives an error context and marks lost connections as unavailable.
func (db *DB) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, domain.ErrNotFound) || errors.Is(err, domain.ErrGone) {
		return err
	}
	if isDiskFull(err) {
		db.diskFull.Store(true)
		return fmt.Errorf("%s: %w: %w", op, store.ErrDiskFull, err)
	}
	if db.d.isUnavailable != nil && db.d.isUnavailable(err) {
		return fmt.Errorf("%s: %w: %w", op, store.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// Ping checks that the database answers a query and, while the last write
// failed for a full disk, that a small write succeeds again.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	if err := db.read.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return db.wrap("ping", err)
	}
	if !db.diskFull.Load() {
		return nil
	}
	// One row, rewritten each time: it needs a page of the journal, as
	// any real write does, and no more.
	err := db.inTx(ctx, "ping: write probe", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, db.q(`INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`),
			"readyz_write_probe", strconv.FormatInt(time.Now().UnixMilli(), 10))
		return err
	})
	if err == nil {
		db.diskFull.Store(false)
	}
	return err
}

// isDiskFull tells errors that mean the disk under the database is full:
// SQLite's SQLITE_FULL (13, in the low byte of extended codes too) and
// PostgreSQL's disk_full (SQLSTATE 53100).
func isDiskFull(err error) bool {
	var coded interface{ Code() int }
	if errors.As(err, &coded) && coded.Code()&0xff == sqliteFull {
		return true
	}
	var stated interface{ SQLState() string }
	if errors.As(err, &stated) && stated.SQLState() == "53100" {
		return true
	}
	return errors.Is(err, syscall.ENOSPC)
}

const sqliteFull = 13

// Close closes the connections.
func (db *DB) Close() error {
	var errs []error
	for _, c := range db.closers {
		errs = append(errs, c())
	}
	return errors.Join(errs...)
}

// inTx runs fn in a write transaction, committing when it returns nil.
// Any write may change job rows, so it empties the commit's model cache
// (modelcache.go), while it holds the writer.
func (db *DB) inTx(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	return db.inTxKeepModels(ctx, op, func(tx *sql.Tx) error {
		db.models.invalidate()
		return fn(tx)
	})
}

// inTxKeepModels is inTx for the commit of events, which keeps the model
// cache up to date itself.
func (db *DB) inTxKeepModels(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return db.wrap(op, err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return db.wrap(op, err)
	}
	return db.wrap(op, tx.Commit())
}

// placeholders returns "(?,?,…),(?,?,…)" for rows rows of cols columns.
func placeholders(rows, cols int) string {
	one := "(" + strings.TrimSuffix(strings.Repeat("?,", cols), ",") + ")"
	return strings.TrimSuffix(strings.Repeat(one+",", rows), ",")
}

// values returns "(?,?),(?,?)…" for a VALUES list of rows of the given SQL
// types, with casts where the dialect needs them.
func (db *DB) values(rows int, types ...string) string {
	cols := make([]string, len(types))
	for i, t := range types {
		cols[i] = "?"
		if db.d.typedValues {
			cols[i] = "CAST(? AS " + t + ")"
		}
	}
	one := "(" + strings.Join(cols, ",") + ")"
	return strings.TrimSuffix(strings.Repeat(one+",", rows), ",")
}

// nullString maps "" to NULL.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// nullMillis maps the zero time to NULL.
func nullMillis(t domain.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.Millis()
}

func timeOrZero(ms sql.NullInt64) domain.Time {
	if !ms.Valid {
		return domain.Time{}
	}
	return domain.TimeFromMillis(ms.Int64)
}

// RestrictFiles makes the SQLite database at path and its -wal, -shm and
// -journal siblings owner-only, and returns the ones it had to fix. They
// hold events; a server killed before an earlier version's chmod (or run
// under a loose umask) may have left them readable by group or others,
// and SQLite reuses such files with the mode they have. Missing files are
// skipped: SQLite creates them later, under the process's umask.
func RestrictFiles(path string) (fixed []string, err error) {
	for _, name := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		info, statErr := os.Stat(name)
		if errors.Is(statErr, os.ErrNotExist) {
			continue
		}
		if statErr != nil {
			return fixed, fmt.Errorf("check the permissions of %s: %w", name, statErr)
		}
		if info.Mode().Perm()&0o077 == 0 {
			continue
		}
		if err := os.Chmod(name, 0o600); err != nil {
			return fixed, fmt.Errorf("make %s owner-only (it is %v; run chmod 600 on it): %w", name, info.Mode().Perm(), err)
		}
		fixed = append(fixed, name)
	}
	return fixed, nil
}
