package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/store"
)

func testSessionsByKey(t *testing.T, s store.Store) {
	ctx := context.Background()
	a, err := s.CreateSession(ctx, hash("key-a"), "laptop", base)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.CreateSession(ctx, hash("key-b"), "", base)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID == b.ID {
		t.Fatalf("two sessions got the same id %d", a.ID)
	}
	got, err := s.SessionByKey(ctx, hash("key-a"))
	if err != nil || got.ID != a.ID || got.Host != "laptop" || !got.CreatedAt.Equal(base) {
		t.Fatalf("SessionByKey(a) = %+v, %v; want id %d host laptop created %v", got, err, a.ID, base)
	}
	if _, err := s.SessionByKey(ctx, hash("key-c")); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("SessionByKey(unknown) error = %v, want ErrNotFound", err)
	}
	if got, err := s.Session(ctx, b.ID); err != nil || got.ID != b.ID {
		t.Fatalf("Session(b) = %+v, %v", got, err)
	}
	if _, err := s.CreateSession(ctx, hash("key-a"), "", base); err == nil {
		t.Fatal("a second session with the same key hash was accepted")
	}
	st, err := s.SessionStatus(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Paired || len(st.Devices) != 0 || st.Devices == nil || st.EventCount != 0 || !st.LastEventAt.IsZero() {
		t.Fatalf("status of a new session = %+v; want unpaired, empty non-nil devices, no events", st)
	}
}

func testPairingLifecycle(t *testing.T, s store.Store) {
	ctx := context.Background()
	sess := newSession(t, s)
	p := domain.Pairing{CodeHash: hash("code-1"), SessionID: sess.ID, CreatedAt: domain.NewTime(base), ExpiresAt: domain.NewTime(base.Add(10 * time.Minute))}
	if err := s.CreatePairing(ctx, p); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // reading never consumes
		got, err := s.Pairing(ctx, hash("code-1"))
		if err != nil || got.SessionID != sess.ID || !got.UsedAt.IsZero() || !got.ExpiresAt.Equal(p.ExpiresAt.Time) {
			t.Fatalf("Pairing read %d = %+v, %v", i, got, err)
		}
	}
	if _, err := s.Pairing(ctx, hash("nope")); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("Pairing(unknown) error = %v, want ErrNotFound", err)
	}
	now := base.Add(time.Minute)
	d, err := s.ClaimPairing(ctx, hash("code-1"), domain.Device{ID: "dev-1", Name: "Pixel"}, hash("tok-1"), now)
	if err != nil {
		t.Fatal(err)
	}
	if d.SessionID != sess.ID || d.Name != "Pixel" || !d.PairedAt.Equal(now) || d.Notify != domain.NotifyFailures {
		t.Fatalf("claimed device = %+v", d)
	}
	if _, err := s.ClaimPairing(ctx, hash("code-1"), domain.Device{ID: "dev-2"}, hash("tok-2"), now); !errors.Is(err, domain.ErrGone) {
		t.Fatalf("second claim error = %v, want ErrGone", err)
	}
	if _, err := s.DeviceByToken(ctx, hash("tok-2")); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("a refused claim left a device behind: %v", err)
	}
	if _, err := s.ClaimPairing(ctx, hash("unknown"), domain.Device{ID: "dev-3"}, hash("tok-3"), now); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("claim of unknown code error = %v, want ErrNotFound", err)
	}
	got, err := s.DeviceByToken(ctx, hash("tok-1"))
	if err != nil || got.ID != "dev-1" || got.SessionID != sess.ID || got.HasPush {
		t.Fatalf("DeviceByToken = %+v, %v", got, err)
	}
	st, err := s.SessionStatus(ctx, sess.ID)
	if err != nil || !st.Paired || len(st.Devices) != 1 || st.Devices[0].ID != "dev-1" {
		t.Fatalf("status after pairing = %+v, %v", st, err)
	}
	if p, _ := s.Pairing(ctx, hash("code-1")); p.UsedAt.IsZero() {
		t.Fatal("a claimed pairing has no used_at")
	}
}

