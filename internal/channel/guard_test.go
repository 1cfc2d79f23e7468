package channel

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/domain"
)

func TestGuardRefusedAddr(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want string // a word of the reason; "" when allowed
	}{
		{"127.0.0.1", "loopback"},
		{"127.8.9.10", "loopback"},
		{"10.0.0.5", "private"},
		{"172.16.0.1", "private"},
		{"172.31.255.255", "private"},
		{"192.168.1.1", "private"},
		{"169.254.169.254", "link-local"},
		{"100.64.0.1", "carrier-grade"},
		{"100.127.255.254", "carrier-grade"},
		{"0.0.0.0", "unspecified"},
		{"0.1.2.3", "unspecified"},
		{"224.0.0.1", "multicast"},
		{"255.255.255.255", "broadcast"},
		{"::", "unspecified"},
		{"::1", "loopback"},
		{"fe80::1", "link-local"},
		{"fe80::1%eth0", "link-local"},
		{"fc00::1", "private"},
		{"fd12:3456::1", "private"},
		{"ff02::1", "multicast"},
		{"::ffff:127.0.0.1", "loopback"},
		{"::ffff:10.1.2.3", "private"},
		{"::ffff:169.254.169.254", "link-local"},
		{"64:ff9b::7f00:1", "loopback"},      // NAT64 of 127.0.0.1
		{"64:ff9b::a9fe:a9fe", "link-local"}, // NAT64 of 169.254.169.254
		{"2002:7f00:1::1", "loopback"},       // 6to4 of 127.0.0.1
		{"::7f00:1", "loopback"},             // IPv4-compatible 127.0.0.1
		{"64:ff9b:1::1", "NAT64"},
		{"8.8.8.8", ""},
		{"172.32.0.1", ""},
		{"100.128.0.1", ""},
		{"1.1.1.1", ""},
		{"2606:4700:4700::1111", ""},
		{"64:ff9b::808:808", ""}, // NAT64 of 8.8.8.8
		{"::ffff:8.8.8.8", ""},
	} {
		a := netip.MustParseAddr(tc.addr)
		got := refusedAddr(a)
		if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("refusedAddr(%s) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}

func TestGuardNewGuardEntries(t *testing.T) {
	g, err := NewGuard([]string{"ntfy.lan", "127.0.0.1:2586", "*.internal.example", "10.0.0.0/8", "[::1]:8080", "fd00::5", " "})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		host, port string
		want       bool
	}{
		{"ntfy.lan", "80", true},
		{"NTFY.lan", "8080", true},
		{"127.0.0.1", "2586", true},
		{"127.0.0.1", "2587", false},
		{"a.internal.example", "443", true},
		{"internal.example", "443", false},
		{"10.9.8.7", "80", true},
		{"::1", "8080", true},
		{"::1", "80", false},
		{"fd00::5", "1", true},
		{"evil.lan", "80", false},
		{"localhost", "80", false},
	} {
		if got := g.allowedHost(tc.host, tc.port); got != tc.want {
			t.Errorf("allowedHost(%s, %s) = %v, want %v", tc.host, tc.port, got, tc.want)
		}
	}
	for _, bad := range []string{"http://x.example", "user@x", "*.com", "x:99999", "10.0.0.0/33", "a..b", "x/y"} {
		if _, err := NewGuard([]string{bad}); err == nil {
			t.Errorf("NewGuard(%q) accepted it", bad)
		}
	}
}

func TestGuardCheckURL(t *testing.T) {
	g, err := NewGuard([]string{"127.0.0.1:9999", "ntfy.lan"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		url, code string
	}{
		{"https://hooks.slack.com/services/T/B/x", ""},
		{"https://8.8.8.8/x", ""},
		{"http://127.0.0.1:9999/hook", ""},
		{"http://ntfy.lan", ""},
		{"http://hooks.example.com/x", domain.EChannelRefused},
		{"https://127.0.0.1/x", domain.EChannelRefused},
		{"https://127.0.0.1:9998/x", domain.EChannelRefused},
		{"https://[::1]/x", domain.EChannelRefused},
		{"https://[::ffff:127.0.0.1]/x", domain.EChannelRefused},
		{"https://[64:ff9b::7f00:1]/x", domain.EChannelRefused},
		{"https://169.254.169.254/latest/meta-data", domain.EChannelRefused},
		{"https://10.0.0.5/x", domain.EChannelRefused},
		{"https://localhost/x", domain.EChannelRefused},
		{"https://user:pw@hooks.example.com/x", domain.EInvalidChannel},
		{"ftp://hooks.example.com/x", domain.EInvalidChannel},
		{"hooks.example.com/x", domain.EInvalidChannel},
		{"https:///x", domain.EInvalidChannel},
		{"https://hooks.example.com/x#frag", domain.EInvalidChannel},
		{"https://exa mple.com/x", domain.EInvalidChannel},
		{"", domain.EInvalidChannel},
		{"https://hooks.example.com/" + strings.Repeat("a", 3000), domain.EInvalidChannel},
	} {
		err := g.CheckURL(tc.url)
		if got := codeOf(err); got != tc.code {
			t.Errorf("CheckURL(%.60q) = %v (%q), want %q", tc.url, err, got, tc.code)
		}
		if err != nil && strings.Contains(err.Error(), "/x") {
			t.Errorf("CheckURL(%q) repeats the URL's path: %v", tc.url, err)
		}
	}
}

func codeOf(err error) string {
	if err == nil {
		return ""
	}
	e, ok := domain.AsError(err)
	if !ok {
		return "(not a domain.Error: " + err.Error() + ")"
	}
	return e.Code
}

// hostPort is a test server's 127.0.0.1:port, for --channel-allow.
func hostPort(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

func counting(h http.HandlerFunc) (http.Handler, *atomic.Int64) {
	var n atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h(w, r)
	}), &n
}

func TestGuardClientRefusesLoopbackUnlessAllowed(t *testing.T) {
	h, hits := counting(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	srv := httptest.NewServer(h)
	defer srv.Close()
	tlsSrv := httptest.NewTLSServer(h)
	defer tlsSrv.Close()

	none, _ := NewGuard(nil)
	c := none.Client(5 * time.Second)
	// Plain http to a host not allowed: refused before any connection.
	if _, err := c.Post(srv.URL+"/hook", "text/plain", nil); codeOf(errors.Unwrap(err)) != domain.EChannelRefused {
		t.Errorf("http to a loopback server without --channel-allow: %v", err)
	}
	// https to the literal IP: refused statically.
	if _, err := c.Post(tlsSrv.URL+"/hook", "text/plain", nil); codeOf(errors.Unwrap(err)) != domain.EChannelRefused {
		t.Errorf("https to 127.0.0.1 without --channel-allow: %v", err)
	}
	// https to a name that resolves to loopback: passes the static check
	// of a request, refused at connect time, after DNS.
	local := strings.Replace(tlsSrv.URL, "127.0.0.1", "localhost", 1)
	if err := none.CheckURL(local); codeOf(err) != domain.EChannelRefused {
		t.Errorf("CheckURL(%s) = %v: saving a localhost URL should be refused by name", local, err)
	}
	_, err := c.Post(local+"/hook", "text/plain", nil)
	var refused *refusedError
	if !errors.As(err, &refused) || !strings.Contains(refused.Error(), "localhost resolves to") || !strings.Contains(refused.Error(), "loopback") {
		t.Errorf("https to localhost: %v, want a connect-time refusal", err)
	}
	if hits.Load() != 0 {
		t.Fatalf("the server was reached %d times", hits.Load())
	}

	allowed, err := NewGuard([]string{hostPort(t, srv)})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := allowed.Client(5*time.Second).Post(srv.URL+"/hook", "text/plain", nil)
	if err != nil {
		t.Fatalf("http to an allowed host: %v", err)
	}
	resp.Body.Close()
	if hits.Load() != 1 {
		t.Fatalf("the allowed server got %d requests", hits.Load())
	}
}

// TestGuardDialChecksResolvedName uses a hostname that passes the static
// check (it is not "localhost") yet resolves to loopback: the Control hook
// must refuse it after DNS. The resolver is the system's; "localhost" is
// the one such name every system has, reached here through the dialer
// directly since CheckURL refuses it by name.
func TestGuardDialChecksResolvedName(t *testing.T) {
	h, hits := counting(func(w http.ResponseWriter, r *http.Request) {})
	srv := httptest.NewServer(h)
	defer srv.Close()
	port := strings.TrimPrefix(hostPort(t, srv), "127.0.0.1:")
	g, _ := NewGuard(nil)
	_, err := g.dial(context.Background(), "tcp", "localhost:"+port)
	var refused *refusedError
	if !errors.As(err, &refused) {
		t.Fatalf("dial localhost:%s = %v, want a refusal", port, err)
	}
	// Allowed by a CIDR entry, the same name connects.
	g, _ = NewGuard([]string{"127.0.0.0/8", "::1"})
	conn, err := g.dial(context.Background(), "tcp", "localhost:"+port)
	if err != nil {
		t.Fatalf("dial localhost with 127.0.0.0/8 allowed: %v", err)
	}
	conn.Close()
	if hits.Load() != 0 {
		t.Fatal("a bare dial made a request")
	}
}

func TestGuardRedirects(t *testing.T) {
	other, otherHits := counting(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "other") })
	otherSrv := httptest.NewServer(other)
	defer otherSrv.Close()
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/same":
			http.Redirect(w, r, "/final", http.StatusTemporaryRedirect)
		case "/final":
			io.WriteString(w, "final")
		case "/other":
			http.Redirect(w, r, otherSrv.URL+"/x", http.StatusFound)
		case "/loopback-name":
			http.Redirect(w, r, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)+"/final", http.StatusFound)
		case "/metadata":
			http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		}
	}))
	defer srv.Close()
	g, _ := NewGuard([]string{hostPort(t, srv)})
	c := g.Client(5 * time.Second)

	resp, err := c.Post(srv.URL+"/same", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatalf("same-host redirect: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "final" {
		t.Fatalf("same-host redirect answered %q", b)
	}
	for _, path := range []string{"/other", "/loopback-name", "/metadata", "/loop"} {
		_, err := c.Post(srv.URL+path, "text/plain", strings.NewReader("x"))
		var redir *redirectError
		if !errors.As(err, &redir) {
			t.Errorf("%s: %v, want a redirect not followed", path, err)
		}
	}
	if otherHits.Load() != 0 {
		t.Fatalf("a redirect to another host was followed (%d requests)", otherHits.Load())
	}
	// A redirect that stays on the host is checked again: here the host
	// is a name (not on the list) whose address a CIDR entry allows, so
	// https is required of it, and a redirect to http is refused.
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ok" {
			io.WriteString(w, "ok")
			return
		}
		http.Redirect(w, r, "http://"+r.Host+"/plain", http.StatusFound)
	}))
	defer tlsSrv.Close()
	tg, _ := NewGuard([]string{"127.0.0.0/8", "::1"})
	tc := tg.Client(5 * time.Second)
	pool := x509.NewCertPool()
	pool.AddCert(tlsSrv.Certificate())
	tc.Transport.(*guardedTransport).next.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: pool, ServerName: "example.com"}
	local := strings.Replace(tlsSrv.URL, "127.0.0.1", "localhost", 1)
	resp, err = tc.Get(local + "/ok")
	if err != nil {
		t.Fatalf("https to a name whose address is allowed: %v", err)
	}
	resp.Body.Close()
	_, err = tc.Get(local + "/")
	if codeOf(errors.Unwrap(err)) != domain.EChannelRefused {
		t.Fatalf("same-host redirect from https to http: %v, want channel_refused", err)
	}
}

