package web

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/secret"
	"github.com/observable-code/observable/internal/store"
)

// pairing makes a session (host may be "") with a 10-minute pairing code,
// created at the fixture's now, and returns the code.
func (f *fixture) pairing(host string, replace bool) string {
	f.t.Helper()
	ctx := context.Background()
	sess, err := f.store.CreateSession(ctx, secret.Hash(secret.SessionKey()), host, f.now)
	if err != nil {
		f.t.Fatalf("create session: %v", err)
	}
	code := secret.PairingCode()
	p := domain.Pairing{CodeHash: secret.Hash(code), SessionID: sess.ID, CreatedAt: domain.NewTime(f.now),
		ExpiresAt: domain.NewTime(f.now.Add(10 * time.Minute)), Replace: replace}
	if err := f.store.CreatePairing(ctx, p); err != nil {
		f.t.Fatalf("create pairing: %v", err)
	}
	return code
}

func (f *fixture) page(path string, status int, want ...string) string {
	f.t.Helper()
	rec := f.get("GET", path, nil)
	if rec.Code != status {
		f.t.Fatalf("GET %s: status %d, want %d\n%s", path, rec.Code, status, rec.Body)
	}
	checkHTMLHeaders(f.t, rec)
	if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
		f.t.Errorf("GET %s: Cache-Control %q, want no-store", path, cc)
	}
	body := rec.Body.String()
	for _, w := range want {
		if !strings.Contains(body, w) {
			f.t.Errorf("GET %s does not say %q:\n%s", path, w, body)
		}
	}
	return body
}

func TestPairPageDescribesAFreshCodeWithoutUsingIt(t *testing.T) {
	f := newFixture(t)
	code := f.pairing("ana-laptop", false)
	f.now = f.now.Add(70 * time.Second)
	for range 2 { // a link preview, then the person: neither uses the code
		body := f.page("/pair/"+code, http.StatusOK, "Pair this phone?", "ana-laptop", "14:03 UTC on 12 May 2026",
			"a minute ago", "8 minutes", `id="pair-form"`, `id="pair-button"`, "/pair.js")
		if strings.Contains(body, "unpairs every other phone") {
			t.Errorf("a plain pairing warns that it replaces other phones")
		}
	}
	p, err := f.store.Pairing(context.Background(), secret.Hash(code))
	if err != nil || !p.UsedAt.IsZero() {
		t.Errorf("after two GETs the pairing is %+v (%v); want it unused", p, err)
	}
	// And it can still be claimed.
	if _, err := f.store.ClaimPairing(context.Background(), secret.Hash(code), domain.Device{ID: secret.ID(), Name: "x"},
		secret.Hash(secret.DeviceToken()), f.now); err != nil {
		t.Errorf("claim after viewing: %v", err)
	}
}

func TestPairPageStates(t *testing.T) {
	f := newFixture(t)
	unnamed := f.pairing("", false)
	replacing := f.pairing("ci-runner", true)
	f.page("/pair/"+unnamed, http.StatusOK, "not named")
	f.page("/pair/"+replacing, http.StatusOK, "unpairs every other phone")

	used := f.pairing("ana-laptop", false)
	if _, err := f.store.ClaimPairing(context.Background(), secret.Hash(used), domain.Device{ID: secret.ID(), Name: "Pixel"},
		secret.Hash(secret.DeviceToken()), f.now); err != nil {
		t.Fatal(err)
	}
	body := f.page("/pair/"+used, http.StatusGone, "already used", "observable pair", `href="/"`)
	if strings.Contains(body, "pair-form") {
		t.Errorf("a used code still offers the pair button")
	}

	expired := f.pairing("ana-laptop", false)
	f.now = f.now.Add(10*time.Minute + time.Second)
	body = f.page("/pair/"+expired, http.StatusGone, "has expired", "10 minutes", "observable pair")
	if strings.Contains(body, "pair-form") {
		t.Errorf("an expired code still offers the pair button")
	}

	for _, code := range []string{secret.PairingCode(), "short", "has%20space", "%3Cscript%3Ealert(1)%3C%2Fscript%3E", strings.Repeat("a", 65)} {
		body := f.page("/pair/"+code, http.StatusNotFound, "not valid", "observable pair")
		if strings.Contains(body, "<script>alert") {
			t.Errorf("the unknown-code page echoes the code as markup")
		}
	}
}

// failingStore is a real store whose pairing reads fail with err.
type failingStore struct {
	store.Store
	err error
}

func (f failingStore) Pairing(context.Context, []byte) (domain.Pairing, error) {
	return domain.Pairing{}, f.err
}

