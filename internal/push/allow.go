package push

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"

	"github.com/observable-code/observable/internal/hostallow"
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

// allowEntry is one host an endpoint may point at. Unlike a
// --channel-allow entry, one without a port allows the scheme's default
// port only (a push service is a service, not a host), and there are no
// CIDRs and no '_' in names: push services are public DNS names.
type allowEntry struct {
	hostallow.Entry
	explicit bool // given by the operator rather than built in
	loopback bool
}

// allowSyntax is what --push-allow takes.
var allowSyntax = hostallow.Syntax{Give: "a host name, optionally with :port (e.g. push.example.com or 127.0.0.1:8443)"}

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
	if strings.TrimSpace(s) == "" {
		return allowEntry{}, errors.New("is empty; give a host name such as push.example.com")
	}
	e, err := hostallow.Parse(s, allowSyntax)
	if err != nil {
		return allowEntry{}, err
	}
	if e.Addr.IsValid() {
		return allowEntry{Entry: e, loopback: e.Addr.IsLoopback()}, nil
	}
	return allowEntry{Entry: e, loopback: e.Host == "localhost" && !e.Wildcard}, nil
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
	if port != "" && !hostallow.ValidPort(port) {
		return refuse(fmt.Sprintf("has an invalid port %q", port))
	}
	addr, ipErr := netip.ParseAddr(host)
	if ipErr != nil && !hostallow.ValidHostName(host, false) {
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
	if port != "" && port != hostallow.DefaultPort(u.Scheme) {
		return refuse(fmt.Sprintf("points at %s, a port no allowed push service uses", u.Host))
	}
	return refuse(fmt.Sprintf("points at %q, which is not a browser push service", host))
}

func (e *allowEntry) matchesHost(host string, addr netip.Addr, isIP bool) bool {
	if isIP {
		// An IP literal only ever matches an operator's explicit IP entry:
		// no built-in push service is addressed by IP.
		return e.Addr.IsValid() && e.Addr == addr.Unmap()
	}
	if e.Addr.IsValid() {
		return false
	}
	if e.Wildcard {
		return strings.HasSuffix(host, "."+e.Host)
	}
	return host == e.Host
}

func (e *allowEntry) matchesPort(scheme, port string) bool {
	if port == "" {
		port = hostallow.DefaultPort(scheme)
	}
	if e.Port == "" {
		return port == hostallow.DefaultPort(scheme)
	}
	return port == e.Port
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
