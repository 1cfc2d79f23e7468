package api

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"
)

func TestDeviceSettings(t *testing.T) {
	h := newHarness(t)
	s := h.newSession()
	token := h.pair(s)
	r := h.do("GET", "/api/v1/device", nil, bearerAuth(token))
	m := r.json(t)
	if r.status != 200 || m["name"] != "test phone" || m["notify"] != "failures" || len(m["muted"].([]any)) != 0 || m["push"] != false {
		t.Fatalf("defaults: %s", r.body)
	}
	r = h.do("PATCH", "/api/v1/device", `{"notify":"all","muted":["noisy","noisy","ping"]}`, bearerAuth(token))
	if r.status != 200 {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	m = h.do("GET", "/api/v1/device", nil, bearerAuth(token)).json(t)
	if m["name"] != "test phone" || m["notify"] != "all" || len(m["muted"].([]any)) != 2 {
		t.Fatalf("after patch (name untouched, duplicates folded): %v", m)
	}
	bad := map[string]string{
		`{"notify":"sometimes"}`:                             "invalid_notify",
		`{"name":"  "}`:                                      "invalid_name",
		`{"name":"` + strings.Repeat("x", 101) + `"}`:        "invalid_name",
		`{"muted":[""]}`:                                     "invalid_muted",
		`{"muted":"all"}`:                                    "invalid_json",
		`{"muted":[` + strings.Repeat(`"j",`, 500) + `"j"]}`: "invalid_muted",
	}
	for body, code := range bad {
		if r := h.do("PATCH", "/api/v1/device", body, bearerAuth(token)); r.status != 400 || r.errorCode(t) != code {
			t.Errorf("%.30s: %d %s, want 400 %s", body, r.status, r.body, code)
		}
	}
	if r := h.do("GET", "/api/v1/device", nil, bearerAuth(s.key)); r.status != 403 || r.errorCode(t) != "device_token_required" {
		t.Fatalf("session key on a device call: %d %s", r.status, r.body)
	}
}

func TestDeviceCookieNeedsSameOrigin(t *testing.T) {
	h := newHarness(t)
	s := h.newSession()
	token := h.pair(s)
	if r := h.do("GET", "/api/v1/device", nil, withCookie(token)); r.status != 200 {
		t.Fatalf("cookie read: %d", r.status)
	}
	for name, opts := range map[string][]reqOpt{
		"no Origin":      {withCookie(token)},
		"foreign Origin": {withCookie(token), withHeader("Origin", "https://evil.example")},
		"null Origin":    {withCookie(token), withHeader("Origin", "null")},
	} {
		if r := h.do("PATCH", "/api/v1/device", `{"notify":"off"}`, opts...); r.status != 403 || r.errorCode(t) != "bad_origin" {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
		if r := h.do("DELETE", "/api/v1/device", nil, opts...); r.status != 403 {
			t.Errorf("%s delete: %d", name, r.status)
		}
	}
	if r := h.do("PATCH", "/api/v1/device", `{"notify":"off"}`, withCookie(token), withHeader("Origin", h.http.URL)); r.status != 200 {
		t.Fatalf("same-origin patch: %d %s", r.status, r.body)
	}
	// A bearer token is not sent by browsers on their own: no Origin needed.
	if r := h.do("PATCH", "/api/v1/device", `{"notify":"all"}`, bearerAuth(token)); r.status != 200 {
		t.Fatalf("bearer patch: %d", r.status)
	}
}

func TestDeleteDevice(t *testing.T) {
	h := newHarness(t)
	s := h.newSession()
	token := h.pair(s)
	r := h.do("DELETE", "/api/v1/device", nil, withCookie(token), withHeader("Origin", h.http.URL))
	if r.status != 204 || !strings.Contains(r.header.Get("Set-Cookie"), "Max-Age=0") {
		t.Fatalf("unpair: %d %s", r.status, r.header.Get("Set-Cookie"))
	}
	for _, path := range []string{"/api/v1/device", "/api/v1/events", "/api/v1/jobs"} {
		if r := h.do("GET", path, nil, bearerAuth(token)); r.status != 401 {
			t.Errorf("%s with an unpaired token: %d", path, r.status)
		}
	}
	if st := h.do("GET", "/api/v1/session", nil, bearerAuth(s.key)).json(t); st["paired"] != false {
		t.Fatalf("session still paired: %v", st)
	}
}

func TestPushSubscription(t *testing.T) {
	h := newHarness(t)
	s := h.newSession()
	token := h.pair(s)
	if r := h.do("GET", "/api/v1/push/key", nil); r.status != 200 || r.json(t)["vapid_public_key"] != "BPublicKeyForTests" {
		t.Fatalf("push key: %d %s", r.status, r.body)
	}
	key, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p256 := base64.RawURLEncoding.EncodeToString(key.PublicKey().Bytes())
	auth := base64.RawURLEncoding.EncodeToString(make([]byte, 16))
	sub := func(endpoint, p, a string) string {
		return `{"endpoint":"` + endpoint + `","expirationTime":null,"keys":{"p256dh":"` + p + `","auth":"` + a + `"}}`
	}
	bad := map[string]string{
		sub("https://attacker.example/x", p256, auth):       "invalid_endpoint",
		sub("https://push.example/x", "short", auth):        "invalid_keys",
		sub("https://push.example/x", p256, "%%%"):          "invalid_keys",
		sub("https://push.example/x", p256, p256):           "invalid_keys",
		`{"endpoint":"https://push.example/x","keys":null}`: "invalid_keys",
	}
	for body, code := range bad {
		if r := h.do("PUT", "/api/v1/device/push", body, bearerAuth(token)); r.status != 400 || r.errorCode(t) != code {
			t.Errorf("%.50s: %d %s", body, r.status, r.body)
		}
	}
	if r := h.do("PUT", "/api/v1/device/push", sub("https://push.example/x", p256, auth), bearerAuth(token)); r.status != 204 {
		t.Fatalf("subscribe: %d %s", r.status, r.body)
	}
	if m := h.do("GET", "/api/v1/device", nil, bearerAuth(token)).json(t); m["push"] != true {
		t.Fatalf("device push after subscribe: %v", m)
	}
	if r := h.do("PUT", "/api/v1/device/push", sub("https://push.example/x", p256, auth), bearerAuth(s.key)); r.status != 403 {
		t.Fatalf("session key subscribing: %d", r.status)
	}
	if r := h.do("DELETE", "/api/v1/device/push", nil, bearerAuth(token)); r.status != 204 {
		t.Fatalf("unsubscribe: %d", r.status)
	}
	if m := h.do("GET", "/api/v1/device", nil, bearerAuth(token)).json(t); m["push"] != false {
		t.Fatalf("device push after unsubscribe: %v", m)
	}
}
