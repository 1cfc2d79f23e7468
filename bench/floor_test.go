package bench

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/store/sqlstore"
)

// BenchmarkSQLiteFloor is the most one SQLite writer inserts here: event
// rows of the server's own schema (its migrations), 500 to a transaction,
// through a statement prepared once, and nothing else: no HTTP, no JSON,
// no duplicate check, no job summary. It bounds what the batched-ingest
// benchmark can reach with this driver and these indexes:
//
//	go test ./bench -run '^$' -bench SQLiteFloor -benchtime 100x
//
// The variants drop a non-unique event index to show what it costs; the
// server keeps it (events_name, which the variants dropped too, is gone
// since migration 0005).
func BenchmarkSQLiteFloor(b *testing.B) {
	for _, drop := range [][]string{nil, {"events_received"}} {
		for _, rows := range []int{1, 100} {
			name := fmt.Sprintf("drop=%s/rows_per_insert=%d", strings.Join(drop, "+"), rows)
			b.Run(name, func(b *testing.B) { benchFloor(b, drop, rows) })
		}
	}
}

func benchFloor(b *testing.B, drop []string, rows int) {
	const perTx = 500
	db := openFloorDB(b, drop...)
	insert := `INSERT INTO events (session_id, seq, client_id, name, status, duration_ms, ts, received_at, source) VALUES ` +
		strings.TrimSuffix(strings.Repeat("(?,?,?,?,?,?,?,?,?),", rows), ",")
	now := time.Now().UnixMilli()
	source := `{"host":"bench","pid":4242,"sdk":"observable-python/0.1.0","runtime":"CPython 3.11.9"}`
	args := make([]any, 0, 9*rows)
	seq := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tx, err := db.Begin()
		if err != nil {
			b.Fatal(err)
		}
		stmt, err := tx.Prepare(insert)
		if err != nil {
			b.Fatal(err)
		}
		for j := 0; j < perTx/rows; j++ {
			args = args[:0]
			for k := 0; k < rows; k++ {
				seq++
				args = append(args, 1, seq, fmt.Sprintf("floor-%d", seq), fmt.Sprintf("train_model_%d", seq%20),
					"completed", 1234.5, now, now, source)
			}
			if _, err := stmt.Exec(args...); err != nil {
				b.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*perTx)/b.Elapsed().Seconds(), "rows/s")
}

// openFloorDB migrates a new database with the server's code, then opens
// it as the server's writer does (WAL, synchronous=full, foreign keys),
// and drops the indexes named.
func openFloorDB(b *testing.B, drop ...string) *sql.DB {
	b.Helper()
	path := filepath.Join(b.TempDir(), "floor.db")
	migrated, err := sqlstore.OpenSQLite(context.Background(), path, sqlstore.SQLiteOptions{})
	if err != nil {
		b.Fatal(err)
	}
	migrated.Close()
	db, err := sql.Open("sqlite", path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)")
	if err != nil {
		b.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	b.Cleanup(func() { db.Close() })
	setup := []string{`INSERT INTO sessions (id, key_hash, created_at) VALUES (1, x'01', 0)`}
	for _, index := range drop {
		setup = append(setup, "DROP INDEX "+index)
	}
	for _, q := range setup {
		if _, err := db.Exec(q); err != nil {
			b.Fatalf("%s: %v", q, err)
		}
	}
	return db
}

// BenchmarkSQLiteCommit is the floor of the POST → SSE latency: one event
// row, one transaction, synchronous=full, as each event posted one after
// another costs. It reports the commits' p50 and p99. "checkpoint=off"
// turns SQLite's automatic WAL checkpoint off, to show how much of the
// tail is the checkpoint some commits run inline (every 1000 WAL pages):
//
//	go test ./bench -run '^$' -bench SQLiteCommit -benchtime 5000x
func BenchmarkSQLiteCommit(b *testing.B) {
	for _, checkpoint := range []string{"auto", "off"} {
		b.Run("checkpoint="+checkpoint, func(b *testing.B) {
			db := openFloorDB(b)
			if checkpoint == "off" {
				if _, err := db.Exec(`PRAGMA wal_autocheckpoint = 0`); err != nil {
					b.Fatal(err)
				}
			}
			insert, err := db.Prepare(`INSERT INTO events (session_id, seq, client_id, name, status, ts, received_at) VALUES (1, ?, ?, 'train_model', 'completed', 0, 0)`)
			if err != nil {
				b.Fatal(err)
			}
			defer insert.Close()
			took := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				tx, err := db.Begin()
				if err != nil {
					b.Fatal(err)
				}
				if _, err := tx.Stmt(insert).Exec(i+1, fmt.Sprintf("commit-%d", i)); err != nil {
					b.Fatal(err)
				}
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
				took = append(took, time.Since(start))
			}
			s := Summarize(took)
			b.ReportMetric(float64(s.P50.Microseconds()), "p50-µs")
			b.ReportMetric(float64(s.P99.Microseconds()), "p99-µs")
		})
	}
}

// BenchmarkFdatasync is the disk's own floor under every durable commit:
// a 4 KiB write and fdatasync, as SQLite does to its WAL at each commit
// with synchronous=full. The file is allocated first, as a WAL is once
// checkpoints let SQLite write it from the start again. It reports p50 and
// p99:
//
//	go test ./bench -run '^$' -bench Fdatasync -benchtime 2000x
func BenchmarkFdatasync(b *testing.B) {
	const pages = 1024
	f, err := os.Create(filepath.Join(b.TempDir(), "wal"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	page := make([]byte, 4096)
	for i := 0; i < pages; i++ {
		if _, err := f.Write(page); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	took := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if _, err := f.WriteAt(page, int64(i%pages)*int64(len(page))); err != nil {
			b.Fatal(err)
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
	}
	s := Summarize(took)
	b.ReportMetric(float64(s.P50.Microseconds()), "p50-µs")
	b.ReportMetric(float64(s.P99.Microseconds()), "p99-µs")
}
