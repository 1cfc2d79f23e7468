package api

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/channel"
	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/secret"
)

// chanHarness is the API harness with channels set up: a real Guard, a
// real Sealer under a fresh key, email on, and a Wake that counts.
type chanHarness struct {
	*harness
	sealer *channel.Sealer
	wakes  atomic.Int64
}

func newChanHarness(t *testing.T, tweak ...func(*ChannelDeps)) *chanHarness {
	t.Helper()
	h := &chanHarness{harness: newHarness(t)}
	key := make([]byte, 32)
	rand.Read(key)
	sealer, err := channel.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	guard, err := channel.NewGuard(nil)
	if err != nil {
		t.Fatal(err)
	}
	h.sealer = sealer
	cd := ChannelDeps{Guard: guard, Sealer: sealer, EmailOn: true, Wake: func() { h.wakes.Add(1) }}
	for _, f := range tweak {
		f(&cd)
	}
	// Before the first request: the handlers read deps per request.
	h.srv.deps.Channels = cd
	return h
}

// chanDevice is a new session and its paired phone's token.
func (h *chanHarness) chanDevice() (session, string) {
	h.t.Helper()
	s := h.newSession()
	return s, h.pair(s)
}

func (h *chanHarness) chanCreate(token string, body any) map[string]any {
	h.t.Helper()
	r := h.do("POST", "/api/v1/channels", body, bearerAuth(token))
	if r.status != http.StatusCreated {
		h.t.Fatalf("create channel %v: %d %s", body, r.status, r.body)
	}
	return r.json(h.t)
}

func (h *chanHarness) chanList(token string) []map[string]any {
	h.t.Helper()
	r := h.do("GET", "/api/v1/channels", nil, bearerAuth(token))
	if r.status != http.StatusOK {
		h.t.Fatalf("list channels: %d %s", r.status, r.body)
	}
	var out []map[string]any
	for _, c := range r.json(h.t)["channels"].([]any) {
		out = append(out, c.(map[string]any))
	}
	return out
}

// chanSecrets opens a channel's secrets as the store keeps them.
func (h *chanHarness) chanSecrets(s session, id string) (domain.Channel, domain.ChannelSecrets) {
	h.t.Helper()
	ctx := context.Background()
	sess, err := h.store.SessionByKey(ctx, secret.Hash(s.key))
	if err != nil {
		h.t.Fatal(err)
	}
	c, err := h.store.GetChannel(ctx, sess.ID, id)
	if err != nil {
		h.t.Fatal(err)
	}
	sec, err := h.sealer.Open(c.ID, c.Sealed)
	if err != nil {
		h.t.Fatal(err)
	}
	return c, sec
}

// wantErr checks an answer's status and code, and its field when given.
func chanWantErr(t *testing.T, what string, r reply, status int, code, field string) {
	t.Helper()
	if r.status != status || r.errorCode(t) != code {
		t.Errorf("%s: %d %s, want %d %s", what, r.status, r.body, status, code)
		return
	}
	if field != "" {
		if got, _ := r.json(t)["error"].(map[string]any)["field"].(string); got != field {
			t.Errorf("%s: field %q, want %q (%s)", what, got, field, r.body)
		}
	}
}

