package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	_ "modernc.org/sqlite" // registers the "sqlite" driver: pure Go, so the binary stays static
)

// SQLiteOptions tune the embedded database.
type SQLiteOptions struct {
	// Synchronous is SQLite's synchronous pragma: "full" (the default)
	// fsyncs every commit, so an acknowledged event survives a power cut;
	// "normal" survives a crash of the process but not of the machine.
	Synchronous string
}

var sqliteDialect = dialect{
	name: "sqlite",
	// Rowids grow with arrival (one writer, max+1), so the oldest events
	// are the first rows of the table and retention needs no index on
	// received_at: one B-tree fewer for every event written (migration
	// 0006). A young row among old ones (the clock stepped back) only
	// delays the old rows after it in this chunk's window.
	oldestEvents: `SELECT session_id, seq FROM (SELECT session_id, seq, received_at FROM events ORDER BY rowid LIMIT ?2) WHERE received_at < ?1`,
}

// OpenSQLite opens (creating if needed) the database file at path and
// brings its schema up to date.
func OpenSQLite(ctx context.Context, path string, opts SQLiteOptions) (*DB, error) {
	sync := strings.ToUpper(opts.Synchronous)
	if sync == "" {
		sync = "FULL"
	}
	if sync != "FULL" && sync != "NORMAL" && sync != "EXTRA" {
		return nil, fmt.Errorf("open sqlite: synchronous must be full, normal or extra, not %q", opts.Synchronous)
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("open sqlite: create directory for %s: %w", path, err)
		}
	}
	params := url.Values{}
	params.Add("_pragma", "busy_timeout(10000)")
	params.Add("_pragma", "journal_mode(WAL)")
	params.Add("_pragma", "foreign_keys(1)")
	params.Add("_pragma", "synchronous("+sync+")")
	params.Add("_txlock", "immediate")
	write, err := sql.Open("sqlite", path+"?"+params.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetConnMaxIdleTime(0)
	if err := write.PingContext(ctx); err != nil {
		write.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	if err := migrate(ctx, write, sqliteDialect, nil); err != nil {
		write.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		write.Close()
		return nil, fmt.Errorf("open sqlite %s: restrict permissions: %w", path, err)
	}
	params.Set("_txlock", "deferred")
	params.Add("_pragma", "query_only(1)")
	read, err := sql.Open("sqlite", path+"?"+params.Encode())
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("open sqlite %s for reading: %w", path, err)
	}
	read.SetMaxOpenConns(max(4, runtime.GOMAXPROCS(0)*2))
	read.SetMaxIdleConns(max(4, runtime.GOMAXPROCS(0)*2))
	db := &DB{d: sqliteDialect, write: write, read: read, models: newModelCache()}
	db.closers = []func() error{read.Close, write.Close}
	if err := db.prepareIngest(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	return db, nil
}
