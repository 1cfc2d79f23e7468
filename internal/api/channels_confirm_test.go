package api

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/observable-code/observable/internal/web"
)

// chanConfirmToken creates an email channel and reads its confirmation
// token as the worker does: from the channel's sealed secrets.
func (h *chanHarness) chanConfirmToken(s session, token, address string) (string, string) {
	h.t.Helper()
	id := h.chanCreate(token, map[string]string{"type": "email", "address": address})["id"].(string)
	_, sec := h.chanSecrets(s, id)
	if len(sec.ConfirmToken) != 43 {
		h.t.Fatalf("confirmation token %q: not 32 bytes in base64url", sec.ConfirmToken)
	}
	return id, sec.ConfirmToken
}

func (h *chanHarness) chanConfirmPost(tok string, opts ...reqOpt) reply {
	h.t.Helper()
	form := url.Values{"token": {tok}}.Encode()
	return h.do("POST", "/channels/confirm", form, append([]reqOpt{withHeader("Content-Type", "application/x-www-form-urlencoded")}, opts...)...)
}

func chanVerified(t *testing.T, h *chanHarness, token, id string) bool {
	t.Helper()
	for _, c := range h.chanList(token) {
		if c["id"] == id {
			return c["verified"] == true
		}
	}
	t.Fatalf("channel %s is not listed", id)
	return false
}

// A mail scanner that fetches the link (GET, any number of times) confirms
// nothing; the page's button (POST) does, once; the token never reaches
// the log.
func TestChannelConfirmPage(t *testing.T) {
	h := newChanHarness(t)
	s, token := h.chanDevice()
	id, tok := h.chanConfirmToken(s, token, "me@example.com")

	for range 3 {
		r := h.do("GET", "/channels/confirm?token="+tok, nil)
		page := string(r.body)
		if !strings.Contains(page, "me@example.com") {
			t.Errorf("GET does not name the address: %s", page)
		}
		if r.status != 200 || !strings.Contains(page, `<form method="post" action="/channels/confirm"`) ||
			!strings.Contains(page, `value="`+tok+`"`) || !strings.Contains(page, ">Confirm</button>") {
			t.Fatalf("GET: %d %s", r.status, page)
		}
		for k, want := range map[string]string{"Content-Type": "text/html; charset=utf-8", "X-Frame-Options": "DENY",
			"Cache-Control": "no-store", "Referrer-Policy": "same-origin", "X-Content-Type-Options": "nosniff"} {
			if got := r.header.Get(k); got != want {
				t.Errorf("GET %s: %q, want %q", k, got, want)
			}
		}
		if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self'") || !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("CSP %q", csp)
		}
	}
	if chanVerified(t, h, token, id) {
		t.Fatal("the GET confirmed the address")
	}
	// Another site's page cannot press the button for a visitor.
	r := h.chanConfirmPost(tok, withHeader("Origin", "https://evil.example"))
	chanWantErr(t, "cross-site POST", r, 403, "bad_origin", "")
	if chanVerified(t, h, token, id) {
		t.Fatal("a cross-site POST confirmed the address")
	}

	r = h.chanConfirmPost(tok, withHeader("Origin", h.http.URL))
	if r.status != 200 || !strings.Contains(string(r.body), "Address confirmed") || !strings.Contains(string(r.body), "me@example.com") {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	if !chanVerified(t, h, token, id) {
		t.Fatal("the POST did not confirm the address")
	}
	r = h.chanConfirmPost(tok)
	if r.status != http.StatusNotFound || !strings.Contains(string(r.body), "already used") || !strings.Contains(string(r.body), "add the address again") {
		t.Fatalf("second POST: %d %s", r.status, r.body)
	}
	if logs := h.logs.String(); strings.Contains(logs, tok) {
		t.Fatalf("the log holds the confirmation token:\n%s", logs)
	}
	if !strings.Contains(h.logs.String(), "/channels/confirm") {
		t.Fatalf("the requests were not logged at all (the check above would pass for nothing):\n%s", h.logs.String())
	}
}

// Links that are cut, made up or of a removed channel get the page that
// says what to do, never a confirmation.
func TestChannelConfirmUnknownLinks(t *testing.T) {
	h := newChanHarness(t)
	s, token := h.chanDevice()
	id, tok := h.chanConfirmToken(s, token, "me@example.com")
	unknown := []string{"", "?token=", "?token=" + tok[:20], "?token=%00%ff", "?token=" + strings.Repeat("A", 43)}
	for _, q := range unknown {
		r := h.do("GET", "/channels/confirm"+q, nil)
		if r.status != http.StatusNotFound || !strings.Contains(string(r.body), "add the address again") {
			t.Errorf("GET %q: %d %s", q, r.status, r.body)
		}
	}
	for _, bad := range []string{"", tok[:42], strings.Repeat("A", 43)} {
		if r := h.chanConfirmPost(bad); r.status != http.StatusNotFound {
			t.Errorf("POST %q: %d %s", bad, r.status, r.body)
		}
	}
	if chanVerified(t, h, token, id) {
		t.Fatal("an unknown token confirmed the address")
	}
	if r := h.do("DELETE", "/api/v1/channels/"+id, nil, bearerAuth(token)); r.status != 204 {
		t.Fatalf("delete: %d", r.status)
	}
	if r := h.chanConfirmPost(tok); r.status != http.StatusNotFound {
		t.Errorf("a removed channel's link: %d %s", r.status, r.body)
	}
}

// The page's stylesheet is the app's: web serves it under the page's
// version-less path (any version's name is today's file).
func TestChannelConfirmPageStylesheet(t *testing.T) {
	h := newChanHarness(t)
	site := web.New(web.Options{Store: h.store})
	req := httptest.NewRequest("GET", chanConfirmCSS, nil)
	rec := httptest.NewRecorder()
	site.App().ServeHTTP(rec, req)
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/css") || rec.Body.Len() < 100 {
		t.Fatalf("GET %s from the app: %d %q, %d bytes", chanConfirmCSS, rec.Code, rec.Header().Get("Content-Type"), rec.Body.Len())
	}
	page := h.do("GET", "/channels/confirm?token="+strings.Repeat("A", 43), nil)
	if !strings.Contains(string(page.body), `href="`+chanConfirmCSS+`"`) {
		t.Fatalf("the page does not link %s: %s", chanConfirmCSS, page.body)
	}
}
