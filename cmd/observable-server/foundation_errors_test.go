package main

import (
	"bufio"
	"net"
	"net/http"
	"net/textproto"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// One condition, one code: the QR route answers an unknown, a used and a
// reused pairing code with the codes the claim answers them with (the CLI
// and the app show those), not not_found and gone.
func TestFoundationQRAnswersTheClaimsCodes(t *testing.T) {
	p := launch(t, filepath.Join(t.TempDir(), "f.db"))
	awaitReady(t, 20*time.Second, p)
	_, code := newSession(t, p)
	qr := func(c string) apiReply { return callAPI("GET", p.url+"/api/v1/pairings/"+c+"/qr?format=svg", "", "") }
	claim := func(c string) apiReply {
		return callAPI("POST", p.url+"/api/v1/pairings/"+c+"/claim", "", `{"name":"test phone"}`)
	}
	if r := qr(code); r.status != http.StatusOK {
		t.Fatalf("QR of a fresh code: %d %s", r.status, r.body)
	}
	unknown := "AAAAAAAAAAAAAAAAAAAAAA"
	for _, r := range []apiReply{qr(unknown), claim(unknown)} {
		if r.status != http.StatusNotFound || edgeErrorCode(r.body) != "unknown_code" {
			t.Errorf("an unknown code: %d %s; want 404 unknown_code from QR and claim alike", r.status, r.body)
		}
	}
	claimPairing(t, p, code)
	for _, r := range []apiReply{qr(code), claim(code)} {
		if r.status != http.StatusGone || edgeErrorCode(r.body) != "code_used_or_expired" {
			t.Errorf("a used code: %d %s; want 410 code_used_or_expired from QR and claim alike", r.status, r.body)
		}
	}
}

// A session without events lists them as [], never null: clients iterate
// the list without a check.
func TestFoundationEmptyListIsAnArray(t *testing.T) {
	p := launch(t, filepath.Join(t.TempDir(), "f.db"))
	awaitReady(t, 20*time.Second, p)
	key, _ := newSession(t, p)
	r := mustCall(t, http.StatusOK, "GET", p.url+"/api/v1/events", key, "", nil)
	if !strings.Contains(string(r.body), `"events":[]`) {
		t.Fatalf("events of a new session: %s; want \"events\":[]", r.body)
	}
}

// foundationStreamHead opens a stream over a raw HTTP/1.1 connection (the
// broker takes it over and writes through it) and reads its head.
func foundationStreamHead(t *testing.T, url, key string) (int, textproto.MIMEHeader) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(url, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write([]byte("GET /api/v1/events/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + key + "\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read the stream's head: %v", err)
	}
	return resp.StatusCode, textproto.MIMEHeader(resp.Header)
}

// Every answer gets the same security headers from one place: streams,
// whose connection the broker takes over, and their refusals included.
func TestFoundationStreamsGetTheSecurityHeaders(t *testing.T) {
	p := launch(t, filepath.Join(t.TempDir(), "f.db"), "--max-streams-per-session", "1")
	awaitReady(t, 20*time.Second, p)
	key, _ := newSession(t, p)
	want := mustCall(t, http.StatusOK, "GET", p.url+"/api/v1/session", key, "", nil).header
	check := func(what string, h textproto.MIMEHeader) {
		t.Helper()
		for _, name := range []string{"X-Content-Type-Options", "Referrer-Policy"} {
			if want.Get(name) == "" || h.Get(name) != want.Get(name) {
				t.Errorf("%s: %s is %q; every answer has %q", what, name, h.Get(name), want.Get(name))
			}
		}
	}
	status, h := foundationStreamHead(t, p.url, key)
	if status != http.StatusOK || h.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %v", status, h)
	}
	check("an open stream", h)
	status, h = foundationStreamHead(t, p.url, key) // past --max-streams-per-session
	if status != http.StatusServiceUnavailable || h.Get("Retry-After") != "10" {
		t.Fatalf("a stream past the cap: %d %v; want 503 with Retry-After: 10", status, h)
	}
	check("a refused stream", h)
}
