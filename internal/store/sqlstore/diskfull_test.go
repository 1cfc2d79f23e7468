package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/observable-code/observable/internal/pgtest"
	"github.com/observable-code/observable/internal/store"
)

// sqliteCoded stands for modernc.org/sqlite's *Error, whose fields are
// unexported: what matters is its Code method.
type sqliteCoded int

func (c sqliteCoded) Error() string { return fmt.Sprintf("sqlite error %d", int(c)) }
func (c sqliteCoded) Code() int     { return int(c) }

func TestDiskFullClassification(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"SQLITE_FULL", sqliteCoded(13), true},
		{"an extended SQLITE_FULL", fmt.Errorf("commit: %w", sqliteCoded(13|3<<8)), true},
		{"SQLITE_BUSY", sqliteCoded(5), false},
		{"SQLITE_CONSTRAINT_UNIQUE", sqliteCoded(2067), false},
		{"PostgreSQL disk_full", fmt.Errorf("insert: %w", &pgconn.PgError{Code: "53100"}), true},
		{"PostgreSQL too many connections", &pgconn.PgError{Code: "53300"}, false},
		{"ENOSPC", &os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}, true},
		{"other", errors.New("no"), false},
	}
	db := &DB{d: sqliteDialect}
	for _, c := range cases {
		if got := isDiskFull(c.err); got != c.want {
			t.Errorf("%s: isDiskFull = %v, want %v", c.name, got, c.want)
		}
		if got := errors.Is(db.wrap("op", c.err), store.ErrDiskFull); got != c.want {
			t.Errorf("%s: wrapped as ErrDiskFull = %v, want %v", c.name, got, c.want)
		}
	}
	if !db.diskFull.Load() {
		t.Error("a disk-full error did not mark the store for Ping's write probe")
	}
}

func TestPingClearsDiskFullOnceAWriteSucceeds(t *testing.T) {
	db := openTestSQLite(t)
	defer db.Close()
	testPingClearsDiskFull(t, db)
}

func TestPostgresPingClearsDiskFull(t *testing.T) {
	testPingClearsDiskFull(t, openTestPostgres(t, pgtest.NewDatabase(t)))
}

func testPingClearsDiskFull(t *testing.T, db *DB) {
	if err := db.Ping(context.Background()); err != nil || db.diskFull.Load() {
		t.Fatalf("a healthy store: Ping = %v, marked full %v", err, db.diskFull.Load())
	}
	db.diskFull.Store(true)
	if err := db.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	if db.diskFull.Load() {
		t.Fatal("a write probe that succeeded left the store marked full")
	}
}

func TestRestrictFilesFixesLooseModes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "loose.db")
	for _, name := range []string{path, path + "-wal"} {
		if err := os.WriteFile(name, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		os.Chmod(name, 0o644) // whatever the umask
	}
	if err := os.WriteFile(path+"-shm", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	fixed, err := RestrictFiles(path)
	if err != nil || len(fixed) != 2 || fixed[0] != path || fixed[1] != path+"-wal" {
		t.Fatalf("RestrictFiles = %v, %v; want the db and its -wal", fixed, err)
	}
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		if info, _ := os.Stat(name); info.Mode().Perm() != 0o600 {
			t.Errorf("%s is %v, want 0600", name, info.Mode().Perm())
		}
	}
}
