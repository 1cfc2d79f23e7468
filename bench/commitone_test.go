package bench

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/store"
	"github.com/observable-code/observable/internal/store/sqlstore"
)

// BenchmarkCommitOne is the store's part of one-after-another ingest: one
// commit of one event of a known job, called directly, on SQLite with
// synchronous=normal so that no fsync (whose kernel time follows the
// machine's load) blurs the commit's own CPU:
//
//	go test ./bench -run '^$' -bench CommitOne -benchtime 20000x
func BenchmarkCommitOne(b *testing.B) {
	ctx := context.Background()
	db, err := sqlstore.OpenSQLite(ctx, filepath.Join(b.TempDir(), "one.db"), sqlstore.SQLiteOptions{Synchronous: "normal"})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	s, err := db.CreateSession(ctx, []byte("commit-one-key-hash"), "bench", time.Now())
	if err != nil {
		b.Fatal(err)
	}
	duration := 1234.5
	source := json.RawMessage(`{"host":"bench","pid":4242,"sdk":"observable-python/0.1.0","runtime":"CPython 3.11.9"}`)
	commit := func(i int) {
		a := &store.Append{SessionID: s.ID, ReceivedAt: time.Now(), Events: []domain.Event{{
			ID: "c" + strconv.Itoa(i), Name: "train_model", Status: "completed", DurationMS: &duration, Source: source}}}
		if err := db.AppendEvents(ctx, []*store.Append{a}); err != nil || len(a.Stored) != 1 {
			b.Fatalf("append: %v (%d stored)", err, len(a.Stored))
		}
	}
	commit(-1) // the job exists: the common commit
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPU()
	for i := 0; i < b.N; i++ {
		commit(i)
	}
	b.ReportMetric(float64((processCPU()-cpu).Microseconds())/float64(b.N), "cpu-µs/event")
}
