package sqlstore

import (
	"context"
	"testing"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/store"
)

// The commit of one event with a client id takes a path of its own (the
// duplicate check in the session's lock, lockOne) and so does a job the
// commit's only one that exists (updateJob): both must store and answer what
// the general path does.
func TestCommitOneEvent(t *testing.T) {
	db := openTestSQLite(t)
	defer db.Close()
	ctx := context.Background()
	one := func(session int64, id, name, status string) *store.Append {
		t.Helper()
		a := &store.Append{SessionID: session, ReceivedAt: cacheBase, Events: []domain.Event{{ID: id, Name: name, Status: status}}}
		cacheAppend(t, db, a)
		return a
	}
	s1 := cacheSession(t, db)
	other, err := db.CreateSession(ctx, []byte("another key"), "host", cacheBase)
	if err != nil {
		t.Fatal(err)
	}
	s2 := other.ID
	if a := one(s1, "x", "backup", domain.StatusCompleted); len(a.Stored) != 1 || a.Duplicates != 0 || a.Stored[0].Seq != 1 {
		t.Fatalf("first: stored %v, %d duplicates; want seq 1 stored", a.Stored, a.Duplicates)
	}
	if a := one(s1, "x", "backup", domain.StatusCompleted); len(a.Stored) != 0 || a.Duplicates != 1 {
		t.Fatalf("retry: stored %v, %d duplicates; want a duplicate", a.Stored, a.Duplicates)
	}
	if a := one(s2, "x", "backup", domain.StatusCompleted); len(a.Stored) != 1 || a.Duplicates != 0 {
		t.Fatalf("another session's id: stored %v, %d duplicates; want it stored", a.Stored, a.Duplicates)
	}
	one(s1, "y", "backup", domain.StatusFailed) // the job exists: updated by key
	one(s1, "", "backup", domain.StatusCompleted)
	if j := cacheJob(t, db, s1, "backup"); j.Runs != 3 || j.Failures != 1 || j.Last.Seq != 3 || j.Last.Status != domain.StatusCompleted {
		t.Fatalf("job: runs %d failures %d last %d %s; want 3, 1, seq 3 completed", j.Runs, j.Failures, j.Last.Seq, j.Last.Status)
	}
	if s, err := db.SessionStatus(ctx, s1); err != nil || s.EventCount != 3 {
		t.Fatalf("session: %+v %v; want 3 events", s, err)
	}
	a := &store.Append{SessionID: 1 << 40, ReceivedAt: cacheBase, Events: []domain.Event{{ID: "z", Name: "backup", Status: domain.StatusCompleted}}}
	if err := db.AppendEvents(ctx, []*store.Append{a}); err == nil {
		t.Fatal("an event of a session that does not exist was stored")
	}
}
