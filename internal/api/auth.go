package api

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/observable-code/observable/internal/connlimit"
	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/secret"
)

// DeviceCookie carries the device token for the phone app.
const DeviceCookie = "observable_device"

// principal is who made a request: a session key holder, or a device.
type principal struct {
	sessionID int64
	device    *domain.Device // nil for the session key
	// deviceToken is the token the device authenticated with.
	deviceToken string
	// revocations is Broker.Revocations read before the credential was
	// checked: a stream opened with it is checked again after an
	// unpairing it may have missed.
	revocations uint64
}

// credentials is what a route needs of its caller.
type credentials int

const (
	none       credentials = 0
	sessionKey credentials = 1 << iota
	deviceToken
	// originChecked takes no credential, but a request that gives an
	// Origin must come from our own pages.
	originChecked
	either = sessionKey | deviceToken
)

type callerKey struct{}

// withCaller authenticates the request as its route asks and returns it
// with the caller in its context (callerOf).
func (s *Server) withCaller(w http.ResponseWriter, r *http.Request, accept credentials) (*http.Request, error) {
	switch accept {
	case none:
		return r, nil
	case originChecked:
		if r.Header.Get("Origin") != "" && !s.sameOrigin(r) {
			return r, domain.Errorf(domain.EBadOrigin, "pairing must be confirmed on %s/pair/…, not from another site", s.opts.PublicURL)
		}
		return r, nil
	}
	var revocations uint64
	if s.deps.Broker != nil {
		// Before the credential is checked: an unpairing in between is caught.
		revocations = s.deps.Broker.Revocations()
	}
	who, err := s.authenticate(w, r, accept)
	if err != nil {
		return r, err
	}
	who.revocations = revocations
	return r.WithContext(context.WithValue(r.Context(), callerKey{}, who)), nil
}

// callerOf is the caller serve authenticated for the route.
func callerOf(r *http.Request) principal {
	who, _ := r.Context().Value(callerKey{}).(principal)
	return who
}

// unauthorized is a 401 with the challenge that goes with it.
func unauthorized(w http.ResponseWriter, invalidToken bool, format string, args ...any) error {
	challenge := `Bearer realm="observable"`
	if invalidToken {
		challenge += `, error="invalid_token"`
	}
	w.Header().Set("WWW-Authenticate", challenge)
	return domain.Errorf(domain.EUnauthorized, format, args...)
}

// authenticate finds the caller. Secrets are looked up by their SHA-256
// hash, never compared as given, so the time a lookup takes can tell a
// caller at most about a hash, which says nothing of any secret.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, accept credentials) (principal, error) {
	token, fromCookie := bearer(r), false
	if token == "" && accept&deviceToken != 0 {
		if c, err := r.Cookie(DeviceCookie); err == nil && c.Value != "" {
			token, fromCookie = c.Value, true
		}
	}
	if token == "" {
		return principal{}, unauthorized(w, false, "%s", missingCredentials(accept))
	}
	if fromCookie && !secret.IsDeviceToken(token) {
		// Only pairing sets the cookie, and it only ever holds a device
		// token. Anything else in it was put there by someone else (a
		// subdomain, a script, a person pasting a session key): taking it as
		// a session key would log the browser in with a credential it was
		// never given, so it is refused and cleared, never looked up.
		http.SetCookie(w, s.deviceCookie("", -1))
		return principal{}, unauthorized(w, true, "the %s cookie holds no device token; pair this browser by scanning a code from `observable pair`, or send the session id as 'Authorization: Bearer <session_id>'", DeviceCookie)
	}
	if fromCookie && isStateChanging(r.Method) && !s.sameOrigin(r) {
		return principal{}, domain.Errorf(domain.EBadOrigin, "this request came from another site's page (the scheme counts: http:// and https:// are two sites); open the app at %s"+
			", or, if a proxy or tunnel serves it at another address, give that address to --public-url", s.opts.PublicURL)
	}
	if secret.IsDeviceToken(token) {
		if accept&deviceToken == 0 {
			return principal{}, domain.Errorf(domain.ESessionKeyRequired, "this call needs the session key (the session id from `observable setup`), not a device token")
		}
		d, err := s.deps.Store.DeviceByToken(r.Context(), secret.Hash(token))
		if errors.Is(err, domain.ErrNotFound) {
			if fromCookie {
				http.SetCookie(w, s.deviceCookie("", -1))
			}
			return principal{}, unauthorized(w, true, "this device is not paired (or was unpaired); pair it again by scanning a new code from `observable pair`")
		}
		if err != nil {
			return principal{}, dbOp("authenticate device", err)
		}
		if now := s.now(); now.Sub(d.LastSeenAt.Time) > time.Minute {
			// Best effort: a failure to note the visit must not fail the visit.
			if err := s.deps.Store.TouchDevice(r.Context(), d.ID, now); err != nil {
				s.log.Debug("touch device", "err", err)
			}
		}
		return principal{sessionID: d.SessionID, device: &d, deviceToken: token}, nil
	}
	if accept&sessionKey == 0 {
		return principal{}, domain.Errorf(domain.EDeviceTokenRequired, "this call is for a paired device; the session key cannot make it: make it from the phone app, or pair a device with `observable pair`")
	}
	hash := secret.Hash(token)
	id, ok := s.sessionKeys.get(string(hash))
	if !ok {
		sess, err := s.deps.Store.SessionByKey(r.Context(), hash)
		if errors.Is(err, domain.ErrNotFound) {
			return principal{}, unauthorized(w, true, "this server does not know that session id; run `observable setup` to create a session here, or check OBSERVABLE_CODE_API_URL")
		}
		if err != nil {
			return principal{}, dbOp("authenticate session", err)
		}
		id = sess.ID
		s.sessionKeys.put(string(hash), id)
	}
	return principal{sessionID: id}, nil
}