func TestGuardBodyCutAt64KiB(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(bytes.Repeat([]byte("a"), 1<<20))
	}))
	defer srv.Close()
	g, _ := NewGuard([]string{hostPort(t, srv)})
	resp, err := g.Client(5 * time.Second).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || len(b) != 64<<10 {
		t.Fatalf("read %d bytes (%v), want %d", len(b), err, 64<<10)
	}
}

func TestGuardTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	g, _ := NewGuard([]string{hostPort(t, srv)})
	start := time.Now()
	_, err := g.Client(200 * time.Millisecond).Get(srv.URL)
	if err == nil || !isTimeout(err) {
		t.Fatalf("a server that never answers: %v, want a timeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("the timeout took %s", d)
	}
}

func TestGuardIgnoresProxy(t *testing.T) {
	proxy, proxyHits := counting(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(502) })
	proxySrv := httptest.NewServer(proxy)
	defer proxySrv.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "direct") }))
	defer srv.Close()
	t.Setenv("HTTP_PROXY", proxySrv.URL)
	t.Setenv("HTTPS_PROXY", proxySrv.URL)
	t.Setenv("NO_PROXY", "")
	g, _ := NewGuard([]string{hostPort(t, srv)})
	resp, err := g.Client(5 * time.Second).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "direct" || proxyHits.Load() != 0 {
		t.Fatalf("answer %q, proxy hits %d", b, proxyHits.Load())
	}
}
