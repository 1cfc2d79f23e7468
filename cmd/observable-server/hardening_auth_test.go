package main

// Issue 9, the auth edges: the Origin check must compare the scheme, the
// device cookie must only ever carry a device token, and the per-address
// limit on new sessions must count an IPv6 client by its /64.

import (
	"crypto/tls"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// authxRequest sends a request authenticated by the device cookie, as the
// phone app's page would, with the given Origin and extra headers.
func authxRequest(t *testing.T, client *http.Client, method, url, cookie, origin string, header map[string]string, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: "observable_device", Value: cookie})
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(b)
}

// authxOriginCase is one cookie-authenticated PATCH and the status it must get.
type authxOriginCase struct {
	why    string
	origin string
	header map[string]string
	want   int
}

func authxCheckOrigins(t *testing.T, client *http.Client, url, token string, cases []authxOriginCase) {
	t.Helper()
	for _, c := range cases {
		status, body := authxRequest(t, client, "PATCH", url+"/api/v1/device", token, c.origin, c.header, `{"name":"phone"}`)
		if status != c.want || (c.want == http.StatusForbidden && !strings.Contains(body, `"bad_origin"`)) {
			t.Errorf("%s: Origin %q %v: %d %s; want %d", c.why, c.origin, c.header, status, body, c.want)
		}
	}
}

// TestOriginCheckComparesTheScheme: an Origin with the right host but the
// wrong scheme is another site (a page on http:// that anyone on the path
// can rewrite); it must get 403 bad_origin, over plain HTTP, behind a
// trusted TLS proxy and over the server's own TLS.
func TestOriginCheckComparesTheScheme(t *testing.T) {
	t.Run("plain HTTP, public URL of the same host", func(t *testing.T) {
		p := launch(t, filepath.Join(t.TempDir(), "o.db"))
		awaitReady(t, 10*time.Second, p)
		_, code := newSession(t, p)
		token := claimPairing(t, p, code)
		host := strings.TrimPrefix(p.url, "http://")
		authxCheckOrigins(t, apiClient, p.url, token, []authxOriginCase{
			{"the app's own origin", p.url, nil, http.StatusOK},
			{"same host over https", "https://" + host, nil, http.StatusForbidden},
			{"another host", "http://evil.example", nil, http.StatusForbidden},
			{"an origin with a path", p.url + "/x", nil, http.StatusForbidden},
		})
	})
	t.Run("behind a proxy", func(t *testing.T) {
		p := launch(t, filepath.Join(t.TempDir(), "o.db"), "--public-url", "https://obs.example.test", "--trust-proxy", "127.0.0.1/32")
		awaitReady(t, 10*time.Second, p)
		_, code := newSession(t, p)
		token := claimPairing(t, p, code)
		host := strings.TrimPrefix(p.url, "http://")
		https := map[string]string{"X-Forwarded-Proto": "https"}
		authxCheckOrigins(t, apiClient, p.url, token, []authxOriginCase{
			{"the public URL", "https://obs.example.test", map[string]string{"Host": "obs.example.test"}, http.StatusOK},
			{"the public URL's host over http", "http://obs.example.test", map[string]string{"Host": "obs.example.test"}, http.StatusForbidden},
			{"the public URL's host with its default port", "https://obs.example.test:443", nil, http.StatusOK},
			{"the Host, over https at the trusted proxy", "https://" + host, https, http.StatusOK},
			{"the Host over http, the proxy saying https", "http://" + host, https, http.StatusForbidden},
			{"the Host over http, the proxy saying http", "http://" + host, map[string]string{"X-Forwarded-Proto": "http"}, http.StatusOK},
		})
	})
	t.Run("X-Forwarded-Proto from anyone else", func(t *testing.T) {
		p := launch(t, filepath.Join(t.TempDir(), "o.db"), "--public-url", "https://obs.example.test")
		awaitReady(t, 10*time.Second, p)
		_, code := newSession(t, p)
		token := claimPairing(t, p, code)
		host := strings.TrimPrefix(p.url, "http://")
		authxCheckOrigins(t, apiClient, p.url, token, []authxOriginCase{
			{"untrusted proxy header", "https://" + host, map[string]string{"X-Forwarded-Proto": "https"}, http.StatusForbidden},
			{"the connection's own scheme", "http://" + host, map[string]string{"X-Forwarded-Proto": "https"}, http.StatusOK},
		})
	})
	t.Run("the server's own TLS", func(t *testing.T) {
		dir := t.TempDir()
		cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
		writeSelfSigned(t, cert, key)
		p := launch(t, filepath.Join(dir, "o.db"), "--public-url", "https://obs.example.test", "--tls-cert", cert, "--tls-key", key)
		url := "https://" + strings.TrimPrefix(p.url, "http://")
		client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
		authxWaitTLS(t, client, url, p)
		status, body := authxRequest(t, client, "POST", url+"/api/v1/sessions", "", "", nil, "{}")
		if status != http.StatusCreated {
			t.Fatalf("create session: %d %s", status, body)
		}
		status, body = authxRequest(t, client, "POST", url+"/api/v1/pairings/"+authxField(body, "code")+"/claim", "", "", nil, "{}")
		if status != http.StatusCreated {
			t.Fatalf("claim: %d %s", status, body)
		}
		token := authxField(body, "device_token")
		authxCheckOrigins(t, client, url, token, []authxOriginCase{
			{"the Host over https", url, nil, http.StatusOK},
			{"the Host over http", p.url, nil, http.StatusForbidden},
		})
	})
}

