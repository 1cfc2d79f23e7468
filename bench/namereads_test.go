package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/store"
	"github.com/observable-code/observable/internal/store/sqlstore"
)

// BenchmarkNameReads times the reads by job name on one session of
// 1,000,000 events of 21 names, one of them rare (50 events): GET
// /events?name= (a rare name, a frequent one, a page from the middle) and
// the jobs list with each job's p50/p95. They read the name chain
// (migration 0005) where they read the (session, name, seq) index before:
//
//	go test ./bench -run '^$' -bench NameReads -benchtime 200x
//
// Filling the database takes a minute or so.
func BenchmarkNameReads(b *testing.B) {
	ctx := context.Background()
	db, err := sqlstore.OpenSQLite(ctx, filepath.Join(b.TempDir(), "names.db"), sqlstore.SQLiteOptions{Synchronous: "normal"})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	s, err := db.CreateSession(ctx, []byte("namereads"), "", time.Now())
	if err != nil {
		b.Fatal(err)
	}
	const total, batch, rareEvery = 1_000_000, 500, 20_000
	now := time.Now()
	for i := 0; i < total; i += batch {
		a := &store.Append{SessionID: s.ID, ReceivedAt: now}
		for j := i; j < i+batch; j++ {
			name := fmt.Sprintf("job-%02d", j%20)
			if j%rareEvery == rareEvery-1 {
				name = "rare"
			}
			d := float64(j % 997)
			a.Events = append(a.Events, domain.Event{Name: name, Status: domain.StatusCompleted, DurationMS: &d})
		}
		if err := db.AppendEvents(ctx, []*store.Append{a}); err != nil {
			b.Fatal(err)
		}
	}
	for _, c := range []struct {
		name string
		read func() (int, error)
	}{
		{"rare/limit=50", func() (int, error) {
			evs, err := db.ListEvents(ctx, s.ID, store.EventQuery{Name: "rare", Limit: 50})
			return len(evs), err
		}},
		{"frequent/limit=50", func() (int, error) {
			evs, err := db.ListEvents(ctx, s.ID, store.EventQuery{Name: "job-07", Limit: 50})
			return len(evs), err
		}},
		{"frequent/limit=50/before=next_before", func() (int, error) {
			// The second page, as a client asks for it.
			evs, err := db.ListEvents(ctx, s.ID, store.EventQuery{Name: "job-07", Before: total - 12, Limit: 50})
			return len(evs), err
		}},
		{"jobs", func() (int, error) {
			jobs, err := db.Jobs(ctx, s.ID)
			return len(jobs), err
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				n, err := c.read()
				if err != nil || n == 0 {
					b.Fatalf("%d, %v", n, err)
				}
			}
		})
	}
}