// Every type round-trips; after the POST no answer carries a secret in
// full (the webhook's secret once, in the 201).
func TestChannelCRUDEachType(t *testing.T) {
	h := newChanHarness(t)
	s, token := h.chanDevice()
	cases := []struct {
		body    map[string]any
		secrets []string          // never in an answer after the POST
		want    map[string]string // fields of the CHANNEL, exactly
	}{
		{map[string]any{"type": "webhook", "url": "https://hooks.example.com/in/7f3a9c1e55d0b2aa"},
			[]string{"7f3a9c1e55d0b2aa"}, nil},
		{map[string]any{"type": "webhook", "url": "https://hooks.example.com/in/given", "secret": "my-own-signing-secret-0123456789"},
			[]string{"/in/given", "my-own-signing-secret-0123456789"}, nil},
		{map[string]any{"type": "slack", "url": "https://hooks.slack.com/services/T0000000/B0000000/abcdefghijklmnopqrXy9Q"},
			[]string{"abcdefghijklmnopqrXy9Q"}, nil},
		{map[string]any{"type": "discord", "url": "https://discord.com/api/webhooks/123456789/tokenTOKENtokenTOKEN9f3e", "notify": "all"},
			[]string{"tokenTOKENtokenTOKEN9f3e"}, map[string]string{"notify": "all"}},
		{map[string]any{"type": "ntfy", "topic": "alerts-q8w7e6r5t4", "token": "tk_abcdefghijklmnop9f3e", "muted": []string{"noisy", "noisy"}},
			[]string{"alerts-q8w7e6r5t4", "tk_abcdefghijklmnop9f3e"}, map[string]string{"server": "https://ntfy.sh"}},
		{map[string]any{"type": "email", "address": "me@example.com"},
			nil, map[string]string{"address": "me@example.com"}},
	}
	var ids []string
	for _, tc := range cases {
		typ := tc.body["type"].(string)
		c := h.chanCreate(token, tc.body)
		id, _ := c["id"].(string)
		if !strings.HasPrefix(id, "ch_") || c["type"] != typ {
			t.Errorf("%s: id %q type %v", typ, id, c["type"])
		}
		ids = append(ids, id)
		wantNotify := "failures"
		if v, ok := tc.want["notify"]; ok {
			wantNotify = v
		}
		if c["notify"] != wantNotify || c["last_error"] != nil || c["disabled_at"] != nil || c["created_at"] == nil {
			t.Errorf("%s: defaults: %v", typ, c)
		}
		if c["verified"] != (typ != "email") {
			t.Errorf("%s: verified %v", typ, c["verified"])
		}
		for k, v := range tc.want {
			if c[k] != v {
				t.Errorf("%s: %s = %v, want %q", typ, k, c[k], v)
			}
		}
		if typ == "ntfy" && fmt.Sprint(c["muted"]) != "[noisy]" {
			t.Errorf("ntfy: muted %v, want [noisy] (duplicates folded)", c["muted"])
		}
		if typ == "webhook" {
			sec, _ := c["secret"].(string)
			if given, ok := tc.body["secret"].(string); ok && sec != given {
				t.Errorf("webhook: the 201 shows secret %q, not the one given", sec)
			}
			if len(sec) < 32 {
				t.Errorf("webhook: the 201's secret %q is not the secret in full", sec)
			}
			tc.secrets = append(tc.secrets, sec)
			// The one the store sealed is the one shown, this once.
			if _, stored := h.chanSecrets(s, id); stored.Secret != sec {
				t.Errorf("webhook: stored secret differs from the one answered")
			}
		}
		for _, field := range []string{"url", "topic", "token"} {
			if v, ok := tc.body[field].(string); ok && c[field] == v {
				t.Errorf("%s: %s shown in full: %v", typ, field, c[field])
			}
		}
		if u, ok := tc.body["url"].(string); ok {
			if shown, _ := c["url"].(string); !strings.HasPrefix(shown, u[:strings.Index(u[8:], "/")+8]) {
				t.Errorf("%s: url shown as %q: not its scheme and host", typ, shown)
			}
		}
		// Later answers: the list and a PATCH.
		patched := h.do("PATCH", "/api/v1/channels/"+id, `{"notify":"off","muted":["a","b"]}`, bearerAuth(token))
		if patched.status != 200 {
			t.Fatalf("%s: patch: %d %s", typ, patched.status, patched.body)
		}
		if m := patched.json(t); m["notify"] != "off" || fmt.Sprint(m["muted"]) != "[a b]" || m["id"] != id {
			t.Errorf("%s: after patch: %v", typ, m)
		}
		list := h.do("GET", "/api/v1/channels", nil, bearerAuth(token))
		for _, sec := range tc.secrets {
			if strings.Contains(string(list.body), sec) || strings.Contains(string(patched.body), sec) {
				t.Errorf("%s: %q shown in full after the POST", typ, sec)
			}
		}
	}
	list := h.chanList(token)
	if len(list) != len(cases) {
		t.Fatalf("list: %d channels, want %d", len(list), len(cases))
	}
	for i, c := range list {
		if c["id"] != ids[i] {
			t.Errorf("list[%d] = %v, want %s (oldest first)", i, c["id"], ids[i])
		}
	}
	for _, id := range ids {
		if r := h.do("DELETE", "/api/v1/channels/"+id, nil, bearerAuth(token)); r.status != 204 {
			t.Errorf("delete %s: %d %s", id, r.status, r.body)
		}
	}
	if n := len(h.chanList(token)); n != 0 {
		t.Fatalf("after deleting all: %d channels", n)
	}
	chanWantErr(t, "delete twice", h.do("DELETE", "/api/v1/channels/"+ids[0], nil, bearerAuth(token)), 404, "not_found", "")
	if h.wakes.Load() != 1 {
		t.Errorf("wakes: %d, want 1 (the email channel's confirmation)", h.wakes.Load())
	}
}