func testPairingExpiry(t *testing.T, s store.Store) {
	ctx := context.Background()
	sess := newSession(t, s)
	p := domain.Pairing{CodeHash: hash("old"), SessionID: sess.ID, CreatedAt: domain.NewTime(base), ExpiresAt: domain.NewTime(base.Add(time.Minute))}
	if err := s.CreatePairing(ctx, p); err != nil {
		t.Fatal(err)
	}
	_, err := s.ClaimPairing(ctx, hash("old"), domain.Device{ID: "late"}, hash("tok"), base.Add(time.Minute))
	if !errors.Is(err, domain.ErrGone) {
		t.Fatalf("claim at expiry error = %v, want ErrGone", err)
	}
}

func testPairingReplace(t *testing.T, s store.Store) {
	ctx := context.Background()
	sess := newSession(t, s)
	old1, tok1 := pair(t, s, sess.ID, false)
	_, tok2 := pair(t, s, sess.ID, false)
	// An unclaimed replacing pairing changes nothing.
	p := domain.Pairing{CodeHash: hash("replace"), SessionID: sess.ID, CreatedAt: domain.NewTime(base), ExpiresAt: domain.NewTime(base.Add(time.Hour)), Replace: true}
	if err := s.CreatePairing(ctx, p); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.SessionStatus(ctx, sess.ID); len(st.Devices) != 2 {
		t.Fatalf("an unclaimed replacing pairing changed the devices: %+v", st.Devices)
	}
	other := newSession(t, s)
	_, otherTok := pair(t, s, other.ID, false)
	n, err := s.ClaimPairing(ctx, hash("replace"), domain.Device{ID: "new"}, hash("tok-new"), base.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{tok1, tok2} {
		if _, err := s.DeviceByToken(ctx, hash(tok)); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("a replaced device's token still works: %v", err)
		}
	}
	st, _ := s.SessionStatus(ctx, sess.ID)
	if len(st.Devices) != 1 || st.Devices[0].ID != n.ID || st.Devices[0].ID == old1.ID {
		t.Fatalf("devices after replace = %+v; want only %s", st.Devices, n.ID)
	}
	if _, err := s.DeviceByToken(ctx, hash(otherTok)); err != nil {
		t.Fatalf("replace removed another session's device: %v", err)
	}
}

func testDeviceSettings(t *testing.T, s store.Store) {
	ctx := context.Background()
	sess := newSession(t, s)
	d, tok := pair(t, s, sess.ID, false)
	want := domain.DeviceSettings{Name: "Work phone ✓", Notify: domain.NotifyAll, Muted: []string{"noisy", "ping"}}
	if err := s.UpdateDevice(ctx, d.ID, want); err != nil {
		t.Fatal(err)
	}
	got, err := s.DeviceByToken(ctx, hash(tok))
	if err != nil || got.Name != want.Name || got.Notify != want.Notify || !slices.Equal(got.Muted, want.Muted) {
		t.Fatalf("settings round trip = %+v, %v; want %+v", got, err, want)
	}
	seen := base.Add(time.Hour)
	if err := s.TouchDevice(ctx, d.ID, seen); err != nil {
		t.Fatal(err)
	}
	sub := &domain.PushSubscription{Endpoint: "https://push.example/abc", P256dh: "p", Auth: "a"}
	if err := s.SetPush(ctx, d.ID, sub); err != nil {
		t.Fatal(err)
	}
	got, _ = s.DeviceByToken(ctx, hash(tok))
	if !got.LastSeenAt.Equal(seen) || !got.HasPush {
		t.Fatalf("after touch and push: %+v", got)
	}
	if err := s.SetPush(ctx, d.ID, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ = s.DeviceByToken(ctx, hash(tok)); got.HasPush {
		t.Fatal("push subscription not removed")
	}
	for name, err := range map[string]error{
		"UpdateDevice": s.UpdateDevice(ctx, "missing", want),
		"TouchDevice":  s.TouchDevice(ctx, "missing", seen),
		"SetPush":      s.SetPush(ctx, "missing", sub),
		"DeleteDevice": s.DeleteDevice(ctx, "missing"),
	} {
		if !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("%s(missing device) error = %v, want ErrNotFound", name, err)
		}
	}
}

