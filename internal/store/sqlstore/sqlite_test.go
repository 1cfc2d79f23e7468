package sqlstore

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/observable-code/observable/internal/store"
	"github.com/observable-code/observable/internal/store/storetest"
)

func openTestSQLite(t *testing.T) *DB {
	t.Helper()
	db, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "test.db"), SQLiteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestSQLiteConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTestSQLite(t) })
}

func TestSQLiteReopenKeepsSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reopen.db")
	for i := 0; i < 2; i++ {
		db, err := OpenSQLite(context.Background(), path, SQLiteOptions{Synchronous: "normal"})
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		db.Close()
	}
}

func TestSQLiteRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "newer.db")
	db, err := OpenSQLite(context.Background(), path, SQLiteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.write.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = OpenSQLite(context.Background(), path, SQLiteOptions{})
	if err == nil || !strings.Contains(err.Error(), "schema version 999") {
		t.Fatalf("opening a newer database: %v; want a refusal naming version 999", err)
	}
}

func TestSQLiteRejectsBadSynchronous(t *testing.T) {
	_, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "x.db"), SQLiteOptions{Synchronous: "sometimes"})
	if err == nil || !strings.Contains(err.Error(), "full, normal or extra") {
		t.Fatalf("err = %v", err)
	}
}