func TestChannelValidation(t *testing.T) {
	h := newChanHarness(t)
	_, token := h.chanDevice()
	cases := []struct {
		body          string
		status        int
		code, field   string
		contentLength bool
	}{
		{`{}`, 400, "invalid_channel", "type", false},
		{`{"type":"pigeon"}`, 400, "invalid_channel", "type", false},
		{`{"type":7}`, 400, "invalid_channel", "type", false},
		{`{"type":"ntfy","topic":"t0pic","colour":"red"}`, 400, "invalid_channel", "colour", false},
		{`{"type":"slack","url":"https://hooks.slack.com/services/a/b/c","topic":"x"}`, 400, "invalid_channel", "topic", false},
		{`{"type":"ntfy"}`, 400, "invalid_channel", "topic", false},
		{`{"type":"ntfy","topic":"no spaces allowed"}`, 400, "invalid_channel", "topic", false},
		{`{"type":"webhook"}`, 400, "invalid_channel", "url", false},
		{`{"type":"webhook","url":42}`, 400, "invalid_channel", "url", false},
		{`{"type":"webhook","url":"https://a.example/\u0000"}`, 400, "invalid_channel", "url", false},
		{`{"type":"webhook","url":"not a url"}`, 400, "invalid_channel", "url", false},
		{`{"type":"email","address":"Someone <me@example.com>"}`, 400, "invalid_channel", "address", false},
		{`{"type":"email","address":"not-an-address"}`, 400, "invalid_channel", "address", false},
		{`{"type":"ntfy","topic":"t0pic","notify":"sometimes"}`, 400, "invalid_notify", "notify", false},
		{`{"type":"ntfy","topic":"t0pic","muted":"all"}`, 400, "invalid_muted", "muted", false},
		{`{"type":"ntfy","topic":"t0pic","muted":["ok","\u0000"]}`, 400, "invalid_muted", "muted", false},
		{`[1,2]`, 400, "invalid_json", "", false},
		{`{"type":"ntfy","topic":"` + strings.Repeat("x", 17<<10) + `"}`, 413, "body_too_large", "", false},
		{"{\"type\":\"ntfy\",\"topic\":\"t\xff\"}", 400, "invalid_json", "", false},
	}
	for _, tc := range cases {
		r := h.do("POST", "/api/v1/channels", tc.body, bearerAuth(token))
		chanWantErr(t, fmt.Sprintf("%.60s", tc.body), r, tc.status, tc.code, tc.field)
	}
	if n := len(h.chanList(token)); n != 0 {
		t.Fatalf("refused bodies stored %d channels", n)
	}
}

