package api

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/observable-code/observable/internal/config"
)

func TestCreateSession(t *testing.T) {
	h := newHarness(t)
	r := h.do("POST", "/api/v1/sessions", `{"host":"laptop"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	m := r.json(t)
	p := m["pairing"].(map[string]any)
	code := p["code"].(string)
	if len(code) < 22 || p["url"] != h.http.URL+"/pair/"+code {
		t.Fatalf("pairing = %v", p)
	}
	exp, err := time.Parse("2006-01-02T15:04:05.000Z", p["expires_at"].(string))
	if err != nil || time.Until(exp) < 9*time.Minute || time.Until(exp) > 11*time.Minute {
		t.Fatalf("expires_at %v (%v); want RFC 3339 UTC millis, ~10 minutes ahead", p["expires_at"], err)
	}
	if r := h.do("POST", "/api/v1/sessions", nil); r.status != http.StatusCreated {
		t.Fatalf("empty body: %d", r.status)
	}
	for body, code := range map[string]string{`{"host":`: "invalid_json", `{"host":"` + strings.Repeat("h", 256) + `"}`: "invalid_host"} {
		if r := h.do("POST", "/api/v1/sessions", body); r.status != 400 || r.errorCode(t) != code {
			t.Errorf("body %.20q: %d %s", body, r.status, r.body)
		}
	}
}

func TestCreateSessionRateLimit(t *testing.T) {
	h := newHarness(t, func(c *config.Config) { c.SessionsPerMinute = 2 })
	for i := 0; i < 2; i++ {
		if r := h.do("POST", "/api/v1/sessions", nil); r.status != 201 {
			t.Fatalf("session %d: %d", i, r.status)
		}
	}
	r := h.do("POST", "/api/v1/sessions", nil)
	if r.status != http.StatusTooManyRequests || r.errorCode(t) != "rate_limited" || r.header.Get("Retry-After") != "30" {
		t.Fatalf("third session in a minute: %d Retry-After %q %s", r.status, r.header.Get("Retry-After"), r.body)
	}
}

func TestSessionStatusAndWait(t *testing.T) {
	h := newHarness(t)
	s := h.newSession()
	r := h.do("GET", "/api/v1/session", nil, bearerAuth(s.key))
	m := r.json(t)
	if r.status != 200 || m["paired"] != false || len(m["devices"].([]any)) != 0 || m["event_count"] != 0.0 || m["last_event_at"] != nil {
		t.Fatalf("new session status: %s", r.body)
	}
	start := time.Now()
	r = h.do("GET", "/api/v1/session?wait=paired&timeout=0.3", nil, bearerAuth(s.key))
	if r.status != 200 || r.json(t)["paired"] != false || time.Since(start) < 250*time.Millisecond {
		t.Fatalf("wait without pairing: %d after %v: %s", r.status, time.Since(start), r.body)
	}
	go func() {
		time.Sleep(200 * time.Millisecond)
		h.pair(s)
	}()
	start = time.Now()
	r = h.do("GET", "/api/v1/session?wait=paired&timeout=30", nil, bearerAuth(s.key))
	if took := time.Since(start); r.status != 200 || r.json(t)["paired"] != true || took > 5*time.Second {
		t.Fatalf("wait with pairing: %d after %v: %s", r.status, took, r.body)
	}
	dev := r.json(t)["devices"].([]any)[0].(map[string]any)
	if dev["name"] != "test phone" || dev["push"] != false || dev["id"] == "" {
		t.Fatalf("device = %v", dev)
	}
	for _, q := range []string{"wait=paired&timeout=61", "wait=paired&timeout=-1", "wait=paired&timeout=x", "wait=ever&timeout=5"} {
		if r := h.do("GET", "/api/v1/session?"+q, nil, bearerAuth(s.key)); r.status != 400 {
			t.Errorf("%s: %d", q, r.status)
		}
	}
}

func TestWaitEndsWhenServerDrains(t *testing.T) {
	h := newHarness(t)
	s := h.newSession()
	go func() {
		time.Sleep(200 * time.Millisecond)
		h.srv.Drain()
	}()
	start := time.Now()
	r := h.do("GET", "/api/v1/session?wait=paired&timeout=60", nil, bearerAuth(s.key))
	if r.status != 200 || time.Since(start) > 5*time.Second {
		t.Fatalf("a long poll held shutdown: %d after %v", r.status, time.Since(start))
	}
	if r := h.do("GET", "/readyz", nil); r.status != 503 || r.errorCode(t) != "shutting_down" {
		t.Fatalf("readyz while draining: %d", r.status)
	}
}

func TestPairingQR(t *testing.T) {
	h := newHarness(t)
	s := h.newSession()
	base := "/api/v1/pairings/" + s.code + "/qr"
	r := h.do("GET", base+"?format=text", nil)
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("text: %d %s", r.status, r.header)
	}
	lines := strings.Split(strings.TrimRight(string(r.body), "\n"), "\n")
	for _, l := range lines {
		if n := utf8.RuneCountInString(l); n > 80 || n != utf8.RuneCountInString(lines[0]) {
			t.Fatalf("a text code line is %d columns: %q", n, l)
		}
	}
	if !strings.HasPrefix(lines[0], "████") || strings.ContainsAny(lines[0], " ▀▄") {
		t.Fatalf("the first line should be quiet zone (all ink by default): %q", lines[0])
	}
	inv := h.do("GET", base+"?format=text&invert=1", nil)
	if strings.Trim(strings.Split(string(inv.body), "\n")[0], " ") != "" {
		t.Fatalf("inverted quiet zone should be blank: %q", strings.Split(string(inv.body), "\n")[0])
	}
	if r := h.do("GET", base+"?format=svg", nil); r.status != 200 || r.header.Get("Content-Type") != "image/svg+xml" || !bytes.HasPrefix(r.body, []byte("<svg")) {
		t.Fatalf("svg: %d %s", r.status, r.header)
	}
	if r := h.do("GET", base+"?format=png&size=200", nil); r.status != 200 || !bytes.HasPrefix(r.body, []byte("\x89PNG")) {
		t.Fatalf("png: %d", r.status)
	}
	if r := h.do("GET", base, nil); r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("default format should be text: %d", r.status)
	}
	for q, status := range map[string]int{"?format=gif": 400, "?format=png&size=5": 400, "?format=png&size=x": 400} {
		if r := h.do("GET", base+q, nil); r.status != status {
			t.Errorf("%s: %d, want %d", q, r.status, status)
		}
	}
	if r := h.do("GET", "/api/v1/pairings/nosuchcode/qr", nil); r.status != 404 {
		t.Fatalf("unknown code: %d", r.status)
	}
	h.pair(s)
	if r := h.do("GET", base, nil); r.status != 410 {
		t.Fatalf("used code: %d", r.status)
	}
}

func TestClaimPairing(t *testing.T) {
	h := newHarness(t)
	s := h.newSession()
	path := "/api/v1/pairings/" + s.code + "/claim"
	if r := h.do("POST", path, `{"name":"x"}`, withHeader("Origin", "https://evil.example")); r.status != 403 || r.errorCode(t) != "bad_origin" {
		t.Fatalf("cross-site claim: %d %s", r.status, r.body)
	}
	if r := h.do("POST", path, `{"name":"`+strings.Repeat("n", 101)+`"}`); r.status != 400 {
		t.Fatalf("long name: %d", r.status)
	}
	r := h.do("POST", path, ``, withHeader("Origin", h.http.URL), withHeader("User-Agent", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)"))
	if r.status != http.StatusCreated {
		t.Fatalf("claim: %d %s", r.status, r.body)
	}
	m := r.json(t)
	token := m["device_token"].(string)
	var cookie *http.Cookie
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == DeviceCookie {
			cookie = c
		}
	}
	if cookie == nil || cookie.Value != token || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || cookie.Secure || cookie.Path != "/" {
		t.Fatalf("device cookie = %+v", cookie)
	}
	st := h.do("GET", "/api/v1/session", nil, bearerAuth(s.key)).json(t)
	if name := st["devices"].([]any)[0].(map[string]any)["name"]; name != "iPhone" {
		t.Fatalf("default device name = %v, want iPhone from the user agent", name)
	}
	if r := h.do("POST", path, nil); r.status != 410 || r.errorCode(t) != "code_used_or_expired" {
		t.Fatalf("second claim: %d %s", r.status, r.body)
	}
	if r := h.do("POST", "/api/v1/pairings/unknown/claim", nil); r.status != 404 || r.errorCode(t) != "unknown_code" {
		t.Fatalf("unknown code: %d %s", r.status, r.body)
	}
}

func TestClaimExpired(t *testing.T) {
	h := newHarness(t, func(c *config.Config) { c.PairingTTL = time.Minute })
	s := h.newSession()
	h.setNow(time.Now().Add(2 * time.Minute))
	if r := h.do("POST", "/api/v1/pairings/"+s.code+"/claim", nil); r.status != 410 {
		t.Fatalf("expired claim: %d %s", r.status, r.body)
	}
	if r := h.do("GET", "/api/v1/pairings/"+s.code+"/qr", nil); r.status != 410 {
		t.Fatalf("expired QR: %d", r.status)
	}
}

func TestSecureCookieOverHTTPS(t *testing.T) {
	h := newHarness(t)
	h.srv.opts.PublicURL = "https://observable.example.com"
	s := h.newSession()
	r := h.do("POST", "/api/v1/pairings/"+s.code+"/claim", nil)
	if !strings.Contains(r.header.Get("Set-Cookie"), "Secure") {
		t.Fatalf("cookie without Secure on an https public URL: %s", r.header.Get("Set-Cookie"))
	}
}

func TestPairingReplace(t *testing.T) {
	h := newHarness(t)
	s := h.newSession()
	old := h.pair(s)
	r := h.do("POST", "/api/v1/pairings", `{"replace":true}`, bearerAuth(s.key))
	if r.status != 201 {
		t.Fatalf("new pairing: %d %s", r.status, r.body)
	}
	code := r.json(t)["code"].(string)
	if r := h.do("GET", "/api/v1/device", nil, bearerAuth(old)); r.status != 200 {
		t.Fatalf("an unclaimed replacing pairing unpaired the old phone: %d", r.status)
	}
	h.pair(session{key: s.key, code: code})
	if r := h.do("GET", "/api/v1/device", nil, bearerAuth(old)); r.status != 401 {
		t.Fatalf("the replaced phone still works: %d", r.status)
	}
	if r := h.do("POST", "/api/v1/pairings", `{"replace":"yes"}`, bearerAuth(s.key)); r.status != 400 {
		t.Fatalf("bad body: %d", r.status)
	}
}

func TestPairingAgainReplacesThePhonesOldRecord(t *testing.T) {
	h := newHarness(t)
	s := h.newSession()
	first := h.pair(s)
	other := h.newSession()
	otherTok := h.pair(other)
	code := h.do("POST", "/api/v1/pairings", nil, bearerAuth(s.key)).json(t)["code"].(string)
	r := h.do("POST", "/api/v1/pairings/"+code+"/claim", nil, withCookie(first), withHeader("Origin", h.http.URL))
	if r.status != 201 {
		t.Fatalf("claim again: %d %s", r.status, r.body)
	}
	st := h.do("GET", "/api/v1/session", nil, bearerAuth(s.key)).json(t)
	if n := len(st["devices"].([]any)); n != 1 {
		t.Fatalf("the session lists %d devices for one phone paired twice", n)
	}
	// A cookie of another session's device is left alone.
	code = h.do("POST", "/api/v1/pairings", nil, bearerAuth(s.key)).json(t)["code"].(string)
	h.do("POST", "/api/v1/pairings/"+code+"/claim", nil, withCookie(otherTok), withHeader("Origin", h.http.URL))
	if r := h.do("GET", "/api/v1/device", nil, bearerAuth(otherTok)); r.status != 200 {
		t.Fatalf("pairing with one session unpaired the phone from another: %d", r.status)
	}
}
