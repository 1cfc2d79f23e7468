package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed migrations
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads migrations/<dialect>/NNNN_name.sql in order.
func loadMigrations(dialectName string) ([]migration, error) {
	dir := path.Join("migrations", dialectName)
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("migration %s: name must be NNNN_what.sql", e.Name())
		}
		body, err := fs.ReadFile(migrationFiles, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: versions must be 1, 2, 3… without gaps", m.name)
		}
	}
	return ms, nil
}

// SchemaVersion is the newest schema this binary knows.
func SchemaVersion(dialectName string) int {
	ms, err := loadMigrations(dialectName)
	if err != nil {
		return 0
	}
	return len(ms)
}

// migrate brings the schema up to date, one transaction per migration. lock,
// when set, is called first in each transaction so that instances starting
// together take turns.
func migrate(ctx context.Context, db *sql.DB, d dialect, lock func(ctx context.Context, tx *sql.Tx) error) error {
	ms, err := loadMigrations(d.name)
	if err != nil {
		return err
	}
	if err := createVersionTable(ctx, db, lock); err != nil {
		return err
	}
	for _, m := range ms {
		if err := applyOne(ctx, db, d, lock, m, len(ms)); err != nil {
			return err
		}
	}
	return nil
}

// createVersionTable makes the version table under the lock: two
// PostgreSQL instances creating it at once would collide in the catalog.
func createVersionTable(ctx context.Context, db *sql.DB, lock func(context.Context, *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("create schema_migrations: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit this is a no-op
	if lock != nil {
		if err := lock(ctx, tx); err != nil {
			return fmt.Errorf("create schema_migrations: lock: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create schema_migrations: commit: %w", err)
	}
	return nil
}

func applyOne(ctx context.Context, db *sql.DB, d dialect, lock func(context.Context, *sql.Tx) error, m migration, known int) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migration %s: begin: %w", m.name, err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit this is a no-op
	if lock != nil {
		if err := lock(ctx, tx); err != nil {
			return fmt.Errorf("migration %s: lock: %w", m.name, err)
		}
	}
	var current int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if current > known {
		return fmt.Errorf("the database has schema version %d but this server knows only up to %d: run a newer observable-server (never an older one) on this database", current, known)
	}
	if current >= m.version {
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return fmt.Errorf("migration %s: %w", m.name, err)
	}
	insert := `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`
	if d.dollarParams {
		insert = `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`
	}
	if _, err := tx.ExecContext(ctx, insert, m.version, time.Now().UnixMilli()); err != nil {
		return fmt.Errorf("migration %s: record version: %w", m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migration %s: commit: %w", m.name, err)
	}
	return nil
}
