package push

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// defaultHosts are the push services of the browsers a phone may run. An
// endpoint is a URL the server will POST to on the subscriber's behalf, so
// anything outside this list (and --push-allow) is refused: otherwise any
// paired phone could make the server send requests into its own network.
var defaultHosts = []string{
	"fcm.googleapis.com",                // Chrome, Edge and others on Android and desktop
	"android.googleapis.com",            // older Chrome subscriptions
	"updates.push.services.mozilla.com", // Firefox
	"*.push.services.mozilla.com",
	"web.push.apple.com", // Safari on iOS, iPadOS and macOS
	"*.push.apple.com",
	"*.notify.windows.com", // legacy Edge on Windows
}

// maxEndpointLen bounds what is stored and sent; real endpoints are a few
// hundred bytes (Windows' are the longest).
const maxEndpointLen = 2048

// allowEntry is one host an endpoint may point at.
type allowEntry struct {
	host     string     // lower case; for a wildcard, the part after "*."
	addr     netip.Addr // set when host is an IP literal
	wildcard bool
	port     string // "" means the scheme's default port only
	explicit bool   // given by the operator rather than built in
	loopback bool
}

// allowList is the built-in hosts plus the operator's own.
type allowList struct {
	entries []allowEntry
	names   string // for error messages
}

func newAllowList(extra []string) (allowList, error) {
	var l allowList
	var names []string
	for _, h := range defaultHosts {
		e, err := parseAllowEntry(h)
		if err != nil {
			panic("push: bad built-in host " + h) // a programming error, caught by tests
		}
		l.entries = append(l.entries, e)
		names = append(names, h)
	}
	for _, h := range extra {
		e, err := parseAllowEntry(h)
		if err != nil {
			return allowList{}, fmt.Errorf("--push-allow entry %q: %w", h, err)
		}
		e.explicit = true
		l.entries = append(l.entries, e)
		names = append(names, strings.TrimSpace(strings.ToLower(h)))
	}
	l.names = strings.Join(names, ", ")
	return l, nil
}

// parseAllowEntry reads "host", "host:port", "*.domain", "1.2.3.4:port" or
// "[::1]:port".
func parseAllowEntry(s string) (allowEntry, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	notURL := errors.New("give a host name, optionally with :port (e.g. push.example.com or 127.0.0.1:8443), not a URL")
	if s == "" {
		return allowEntry{}, errors.New("is empty; give a host name such as push.example.com")
	}
	if strings.ContainsAny(s, "/@?#") {
		return allowEntry{}, notURL
	}
	host, port := s, ""
	if strings.HasPrefix(s, "[") || strings.Count(s, ":") == 1 {
		var err error
		if host, port, err = net.SplitHostPort(s); err != nil {
			if !strings.HasPrefix(s, "[") || !strings.HasSuffix(s, "]") {
				return allowEntry{}, notURL
			}
			host, port = strings.Trim(s, "[]"), ""
		}
		if port != "" && !validPort(port) {
			return allowEntry{}, fmt.Errorf("port %q must be a number from 1 to 65535", port)
		}
	}
	e := allowEntry{host: host, port: port}
	if addr, err := netip.ParseAddr(host); err == nil {
		e.addr = addr.Unmap()
		e.host = e.addr.String()
		e.loopback = e.addr.IsLoopback()
		return e, nil
	}
	if rest, ok := strings.CutPrefix(host, "*."); ok {
		e.wildcard, e.host = true, rest
	}
	if !validHostName(e.host) || (e.wildcard && !strings.Contains(e.host, ".")) {
		return allowEntry{}, errors.New("is not a valid host name (letters, digits, '-' and '.'; a wildcard must look like *.example.com)")
	}
	e.loopback = e.host == "localhost" && !e.wildcard
	return e, nil
}

func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535 && strconv.Itoa(n) == p
}

// validHostName accepts plain DNS names only: no trailing dot, no
// percent-encoding, no empty labels.
func validHostName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// check reports why endpoint may not be used, or nil.
func (l *allowList) check(endpoint string) error {
	refuse := func(reason string) error {
		return fmt.Errorf("the push endpoint %s; subscribe through the browser's own push service (allowed hosts: %s), or ask the server's operator to add the host with --push-allow", reason, l.names)
	}
	if endpoint == "" {
		return refuse("is missing: send the browser's PushSubscription JSON, with its endpoint")
	}
	if len(endpoint) > maxEndpointLen {
		return refuse(fmt.Sprintf("is %d bytes long; the limit is %d", len(endpoint), maxEndpointLen))
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Opaque != "" || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return refuse("must be an absolute https:// URL")
	}
	if u.User != nil {
		return refuse("must not carry a user name or password")
	}
	if u.Fragment != "" || u.RawFragment != "" {
		return refuse("must not have a #fragment")
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if port != "" && !validPort(port) {
		return refuse(fmt.Sprintf("has an invalid port %q", port))
	}
	addr, ipErr := netip.ParseAddr(host)
	if ipErr != nil && !validHostName(host) {
		return refuse(fmt.Sprintf("has an invalid host name %q", host))
	}
	for i := range l.entries {
		e := &l.entries[i]
		if !e.matchesHost(host, addr, ipErr == nil) || !e.matchesPort(u.Scheme, port) {
			continue
		}
		if u.Scheme == "http" && !(e.explicit && e.loopback) {
			return refuse("must use https (plain http is accepted only for a loopback host given with --push-allow, for testing)")
		}
		return nil
	}
	if ipErr == nil {
		return refuse(fmt.Sprintf("points at the IP address %s, which is not an allowed push service", u.Host))
	}
	if port != "" && port != defaultPort(u.Scheme) {
		return refuse(fmt.Sprintf("points at %s, a port no allowed push service uses", u.Host))
	}
	return refuse(fmt.Sprintf("points at %q, which is not a browser push service", host))
}

func (e *allowEntry) matchesHost(host string, addr netip.Addr, isIP bool) bool {
	if isIP {
		// An IP literal only ever matches an operator's explicit IP entry:
		// no built-in push service is addressed by IP.
		return e.addr.IsValid() && e.addr == addr.Unmap()
	}
	if e.addr.IsValid() {
		return false
	}
	if e.wildcard {
		return strings.HasSuffix(host, "."+e.host)
	}
	return host == e.host
}

func (e *allowEntry) matchesPort(scheme, port string) bool {
	if port == "" {
		port = defaultPort(scheme)
	}
	if e.port == "" {
		return port == defaultPort(scheme)
	}
	return port == e.port
}

func defaultPort(scheme string) string {
	if scheme == "http" {
		return "80"
	}
	return "443"
}

// hostOf is what logs show of an endpoint: the endpoint itself is a
// capability (anyone holding it can push to the phone), its host is not.
func hostOf(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return "(invalid endpoint)"
	}
	return u.Host
}
