package sqlstore

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/store"
)

// BenchmarkChannelAppend is what channels add to a commit: one failed run
// of a new job (an incident, so an alert) per commit, for a session without
// channels and one with five.
func BenchmarkChannelAppend(b *testing.B) {
	for _, n := range []int{0, 5} {
		b.Run(fmt.Sprintf("channels=%d", n), func(b *testing.B) {
			ctx := context.Background()
			now := time.Now()
			db, sess := chanBenchDB(b, now)
			for i := range n {
				c := domain.Channel{ID: fmt.Sprint("ch", i), SessionID: sess.ID, Type: domain.ChannelWebhook, Notify: domain.NotifyFailures,
					Verified: true, Sealed: []byte("s"), Shown: map[string]string{}}
				if err := db.CreateChannel(ctx, c, nil, now); err != nil {
					b.Fatal(err)
				}
			}
			queued := 0
			b.ResetTimer()
			for i := range b.N {
				a := &store.Append{SessionID: sess.ID, ReceivedAt: now, Events: []domain.Event{{Name: fmt.Sprint("job", i), Status: domain.StatusFailed}}}
				if err := db.AppendEvents(ctx, []*store.Append{a}); err != nil {
					b.Fatal(err)
				}
				queued += a.Channels
			}
			if queued != n*b.N {
				b.Fatalf("queued %d channel messages; want %d", queued, n*b.N)
			}
		})
	}
}

// BenchmarkChannelClaim claims and completes queued channel jobs, 100 a claim.
func BenchmarkChannelClaim(b *testing.B) {
	ctx := context.Background()
	now := time.Now()
	db, sess := chanBenchDB(b, now)
	c := domain.Channel{ID: "ch", SessionID: sess.ID, Type: domain.ChannelWebhook, Notify: domain.NotifyFailures,
		Verified: true, Sealed: []byte("s"), Shown: map[string]string{}}
	if err := db.CreateChannel(ctx, c, nil, now); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		for range 100 {
			if err := db.QueueChannelMessage(ctx, sess.ID, "ch", domain.ChannelKindTest, now); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		jobs, err := db.ClaimChannelJobs(ctx, now, time.Minute, 100)
		if err != nil || len(jobs) != 100 {
			b.Fatalf("claimed %d, %v", len(jobs), err)
		}
		for _, j := range jobs {
			if err := db.CompleteChannelJob(ctx, j.ID, j.Channel.ID); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "jobs/s")
}

// chanBenchDB is a SQLite database in b's temporary directory, closed when
// b ends, with one session made at now.
func chanBenchDB(b *testing.B, now time.Time) (*DB, domain.Session) {
	b.Helper()
	ctx := context.Background()
	db, err := OpenSQLite(ctx, filepath.Join(b.TempDir(), "bench.db"), SQLiteOptions{Synchronous: "normal"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	sess, err := db.CreateSession(ctx, []byte("bench-key"), "h", now)
	if err != nil {
		b.Fatal(err)
	}
	return db, sess
}