// URLs the server may not reach are refused when saved, when that can be
// told without DNS.
func TestChannelRefusedURLs(t *testing.T) {
	h := newChanHarness(t)
	_, token := h.chanDevice()
	for _, u := range []string{"http://hooks.example.com/x", "https://127.0.0.1/", "https://[::1]/", "https://10.0.0.1/",
		"https://169.254.169.254/latest/meta-data", "https://[::ffff:127.0.0.1]/", "https://localhost/hook"} {
		for _, typ := range []string{"webhook", "slack", "discord"} {
			r := h.do("POST", "/api/v1/channels", map[string]string{"type": typ, "url": u}, bearerAuth(token))
			chanWantErr(t, typ+" "+u, r, 422, "channel_refused", "")
			if strings.Contains(string(r.body), u) {
				t.Errorf("%s %s: the refusal repeats the URL: %s", typ, u, r.body)
			}
		}
	}
	r := h.do("POST", "/api/v1/channels", map[string]string{"type": "ntfy", "server": "https://192.168.1.10", "topic": "t0pic"}, bearerAuth(token))
	chanWantErr(t, "ntfy on a private address", r, 422, "channel_refused", "")
	c := h.chanCreate(token, map[string]string{"type": "webhook", "url": "https://hooks.example.com/ok"})
	r = h.do("PATCH", "/api/v1/channels/"+c["id"].(string), map[string]string{"url": "https://10.1.2.3/"}, bearerAuth(token))
	chanWantErr(t, "patch to a private address", r, 422, "channel_refused", "")
}