func missingCredentials(accept credentials) string {
	switch accept {
	case sessionKey:
		return "send the session id as 'Authorization: Bearer <session_id>' (run `observable show-key` to print it)"
	case deviceToken:
		return "this call is for a paired device: send its device token as a bearer token, or open the phone app"
	}
	return "send the session id or a device token as 'Authorization: Bearer <token>'"
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

func isStateChanging(method string) bool {
	return method != http.MethodGet && method != http.MethodHead && method != http.MethodOptions
}

// sameOrigin accepts a request whose Origin is the public URL's, or the
// origin the browser used to reach us: the scheme it came over and its Host.
// The scheme matters: a page on http://host (which anyone on the network
// can rewrite) is another origin than https://host. A missing Origin is
// refused, since browsers send it with every state-changing request.
func (s *Server) sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || origin == "null" {
		return false
	}
	u, err := url.Parse(origin)
	if err != nil || u.Opaque != "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return false
	}
	scheme := strings.ToLower(u.Scheme)
	host := canonicalHost(scheme, u.Host)
	if pub, err := url.Parse(s.opts.PublicURL); err == nil && pub.Host != "" {
		pubScheme := strings.ToLower(pub.Scheme)
		if host == canonicalHost(pubScheme, pub.Host) {
			// The public URL says how its host is reached: the same host
			// over the other scheme is refused even when the connection
			// itself looks like it (a TLS proxy we were not told to trust).
			return scheme == pubScheme
		}
	}
	reqScheme := s.requestScheme(r)
	return scheme == reqScheme && host == canonicalHost(reqScheme, r.Host)
}

// requestScheme is the scheme the browser used: ours (TLS or not), or the
// one a trusted proxy in front of us says it received (X-Forwarded-Proto;
// from anyone else the header is ignored). A client may get its own header
// past a proxy that does not overwrite it, but that client could as well
// send any Origin: what the check stops is a page in someone else's
// browser, which cannot set this header on a cross-site request.
func (s *Server) requestScheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	if peer, err := netip.ParseAddrPort(r.RemoteAddr); err == nil && s.trusted(peer.Addr().Unmap()) {
		// The leftmost value is the client's side of the first proxy.
		proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
		switch p := strings.ToLower(strings.TrimSpace(proto)); p {
		case "http", "https":
			return p
		}
	}
	return "http"
}

// canonicalHost lowercases a host[:port] and drops the scheme's default
// port, so that "Example.com:443" and "example.com" compare equal over https.
func canonicalHost(scheme, hostport string) string {
	h := strings.ToLower(hostport)
	if host, port, err := net.SplitHostPort(h); err == nil &&
		(scheme == "https" && port == "443" || scheme == "http" && port == "80") {
		h = host
		if strings.Contains(host, ":") {
			h = "[" + host + "]"
		}
	}
	return h
}

// deviceCookie is the phone's credential cookie; maxAge < 0 deletes it.
func (s *Server) deviceCookie(token string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: DeviceCookie, Value: token, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: strings.HasPrefix(s.opts.PublicURL, "https://"),
	}
}

// clientAddr is the caller's address: the peer, or the address a trusted
// proxy in front of us saw (the rightmost untrusted X-Forwarded-For hop).
func (s *Server) clientAddr(r *http.Request) string {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	addr := peer.Addr().Unmap()
	if !s.trusted(addr) {
		return addr.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := parseHop(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		if !s.trusted(hop.Unmap()) {
			return hop.Unmap().String()
		}
		addr = hop.Unmap()
	}
	return addr.String()
}

// parseHop reads one X-Forwarded-For entry: an address, or an address
// and port as some proxies write it ("192.0.2.1:443", "[2001:db8::1]:443").
// Without the second form, every client behind such a proxy would count as
// the proxy itself and share one limit.
func parseHop(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, err2 := netip.ParseAddrPort(s)
		if err2 != nil {
			return netip.Addr{}, err
		}
		a = ap.Addr()
	}
	return a, nil
}

// addrKey is the key per-address limits count under: an IPv4 address, or
// the /64 of an IPv6 one, since one host usually holds a whole /64 and
// could otherwise take a new address for every request.
// It is connlimit's rule, so the accept loop's caps count the same keys.
func addrKey(addr string) string { return connlimit.AddrKey(addr) }

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.opts.TrustProxy {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// keyCache remembers which session a key hash belongs to. Session keys are
// never revoked, so an entry can never go stale; the cache only saves a
// database read per request.
type keyCache struct {
	mu  sync.RWMutex
	max int
	m   map[string]int64
}

func newKeyCache(max int) *keyCache { return &keyCache{max: max, m: make(map[string]int64)} }

func (c *keyCache) get(k string) (int64, bool) {
	c.mu.RLock()
	v, ok := c.m[k]
	c.mu.RUnlock()
	return v, ok
}

func (c *keyCache) put(k string, v int64) {
	c.mu.Lock()
	if len(c.m) >= c.max {
		clear(c.m) // rare; simpler than LRU bookkeeping on every hit
	}
	c.m[k] = v
	c.mu.Unlock()
}