func testPushEndpointHasOneDevicePerSession(t *testing.T, s store.Store) {
	ctx := context.Background()
	sess, other := newSession(t, s), newSession(t, s)
	old, oldTok := pair(t, s, sess.ID, false)
	again, _ := pair(t, s, sess.ID, false)
	elsewhere, elsewhereTok := pair(t, s, other.ID, false)
	sub := &domain.PushSubscription{Endpoint: "https://push.example/phone", P256dh: "p", Auth: "a"}
	for _, d := range []domain.Device{old, elsewhere, again} {
		if err := s.SetPush(ctx, d.ID, sub); err != nil {
			t.Fatal(err)
		}
	}
	if d, _ := s.DeviceByToken(ctx, hash(oldTok)); d.HasPush {
		t.Fatal("the session's older record of the same browser keeps the endpoint: every push would arrive twice")
	}
	if d, _ := s.DeviceByToken(ctx, hash(elsewhereTok)); !d.HasPush {
		t.Fatal("another session's device lost its subscription")
	}
}

func testDeviceDelete(t *testing.T, s store.Store) {
	ctx := context.Background()
	sess := newSession(t, s)
	d, tok := pair(t, s, sess.ID, false)
	if err := s.DeleteDevice(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeviceByToken(ctx, hash(tok)); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("token works after delete: %v", err)
	}
	if st, _ := s.SessionStatus(ctx, sess.ID); st.Paired {
		t.Fatal("session still paired after its only device was deleted")
	}
}

func testPrunePairings(t *testing.T, s store.Store) {
	ctx := context.Background()
	sess := newSession(t, s)
	for i, exp := range []time.Duration{time.Minute, time.Hour} {
		p := domain.Pairing{CodeHash: hash(string(rune('a' + i))), SessionID: sess.ID, CreatedAt: domain.NewTime(base), ExpiresAt: domain.NewTime(base.Add(exp))}
		if err := s.CreatePairing(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.PrunePairings(ctx, base.Add(30*time.Minute))
	if err != nil || n != 1 {
		t.Fatalf("PrunePairings = %d, %v; want 1", n, err)
	}
	if _, err := s.Pairing(ctx, hash("b")); err != nil {
		t.Fatalf("a live pairing was pruned: %v", err)
	}
}

// testPairingAgain claims as a phone that was one of the session's
// devices: its old record goes with the claim; a device of another session
// named as previous stays.
func testPairingAgain(t *testing.T, s store.Store) {
	ctx := context.Background()
	sess, other := newSession(t, s), newSession(t, s)
	old, oldTok := pair(t, s, sess.ID, false)
	elsewhere, elsewhereTok := pair(t, s, other.ID, false)
	claim := func(code, previous string) domain.Device {
		t.Helper()
		p := domain.Pairing{CodeHash: hash(code), SessionID: sess.ID, CreatedAt: domain.NewTime(base), ExpiresAt: domain.NewTime(base.Add(time.Hour))}
		if err := s.CreatePairing(ctx, p); err != nil {
			t.Fatal(err)
		}
		d, err := s.ClaimPairingAgain(ctx, hash(code), domain.Device{ID: randomName("dev"), Name: "phone"}, hash(randomName("tok")), previous, base.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	again := claim("again-1", old.ID)
	if _, err := s.DeviceByToken(ctx, hash(oldTok)); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("the phone's old record still stands after it paired again: %v", err)
	}
	claim("again-2", elsewhere.ID)
	if _, err := s.DeviceByToken(ctx, hash(elsewhereTok)); err != nil {
		t.Fatalf("another session's device went with a claim that named it: %v", err)
	}
	if st, _ := s.SessionStatus(ctx, sess.ID); len(st.Devices) != 2 || (st.Devices[0].ID != again.ID && st.Devices[1].ID != again.ID) {
		t.Fatalf("devices = %+v; want the phone's new record and the second claim's", st.Devices)
	}
}