// The page answers by the error's code: only a database that does not
// answer is "reload in a few seconds"; anything else is the server's own
// failure, logged, with its detail hidden.
func TestPairPageWhenTheDatabaseFails(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		says   string
		retry  bool
	}{
		{"unavailable", fmt.Errorf("read pairing: %w: database is locked", store.ErrUnavailable), http.StatusServiceUnavailable, "did not answer. Reload this page in a few seconds", true},
		// Each says its own reason, not "the database did not answer".
		{"disk full", fmt.Errorf("read pairing: %w: locked disk", store.ErrDiskFull), http.StatusInsufficientStorage, "disk is full; the server&#39;s operator must free space. Reload this page", true},
		{"shutting down", domain.Wrap(errors.New("locked"), domain.EShuttingDown, "shutting down"), http.StatusServiceUnavailable, "It is restarting. Reload this page in a few seconds", true},
		{"a bug", errors.New("sql: locked column out of range"), http.StatusInternalServerError, "has been logged", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			code := f.pairing("ana-laptop", false)
			f.store = failingStore{f.store, tt.err}
			f.build("http://192.168.1.20:3000")
			rec := f.get("GET", "/pair/"+code, nil)
			if rec.Code != tt.status || (rec.Header().Get("Retry-After") != "") != tt.retry ||
				!strings.Contains(rec.Body.String(), tt.says) || strings.Contains(rec.Body.String(), "locked") {
				t.Errorf("status %d, Retry-After %q, body %s; want %d that says %q and hides the error",
					rec.Code, rec.Header().Get("Retry-After"), rec.Body, tt.status, tt.says)
			}
		})
	}
}

func TestPairPageWarnsAboutPlainHTTPFromAnotherMachine(t *testing.T) {
	tests := []struct {
		name      string
		publicURL string
		host      string
		edit      func(*http.Request)
		warn      bool
	}{
		{"LAN address over HTTP", "http://192.168.1.20:3000", "192.168.1.20:3000", nil, true},
		{"public name over HTTP", "http://obs.example.com", "obs.example.com", nil, true},
		{"loopback IPv4", "http://127.0.0.1:3000", "127.0.0.1:3000", nil, false},
		{"loopback IPv6", "http://[::1]:3000", "[::1]:3000", nil, false},
		{"localhost", "http://localhost:3000", "localhost:3000", nil, false},
		{"a .localhost name", "http://obs.localhost:3000", "obs.localhost:3000", nil, false},
		{"TLS here", "https://obs.example.com", "obs.example.com", func(r *http.Request) { r.TLS = &tls.ConnectionState{} }, false},
		{"TLS at a proxy (X-Forwarded-Proto)", "http://10.0.0.5:3000", "obs.example.com", func(r *http.Request) { r.Header.Set("X-Forwarded-Proto", "https") }, false},
		{"TLS at a proxy (Forwarded)", "http://10.0.0.5:3000", "obs.example.com", func(r *http.Request) { r.Header.Set("Forwarded", `for=1.2.3.4;proto=https`) }, false},
		{"https public URL behind a proxy", "https://obs.example.com", "obs.example.com", nil, false},
		{"https public URL, reached by IP", "https://obs.example.com", "192.168.1.20:3000", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.build(tt.publicURL)
			code := f.pairing("ana-laptop", false)
			rec := f.get("GET", "/pair/"+code, func(r *http.Request) {
				r.Host = tt.host
				if tt.edit != nil {
					tt.edit(r)
				}
			})
			body := rec.Body.String()
			warned := strings.Contains(body, "This connection is not secure")
			if warned != tt.warn {
				t.Fatalf("warning shown: %v, want %v", warned, tt.warn)
			}
			if warned {
				for _, want := range []string{"will not be notified", "--tls-cert", "--tls-key", "--tls-domain", "reverse proxy", "tunnel", "http://" + tt.host} {
					if !strings.Contains(body, want) {
						t.Errorf("the warning does not say %q", want)
					}
				}
			}
		})
	}
}

// The name the page offers is the server's guess, the same rule a claim
// without a name follows: one home for it, and data from a header is text.
func TestPairPageOffersTheNameGuessedFromTheBrowser(t *testing.T) {
	f := newFixture(t)
	code := f.pairing("", false)
	for _, c := range []struct{ ua, want string }{
		{"Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP1A.240305.019) AppleWebKit/537.36", `value="Pixel 8"`},
		{"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36", `value="Android phone"`},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X)", `value="iPhone"`},
		{`Mozilla/5.0 (Linux; Android 14; "><script>x</script> Build/1)`, `value="&#34;&gt;&lt;script&gt;x&lt;/script&gt;"`},
	} {
		rec := f.get("GET", "/pair/"+code, func(r *http.Request) { r.Header.Set("User-Agent", c.ua) })
		if !strings.Contains(rec.Body.String(), c.want) {
			t.Errorf("User-Agent %q: the page does not offer %s", c.ua, c.want)
		}
	}
}
