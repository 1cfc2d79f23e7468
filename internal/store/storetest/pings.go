package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/store"
)

// testPingChecks: a ping UUID's hash finds its job, recording it again is
// harmless, and a session's rows go with the session's other data.
func testPingChecks(t *testing.T, s store.Store) {
	ctx := context.Background()
	a, b := newSession(t, s), newSession(t, s)
	if err := s.PutPingChecks(ctx, a.ID, []store.PingCheck{{UUIDHash: hash("uuid-a"), Name: "backup"}, {UUIDHash: hash("uuid-a2"), Name: "report"}}, base); err != nil {
		t.Fatal(err)
	}
	if err := s.PutPingChecks(ctx, a.ID, []store.PingCheck{{UUIDHash: hash("uuid-a"), Name: "backup"}}, base.Add(time.Hour)); err != nil {
		t.Fatalf("recording a ping UUID twice: %v", err)
	}
	if err := s.PutPingChecks(ctx, b.ID, []store.PingCheck{{UUIDHash: hash("uuid-b"), Name: "backup"}}, base); err != nil {
		t.Fatal(err)
	}
	if err := s.PutPingChecks(ctx, b.ID, nil, base); err != nil {
		t.Fatalf("recording none: %v", err)
	}
	if _, name, _ := s.PingCheck(ctx, hash("uuid-a2")); name != "report" {
		t.Fatalf("the second of a batch: %q", name)
	}
	id, name, err := s.PingCheck(ctx, hash("uuid-a"))
	if err != nil || id != a.ID || name != "backup" {
		t.Fatalf("PingCheck: %d %q %v", id, name, err)
	}
	if id, _, _ := s.PingCheck(ctx, hash("uuid-b")); id != b.ID {
		t.Fatalf("uuid-b belongs to session %d, got %d", b.ID, id)
	}
	if _, _, err := s.PingCheck(ctx, hash("nobody")); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("unknown hash: %v", err)
	}
}

// testPingRuns: an end takes the start with its rid (overlapping runs each
// their own), or without rid the latest start; a start is taken once.
func testPingRuns(t *testing.T, s store.Store) {
	ctx := context.Background()
	sess := newSession(t, s)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.StartPingRun(ctx, sess.ID, "sync", "r1", base))
	must(s.StartPingRun(ctx, sess.ID, "sync", "r2", base.Add(time.Second)))
	must(s.StartPingRun(ctx, sess.ID, "other", "r1", base.Add(5*time.Second)))
	at, ok, err := s.EndPingRun(ctx, sess.ID, "sync", "r1")
	if err != nil || !ok || !at.Equal(base) {
		t.Fatalf("end r1: %v %v %v", at, ok, err)
	}
	if _, ok, _ := s.EndPingRun(ctx, sess.ID, "sync", "r1"); ok {
		t.Fatal("a start was taken twice")
	}
	at, ok, err = s.EndPingRun(ctx, sess.ID, "sync", "")
	if err != nil || !ok || !at.Equal(base.Add(time.Second)) {
		t.Fatalf("end without rid takes the latest start (r2): %v %v %v", at, ok, err)
	}
	if _, ok, _ := s.EndPingRun(ctx, sess.ID, "sync", ""); ok {
		t.Fatal("no start is left, yet an end found one")
	}
	// A restart with the same rid moves the start.
	must(s.StartPingRun(ctx, sess.ID, "other", "r1", base.Add(9*time.Second)))
	if at, _, _ := s.EndPingRun(ctx, sess.ID, "other", "r1"); !at.Equal(base.Add(9 * time.Second)) {
		t.Fatalf("restarted run: %v", at)
	}
	must(s.StartPingRun(ctx, sess.ID, "old", "", base))
	must(s.PrunePingStarts(ctx, base.Add(time.Minute)))
	if _, ok, _ := s.EndPingRun(ctx, sess.ID, "old", ""); ok {
		t.Fatal("a pruned start was found")
	}
}
