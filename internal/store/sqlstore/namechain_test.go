package sqlstore

import (
	"context"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/pgtest"
	"github.com/observable-code/observable/internal/store"
)

// Retention prunes a name chain at its old end: the readers that walk it
// stop where it leaves the retained events, the job whose events are all
// gone goes, and new events start a chain of their own.
func namechainPruned(t *testing.T, db *DB) {
	ctx := context.Background()
	s, err := db.CreateSession(ctx, []byte("namechain-key"), "", time.UnixMilli(1_000))
	if err != nil {
		t.Fatal(err)
	}
	// Commit c (at c seconds) holds, for each of its events, a: one run of
	// "kept" lasting c ms, then one of "gone" (in commits 1-3 only).
	commit := func(c int, names ...string) {
		t.Helper()
		a := &store.Append{SessionID: s.ID, ReceivedAt: time.UnixMilli(int64(c) * 1000)}
		for _, n := range names {
			d := float64(c)
			a.Events = append(a.Events, domain.Event{Name: n, Status: domain.StatusCompleted, DurationMS: &d})
		}
		if err := db.AppendEvents(ctx, []*store.Append{a}); err != nil {
			t.Fatal(err)
		}
	}
	for c := 1; c <= 6; c++ {
		if c <= 3 {
			commit(c, "kept", "gone", "kept") // two of a name in one commit: chained in Go
		} else {
			commit(c, "kept")
		}
	}
	seqs := func(name string, before int64) []int64 {
		t.Helper()
		evs, err := db.ListEvents(ctx, s.ID, store.EventQuery{Name: name, Before: before, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var out []int64
		for _, e := range evs {
			if e.Name != name {
				t.Fatalf("?name=%s listed %+v", name, e)
			}
			out = append(out, e.Seq)
		}
		return out
	}
	// Seqs: commit 1 is 1-3, 2 is 4-6, 3 is 7-9, then 10, 11, 12.
	if got, want := seqs("kept", 0), []int64{12, 11, 10, 9, 7, 6, 4, 3, 1}; !equalSeqs(got, want) {
		t.Fatalf("kept: %v; want %v", got, want)
	}
	if got, want := seqs("kept", 7), []int64{6, 4, 3, 1}; !equalSeqs(got, want) {
		t.Fatalf("kept before 7: %v; want %v", got, want)
	}
	if got, want := seqs("kept", 8), []int64{7, 6, 4, 3, 1}; !equalSeqs(got, want) { // 8 is "gone"'s
		t.Fatalf("kept before 8: %v; want %v", got, want)
	}

	n, err := db.PruneEvents(ctx, time.UnixMilli(3_000), 1000) // commits 1 and 2
	if err != nil || n != 6 {
		t.Fatalf("pruned %d, %v; want 6", n, err)
	}
	if got, want := seqs("kept", 0), []int64{12, 11, 10, 9, 7}; !equalSeqs(got, want) {
		t.Fatalf("kept after pruning: %v; want %v", got, want)
	}
	if got, want := seqs("kept", 3), []int64(nil); !equalSeqs(got, want) {
		t.Fatalf("kept before a pruned seq: %v; want none", got)
	}
	if got, want := seqs("gone", 0), []int64{8}; !equalSeqs(got, want) {
		t.Fatalf("gone after pruning: %v; want %v", got, want)
	}
	job, err := db.Job(ctx, s.ID, "kept")
	if err != nil || job.Runs != 5 || job.P50MS == nil || *job.P50MS != 4 || *job.P95MS != 6 {
		t.Fatalf("kept after pruning: %+v, %v; want 5 runs, p50 4, p95 6", job, err)
	}

	if _, err := db.PruneEvents(ctx, time.UnixMilli(4_000), 1000); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Job(ctx, s.ID, "gone"); err != domain.ErrNotFound {
		t.Fatalf("gone, all its events pruned: %v; want not found", err)
	}
	commit(7, "gone")
	if got, want := seqs("gone", 0), []int64{13}; !equalSeqs(got, want) {
		t.Fatalf("gone again: %v; want %v", got, want)
	}
	jobs, err := db.Jobs(ctx, s.ID)
	if err != nil || len(jobs) != 2 || jobs[0].Name != "gone" || jobs[0].Runs != 1 || *jobs[0].P50MS != 7 ||
		jobs[1].Runs != 3 || *jobs[1].P50MS != 5 || *jobs[1].P95MS != 6 {
		t.Fatalf("jobs: %+v, %v", jobs, err)
	}
}

func equalSeqs(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestNamechainPrunedSQLite(t *testing.T) {
	db := openTestSQLite(t)
	defer db.Close()
	namechainPruned(t, db)
}

func TestNamechainPrunedPostgres(t *testing.T) {
	namechainPruned(t, openTestPostgres(t, pgtest.NewDatabase(t)))
}
