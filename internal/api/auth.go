package api

import (
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/secret"
)

// DeviceCookie carries the device token for the phone app.
const DeviceCookie = "observable_device"

// principal is who made a request: a session key holder, or a device.
type principal struct {
	sessionID int64
	device    *domain.Device // nil for the session key
}

type credentials int

const (
	sessionKey credentials = 1 << iota
	deviceToken
	either = sessionKey | deviceToken
)

// authenticate finds the caller, answering 401/403 itself when it fails.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, accept credentials) (principal, bool) {
	token, fromCookie := bearer(r), false
	if token == "" && accept&deviceToken != 0 {
		if c, err := r.Cookie(DeviceCookie); err == nil && c.Value != "" {
			token, fromCookie = c.Value, true
		}
	}
	if token == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="observable"`)
		writeError(w, http.StatusUnauthorized, "unauthorized", missingCredentials(accept))
		return principal{}, false
	}
	if fromCookie && isStateChanging(r.Method) && !s.sameOrigin(r) {
		writeError(w, http.StatusForbidden, "bad_origin", "this request came from another site's page; open the app at "+s.cfg.PublicURL)
		return principal{}, false
	}
	if secret.IsDeviceToken(token) {
		if accept&deviceToken == 0 {
			writeError(w, http.StatusForbidden, "session_key_required", "this call needs the session key (the session id from `observable setup`), not a device token")
			return principal{}, false
		}
		d, err := s.deps.Store.DeviceByToken(r.Context(), secret.Hash(token))
		if errors.Is(err, domain.ErrNotFound) {
			if fromCookie {
				http.SetCookie(w, s.deviceCookie("", -1))
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="observable", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "this device is not paired (or was unpaired); pair it again by scanning a new code from `observable pair`")
			return principal{}, false
		}
		if s.storeError(w, "authenticate device", err) {
			return principal{}, false
		}
		if now := s.now(); now.Sub(d.LastSeenAt.Time) > time.Minute {
			// Best effort: a failure to note the visit must not fail the visit.
			if err := s.deps.Store.TouchDevice(r.Context(), d.ID, now); err != nil {
				s.log.Debug("touch device", "err", err)
			}
		}
		return principal{sessionID: d.SessionID, device: &d}, true
	}
	if accept&sessionKey == 0 {
		writeError(w, http.StatusForbidden, "device_token_required", "this call is for a paired device; the session key cannot make it")
		return principal{}, false
	}
	hash := secret.Hash(token)
	id, ok := s.sessionKeys.get(string(hash))
	if !ok {
		sess, err := s.deps.Store.SessionByKey(r.Context(), hash)
		if errors.Is(err, domain.ErrNotFound) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="observable", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "this server does not know that session id; run `observable setup` to create a session here, or check OBSERVABLE_CODE_API_URL")
			return principal{}, false
		}
		if s.storeError(w, "authenticate session", err) {
			return principal{}, false
		}
		id = sess.ID
		s.sessionKeys.put(string(hash), id)
	}
	return principal{sessionID: id}, true
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

// sameOrigin accepts a request whose Origin is the public URL's or the one
// the browser used to reach us (Host); a missing Origin is refused, since
// browsers send it with every state-changing request.
func (s *Server) sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || origin == "null" {
		return false
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if pub, err := url.Parse(s.cfg.PublicURL); err == nil && strings.EqualFold(u.Scheme, pub.Scheme) && strings.EqualFold(u.Host, pub.Host) {
		return true
	}
	return strings.EqualFold(u.Host, r.Host)
}

// deviceCookie is the phone's credential cookie; maxAge < 0 deletes it.
func (s *Server) deviceCookie(token string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: DeviceCookie, Value: token, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: strings.HasPrefix(s.cfg.PublicURL, "https://"),
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
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
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

// addrKey is the key per-address limits count under: an IPv4 address, or
// the /64 of an IPv6 one, since one host usually holds a whole /64 and
// could otherwise take a new address for every request.
func addrKey(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil || !a.Is6() {
		return addr
	}
	p, _ := a.Prefix(64)
	return p.String()
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.cfg.TrustProxy {
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
