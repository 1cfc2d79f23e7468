package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/store"
)

// testSessionWithPairing: a session and its first pairing are stored
// together or not at all (a session without its pairing is an orphan no
// one can pair).
func testSessionWithPairing(t *testing.T, s store.Store) {
	ctx := context.Background()
	key, code := hash(randomName("key")), hash(randomName("code"))
	p := domain.Pairing{CodeHash: code, CreatedAt: domain.NewTime(base), ExpiresAt: domain.NewTime(base.Add(10 * time.Minute))}
	sess, err := s.CreateSessionWithPairing(ctx, key, "host-a", base, p)
	if err != nil {
		t.Fatal(err)
	}
	if byKey, err := s.SessionByKey(ctx, key); err != nil || byKey.ID != sess.ID || byKey.Host != "host-a" || sess.ID == 0 {
		t.Fatalf("SessionByKey = %+v, %v; created %+v", byKey, err, sess)
	}
	got, err := s.Pairing(ctx, code)
	if err != nil || got.SessionID != sess.ID || !got.Usable(base) {
		t.Fatalf("Pairing = %+v, %v; want a usable pairing of session %d", got, err, sess.ID)
	}

	// The same code again: the pairing insert fails, so the session must not stay.
	orphanKey := hash(randomName("key"))
	if _, err := s.CreateSessionWithPairing(ctx, orphanKey, "host-b", base, p); err == nil {
		t.Fatal("a pairing with a code already stored was accepted")
	}
	if _, err := s.SessionByKey(ctx, orphanKey); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("a failed pairing left its session behind: SessionByKey error = %v, want ErrNotFound", err)
	}
}