// A channel allowed by the operator may be plain http on a private address.
func TestChannelAllowedHost(t *testing.T) {
	h := newChanHarness(t, func(cd *ChannelDeps) {
		g, err := channel.NewGuard([]string{"10.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		cd.Guard = g
	})
	_, token := h.chanDevice()
	h.chanCreate(token, map[string]string{"type": "ntfy", "server": "http://10.0.0.1:2586", "topic": "t0pic"})
}

// Another session's channel does not exist for this one: 404, never 403.
func TestChannelIsolation(t *testing.T) {
	h := newChanHarness(t)
	_, mine := h.chanDevice()
	_, theirs := h.chanDevice()
	id := h.chanCreate(mine, map[string]string{"type": "ntfy", "topic": "mine-only"})["id"].(string)
	if n := len(h.chanList(theirs)); n != 0 {
		t.Fatalf("the other session lists %d channels", n)
	}
	chanWantErr(t, "their patch", h.do("PATCH", "/api/v1/channels/"+id, `{"notify":"off"}`, bearerAuth(theirs)), 404, "not_found", "")
	chanWantErr(t, "their test", h.do("POST", "/api/v1/channels/"+id+"/test", nil, bearerAuth(theirs)), 404, "not_found", "")
	chanWantErr(t, "their delete", h.do("DELETE", "/api/v1/channels/"+id, nil, bearerAuth(theirs)), 404, "not_found", "")
	chanWantErr(t, "an id no channel has", h.do("PATCH", "/api/v1/channels/ch_nope", `{}`, bearerAuth(mine)), 404, "not_found", "")
	chanWantErr(t, "an id with NUL", h.do("DELETE", "/api/v1/channels/ch_%00", nil, bearerAuth(mine)), 404, "not_found", "")
	if l := h.chanList(mine); len(l) != 1 || l[0]["notify"] != "failures" {
		t.Fatalf("the other session changed mine: %v", l)
	}
}

// Channels are set from the phone: the session key cannot.
func TestChannelRoutesNeedADevice(t *testing.T) {
	h := newChanHarness(t)
	s, token := h.chanDevice()
	id := h.chanCreate(token, map[string]string{"type": "ntfy", "topic": "t0pic"})["id"].(string)
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/api/v1/channels", ""}, {"POST", "/api/v1/channels", `{"type":"ntfy","topic":"x"}`},
		{"PATCH", "/api/v1/channels/" + id, `{"notify":"off"}`}, {"DELETE", "/api/v1/channels/" + id, ""},
		{"POST", "/api/v1/channels/" + id + "/test", ""},
	} {
		chanWantErr(t, c.method+" "+c.path, h.do(c.method, c.path, c.body, bearerAuth(s.key)), 403, "device_token_required", "")
	}
	// A cookie from another site's page is refused as on every device call.
	r := h.do("POST", "/api/v1/channels", `{"type":"ntfy","topic":"x"}`, withCookie(token), withHeader("Origin", "https://evil.example"))
	chanWantErr(t, "cross-site cookie", r, 403, "bad_origin", "")
	if n := len(h.chanList(token)); n != 1 {
		t.Fatalf("%d channels, want 1", n)
	}
}

func TestChannelLimit(t *testing.T) {
	h := newChanHarness(t)
	_, token := h.chanDevice()
	for i := range domain.MaxChannelsPerSession {
		h.chanCreate(token, map[string]string{"type": "ntfy", "topic": fmt.Sprintf("topic-%d", i)})
	}
	r := h.do("POST", "/api/v1/channels", map[string]string{"type": "ntfy", "topic": "one-too-many"}, bearerAuth(token))
	chanWantErr(t, "past the limit", r, 422, "too_many_channels", "")
}

func TestChannelEmailUnavailable(t *testing.T) {
	h := newChanHarness(t, func(cd *ChannelDeps) { cd.EmailOn = false })
	_, token := h.chanDevice()
	r := h.do("POST", "/api/v1/channels", map[string]string{"type": "email", "address": "me@example.com"}, bearerAuth(token))
	chanWantErr(t, "email without SMTP", r, 503, "email_unavailable", "")
	h.chanCreate(token, map[string]string{"type": "ntfy", "topic": "t0pic"})
}

func TestChannelsUnavailableWithoutAKey(t *testing.T) {
	h := newChanHarness(t, func(cd *ChannelDeps) { cd.Sealer = nil })
	_, token := h.chanDevice()
	r := h.do("POST", "/api/v1/channels", map[string]string{"type": "ntfy", "topic": "t0pic"}, bearerAuth(token))
	chanWantErr(t, "no sealer", r, 503, "channels_unavailable", "")
	if !strings.Contains(string(r.body), "--key-file") {
		t.Errorf("the 503 does not say what to set: %s", r.body)
	}
	if n := len(h.chanList(token)); n != 0 {
		t.Fatalf("%d channels", n)
	}
}

// PATCH replaces only the fields it gives: a webhook's new URL keeps its
// secret; a type or an email address cannot change.
func TestChannelPatchSecrets(t *testing.T) {
	h := newChanHarness(t)
	s, token := h.chanDevice()
	hook := h.chanCreate(token, map[string]string{"type": "webhook", "url": "https://hooks.example.com/old"})
	id := hook["id"].(string)
	r := h.do("PATCH", "/api/v1/channels/"+id, map[string]string{"url": "https://hooks.example.com/new-path-0123456789ABCD"}, bearerAuth(token))
	if r.status != 200 || r.json(t)["secret"] == hook["secret"] {
		t.Fatalf("patch url: %d %s", r.status, r.body)
	}
	if m := r.json(t); m["url"] == "https://hooks.example.com/new-path-0123456789ABCD" || !strings.HasSuffix(m["url"].(string), "ABCD") {
		t.Errorf("patched url shown as %v", m["url"])
	}
	if _, sec := h.chanSecrets(s, id); sec.URL != "https://hooks.example.com/new-path-0123456789ABCD" || sec.Secret != hook["secret"] {
		t.Errorf("after patch: url %q, secret kept %v", sec.URL, sec.Secret == hook["secret"])
	}
	chanWantErr(t, "change type", h.do("PATCH", "/api/v1/channels/"+id, `{"type":"slack"}`, bearerAuth(token)), 400, "invalid_channel", "type")
	chanWantErr(t, "another type's field", h.do("PATCH", "/api/v1/channels/"+id, `{"topic":"x"}`, bearerAuth(token)), 400, "invalid_channel", "topic")
	chanWantErr(t, "empty secret", h.do("PATCH", "/api/v1/channels/"+id, `{"secret":""}`, bearerAuth(token)), 400, "invalid_channel", "secret")

	mail := h.chanCreate(token, map[string]string{"type": "email", "address": "me@example.com"})
	r = h.do("PATCH", "/api/v1/channels/"+mail["id"].(string), map[string]string{"address": "someone-else@example.com"}, bearerAuth(token))
	chanWantErr(t, "change an email address", r, 400, "invalid_channel", "address")

	ntfy := h.chanCreate(token, map[string]string{"type": "ntfy", "topic": "t0pic"})
	r = h.do("PATCH", "/api/v1/channels/"+ntfy["id"].(string), map[string]string{"token": "tk_newtokenvalue1234"}, bearerAuth(token))
	if r.status != 200 || r.json(t)["token"] == nil || strings.Contains(string(r.body), "tk_newtokenvalue1234") {
		t.Fatalf("patch ntfy token: %d %s", r.status, r.body)
	}
	if _, sec := h.chanSecrets(s, ntfy["id"].(string)); sec.Token != "tk_newtokenvalue1234" || sec.Topic != "t0pic" {
		t.Errorf("ntfy after patch: %+v", sec)
	}
}

// "Send a test" queues a message and wakes the worker, at most once per
// channel every 10 s; on an email address not confirmed yet it sends the
// confirmation again, which the store allows once every 10 minutes.
func TestChannelSendTest(t *testing.T) {
	h := newChanHarness(t)
	_, token := h.chanDevice()
	start := time.Now()
	h.setNow(start)
	id := h.chanCreate(token, map[string]string{"type": "ntfy", "topic": "t0pic"})["id"].(string)
	r := h.do("POST", "/api/v1/channels/"+id+"/test", nil, bearerAuth(token))
	if r.status != 202 || r.json(t)["queued"] != true || h.wakes.Load() != 1 {
		t.Fatalf("test: %d %s, wakes %d", r.status, r.body, h.wakes.Load())
	}
	r = h.do("POST", "/api/v1/channels/"+id+"/test", nil, bearerAuth(token))
	chanWantErr(t, "a second test at once", r, 429, "rate_limited", "")
	if ra, _ := strconv.Atoi(r.header.Get("Retry-After")); ra < 1 || ra > 10 {
		t.Errorf("Retry-After %q, want 1 to 10 s", r.header.Get("Retry-After"))
	}
	h.setNow(start.Add(chanTestEvery + time.Second))
	if r := h.do("POST", "/api/v1/channels/"+id+"/test", nil, bearerAuth(token)); r.status != 202 {
		t.Fatalf("test after 11 s: %d %s", r.status, r.body)
	}

	mail := h.chanCreate(token, map[string]string{"type": "email", "address": "me@example.com"})["id"].(string)
	r = h.do("POST", "/api/v1/channels/"+mail+"/test", nil, bearerAuth(token))
	chanWantErr(t, "a confirmation re-sent at once", r, 429, "rate_limited", "")
	if r.header.Get("Retry-After") == "" {
		t.Errorf("no Retry-After on the re-send's refusal")
	}
	h.setNow(start.Add(11 * time.Minute))
	if r := h.do("POST", "/api/v1/channels/"+mail+"/test", nil, bearerAuth(token)); r.status != 202 {
		t.Fatalf("re-send after 11 minutes: %d %s", r.status, r.body)
	}
}