// authxWaitTLS waits until the HTTPS server answers /readyz.
func authxWaitTLS(t *testing.T, client *http.Client, url string, p *serverProc) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if resp, err := client.Get(url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("HTTPS server not ready:\n%s", p.stop())
		}
	}
}

// authxField is the first string field of that name in a JSON answer,
// however deep.
func authxField(body, name string) string {
	_, rest, ok := strings.Cut(body, `"`+name+`":"`)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, `"`)
	return v
}

// TestDeviceCookieCarriesOnlyDeviceTokens: a session key put in the device
// cookie must not log the browser in on the read routes (it did, as if sent
// as a bearer token); the cookie is cleared, and a real device token in it
// still works.
func TestDeviceCookieCarriesOnlyDeviceTokens(t *testing.T) {
	p := launch(t, filepath.Join(t.TempDir(), "c.db"))
	awaitReady(t, 10*time.Second, p)
	key, code := newSession(t, p)
	postEvent(t, p, key, "e1", "nightly_sync", "failed")
	token := claimPairing(t, p, code)
	client := &http.Client{Timeout: 3 * time.Second} // a stream let in would hold the request open
	for _, path := range []string{"/api/v1/events", "/api/v1/events/1", "/api/v1/jobs", "/api/v1/events/stream"} {
		req, _ := http.NewRequest("GET", p.url+path, nil)
		req.AddCookie(&http.Cookie{Name: "observable_device", Value: key})
		resp, err := client.Do(req)
		if err != nil {
			t.Errorf("GET %s with the session key as cookie: %v (a stream let in?)", path, err)
			continue
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(b), `"unauthorized"`) {
			t.Errorf("GET %s with the session key as cookie: %d %s; want 401", path, resp.StatusCode, b)
		}
		if c := resp.Header.Get("Set-Cookie"); !strings.Contains(c, "observable_device=;") || !strings.Contains(c, "Max-Age=0") {
			t.Errorf("GET %s: the bad cookie is not cleared: %q", path, c)
		}
	}
	if status, body := authxRequest(t, client, "GET", p.url+"/api/v1/events", token, "", nil, ""); status != http.StatusOK {
		t.Fatalf("the device token as cookie: %d %s", status, body)
	}
	mustCall(t, http.StatusOK, "GET", p.url+"/api/v1/events", key, "", nil) // the key as a bearer token still works
}

// TestSessionLimitCountsIPv6ByItsSlash64: one host holds a whole /64, so
// new addresses in it must not buy new sessions past the limit.
func TestSessionLimitCountsIPv6ByItsSlash64(t *testing.T) {
	p := launch(t, filepath.Join(t.TempDir(), "l.db"), "--trust-proxy", "127.0.0.1/32", "--sessions-per-minute", "3")
	awaitReady(t, 10*time.Second, p)
	create := func(from string) int {
		req, _ := http.NewRequest("POST", p.url+"/api/v1/sessions", strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", from)
		resp, err := apiClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
			t.Errorf("429 without Retry-After")
		}
		return resp.StatusCode
	}
	for i, from := range []string{"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff:ffff:ffff:ffff"} {
		if got := create(from); got != http.StatusCreated {
			t.Fatalf("session %d from %s: %d, want 201", i+1, from, got)
		}
	}
	if got := create("2001:db8:1:2:abcd::9"); got != http.StatusTooManyRequests {
		t.Fatalf("4th session from the same /64: %d, want 429", got)
	}
	if got := create("2001:db8:1:3::1"); got != http.StatusCreated {
		t.Fatalf("a session from another /64: %d, want 201", got)
	}
	if got := create("192.0.2.7"); got != http.StatusCreated {
		t.Fatalf("a session from an IPv4 address: %d, want 201", got)
	}
}
