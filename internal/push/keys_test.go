package push

import (
	"context"
	"crypto/ecdh"
	"encoding/base64"
	"strings"
	"sync"
	"testing"
)

func TestVAPIDKeysMadeOnceAndKept(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/x.db"

	db := openDB(t, path)
	first, err := New(ctx, Options{Store: db})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(first.PublicKey())
	if err != nil {
		t.Fatalf("public key %q is not base64url: %v", first.PublicKey(), err)
	}
	if _, err := ecdh.P256().NewPublicKey(raw); err != nil || len(raw) != 65 || raw[0] != 4 {
		t.Fatalf("public key is not an uncompressed P-256 point (%d bytes): %v", len(raw), err)
	}
	again, err := New(ctx, Options{Store: db})
	if err != nil || again.PublicKey() != first.PublicKey() {
		t.Fatalf("a second start made another key (%v)", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	reopened, err := New(ctx, Options{Store: openDB(t, path)})
	if err != nil {
		t.Fatal(err)
	}
	if reopened.PublicKey() != first.PublicKey() {
		t.Fatal("the VAPID key changed across a restart: every subscription would break")
	}
}

// Instances starting together on a new database agree on one key pair.
func TestVAPIDKeysAgreedByInstancesStartingTogether(t *testing.T) {
	path := t.TempDir() + "/x.db"
	var dbs []Store
	for range 4 {
		dbs = append(dbs, openDB(t, path))
	}
	startTogetherAgreeOnKeys(t, dbs)
}

// startTogetherAgreeOnKeys starts a Service on each store at once (a new
// database: none has keys yet) and checks that all got the same key pair.
func startTogetherAgreeOnKeys(t *testing.T, dbs []Store) {
	t.Helper()
	keys := make([]string, len(dbs))
	var wg sync.WaitGroup
	for i, db := range dbs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := New(context.Background(), Options{Store: db})
			if err != nil {
				t.Error(err)
				return
			}
			keys[i] = s.PublicKey()
		}()
	}
	wg.Wait()
	for i := range keys {
		if keys[i] == "" || keys[i] != keys[0] {
			t.Fatalf("instances starting together got different keys: %v", keys)
		}
	}
}

func TestBrokenKeysAreReported(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, t.TempDir()+"/x.db")
	if _, err := db.SetSettingOnce(ctx, vapidSetting, `{"public_key":"AAAA","private_key":"AAAA"}`); err != nil {
		t.Fatal(err)
	}
	_, err := New(ctx, Options{Store: db})
	if err == nil || !strings.Contains(err.Error(), vapidSetting) {
		t.Fatalf("New with broken stored keys: %v; want an error naming the setting", err)
	}
}

func TestContactMustBeMailtoOrHTTPS(t *testing.T) {
	db := openDB(t, t.TempDir()+"/x.db")
	if _, err := New(context.Background(), Options{Store: db, Contact: "ops@example.org"}); err == nil || !strings.Contains(err.Error(), "--push-contact") {
		t.Fatalf("a bare address was accepted as contact: %v", err)
	}
	for _, c := range []string{"mailto:ops@example.org", "https://example.org/contact"} {
		s, err := New(context.Background(), Options{Store: db, Contact: c})
		if err != nil {
			t.Fatal(err)
		}
		if want := strings.TrimPrefix(c, "mailto:"); s.sub != want {
			t.Fatalf("contact %q gives the library %q, want %q (it adds mailto: itself)", c, s.sub, want)
		}
	}
}
