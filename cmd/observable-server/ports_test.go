package main

// Issue 10's "one home for each rule", against the real binary: the API
// refuses a push subscription with the very check delivery applies, and
// the service worker is served the app's own route list.

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A key of the right length that is no P-256 point was stored with a 204
// and then failed every delivery; the API now refuses it as delivery would.
func TestPortsPushKeysCheckedAsDeliveryChecksThem(t *testing.T) {
	p := launch(t, filepath.Join(t.TempDir(), "ports.db"))
	awaitReady(t, 15*time.Second, p)
	_, code := newSession(t, p)
	token := claimPairing(t, p, code)
	enc := base64.RawURLEncoding.EncodeToString
	p256dh, auth := portsBrowserKeys(t)
	sub := func(p256dh, auth string) string {
		return fmt.Sprintf(`{"endpoint":"https://fcm.googleapis.com/fcm/send/ports","keys":{"p256dh":%q,"auth":%q}}`, p256dh, auth)
	}
	for _, bad := range []struct{ body, field string }{
		{sub(enc(append([]byte{4}, make([]byte, 64)...)), auth), "keys.p256dh"}, // 65 bytes, on no curve
		{sub(p256dh, enc(make([]byte, 8))), "keys.auth"},
	} {
		r := callAPI("PUT", p.url+"/api/v1/device/push", token, bad.body)
		var e struct {
			Error struct{ Code, Field string }
		}
		if err := json.Unmarshal(r.body, &e); err != nil || r.status != http.StatusBadRequest || e.Error.Code != "invalid_keys" || e.Error.Field != bad.field {
			t.Errorf("unusable %s: %d %s; want 400 invalid_keys on %s", bad.field, r.status, r.body, bad.field)
		}
	}
	mustCall(t, http.StatusNoContent, "PUT", p.url+"/api/v1/device/push", token, sub(p256dh, auth), nil)
}

// portsBrowserKeys makes the keys of a browser's push subscription
// (base64url): a P-256 public key and a 16-byte auth secret.
func portsBrowserKeys(t *testing.T) (p256dh, auth string) {
	t.Helper()
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc(priv.PublicKey().Bytes()), enc(secret)
}

// The service worker decides which navigations get the app shell offline;
// it must own exactly the paths the server serves the shell for.
func TestPortsServiceWorkerHasTheAppsRoutes(t *testing.T) {
	p := launch(t, filepath.Join(t.TempDir(), "ports.db"))
	awaitReady(t, 15*time.Second, p)
	sw := string(mustCall(t, http.StatusOK, "GET", p.url+"/sw.js", "", "", nil).body)
	if strings.Contains(sw, "__APP_PATHS__") || !strings.Contains(sw, `const APP_PATHS = [/^\/$/, /^\/jobs$/, `) {
		t.Fatalf("sw.js does not carry the app's route list:\n%.600s", sw)
	}
	for path, want := range map[string]int{"/runs/1234567890123456789": 200, "/runs/12345678901234567890": 404, "/jobs/x": 200, "/settings/x": 404} {
		if got := statusOf(p.url + path); got != want {
			t.Errorf("GET %s: %d, want %d", path, got, want)
		}
	}
}
