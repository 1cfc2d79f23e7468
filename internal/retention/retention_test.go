package retention

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/store"
	"github.com/observable-code/observable/internal/store/sqlstore"
)

func TestOncePrunesOldEventsAndPairings(t *testing.T) {
	ctx := context.Background()
	db, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "r.db"), sqlstore.SQLiteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	sess, err := db.CreateSession(ctx, []byte("k"), "", now)
	if err != nil {
		t.Fatal(err)
	}
	var events []domain.Event
	for i := 0; i < pruneChunk+10; i++ { // more than one chunk
		events = append(events, domain.Event{Name: "old", Status: "completed"})
	}
	for _, a := range []*store.Append{
		{SessionID: sess.ID, Events: events, ReceivedAt: now.Add(-40 * 24 * time.Hour)},
		{SessionID: sess.ID, Events: []domain.Event{{Name: "new", Status: "failed"}}, ReceivedAt: now.Add(-time.Hour)},
	} {
		if err := db.AppendEvents(ctx, []*store.Append{a}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []domain.Pairing{
		{CodeHash: []byte("old"), SessionID: sess.ID, CreatedAt: domain.NewTime(now.Add(-3 * 24 * time.Hour)), ExpiresAt: domain.NewTime(now.Add(-2 * 24 * time.Hour))},
		{CodeHash: []byte("live"), SessionID: sess.ID, CreatedAt: domain.NewTime(now), ExpiresAt: domain.NewTime(now.Add(time.Minute))},
	} {
		if err := db.CreatePairing(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	var pruned int64
	p := &Pruner{Store: db, Retention: 30 * 24 * time.Hour, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnPruned: func(n int64) { pruned += n }, Now: func() time.Time { return now }}
	if err := p.Once(ctx); err != nil {
		t.Fatal(err)
	}
	if pruned != pruneChunk+10 {
		t.Fatalf("pruned %d, want %d", pruned, pruneChunk+10)
	}
	left, err := db.EventsAfter(ctx, sess.ID, 0, 100)
	if err != nil || len(left) != 1 || left[0].Name != "new" {
		t.Fatalf("left %v, %v", left, err)
	}
	jobs, err := db.Jobs(ctx, sess.ID)
	if err != nil || len(jobs) != 1 || jobs[0].Name != "new" {
		t.Fatalf("jobs %+v, %v", jobs, err)
	}
	if _, err := db.Pairing(ctx, []byte("old")); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("a long-expired pairing was kept (%v)", err)
	}
	if _, err := db.Pairing(ctx, []byte("live")); err != nil {
		t.Fatalf("a live pairing was pruned: %v", err)
	}
	// Retention 0 keeps events forever.
	keep := &Pruner{Store: db, Log: p.Log, Now: func() time.Time { return now.Add(1000 * time.Hour) }}
	if err := keep.Once(ctx); err != nil {
		t.Fatal(err)
	}
	if left, err := db.EventsAfter(ctx, sess.ID, 0, 100); err != nil || len(left) != 1 {
		t.Fatalf("retention 0 pruned events (%d left, %v)", len(left), err)
	}
}
