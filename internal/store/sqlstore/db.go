// Package sqlstore implements store.Store with plain SQL over database/sql,
// on SQLite (modernc.org/sqlite, pure Go) or PostgreSQL (pgx). The SQL is
// written once with ? placeholders; a dialect holds what differs.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

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
	ingest  *prepared
	closers []func() error
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
	if db.d.isUnavailable != nil && db.d.isUnavailable(err) {
		return fmt.Errorf("%s: %w: %w", op, store.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// Ping checks that the database answers a query.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	return db.wrap("ping", db.read.QueryRowContext(ctx, "SELECT 1").Scan(&one))
}

// Close closes the connections.
func (db *DB) Close() error {
	var errs []error
	for _, c := range db.closers {
		errs = append(errs, c())
	}
	return errors.Join(errs...)
}

// inTx runs fn in a write transaction, committing when it returns nil.
func (db *DB) inTx(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
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
