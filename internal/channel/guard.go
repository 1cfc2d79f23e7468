package channel

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/observable-code/observable/internal/alerttext"
	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/hostallow"
)

// maxBody bounds what is read of any answer: a receiver's reply is only
// ever looked at for an error excerpt.
const maxBody = 64 << 10

// maxURLLen bounds a channel URL; real webhook URLs are under 200 bytes.
const maxURLLen = 2048

// DefaultTimeout bounds one delivery when Options.Timeout is 0.
const DefaultTimeout = 10 * time.Second

// Guard decides which hosts a channel may reach. A channel URL is a request
// the server makes on a paired phone's behalf: without the guard, any phone
// could make the server reach into its own network (a router's admin page,
// a cloud's metadata service at 169.254.169.254). Hosts the operator lists
// with --channel-allow may be loopback or private and may use plain http;
// every other destination must use https and is checked at connect time,
// after DNS, so that a name re-pointed after validation (DNS rebinding)
// gets no further.
type Guard struct {
	entries []hostallow.Entry
}

// allowSyntax is what --channel-allow takes. Unlike --push-allow, an entry
// without a port allows every port of the host (the operator names hosts
// they trust, not services), IPs may come as CIDRs, and names may hold '_'
// (containers and LAN hosts): see validHostName.
var allowSyntax = hostallow.Syntax{Give: "a host, host:port, *.domain, IP or CIDR (e.g. ntfy.lan, 127.0.0.1:2586, 10.0.0.0/8)",
	CIDR: true, Underscore: true}

// NewGuard reads --channel-allow entries: "host", "host:port", "*.domain",
// an IP ("10.0.0.5", "[::1]:8080", "127.0.0.1:2586") or a CIDR
// ("192.168.1.0/24").
func NewGuard(allow []string) (*Guard, error) {
	g := &Guard{}
	for _, raw := range allow {
		if strings.TrimSpace(raw) == "" {
			continue
		}
		e, err := hostallow.Parse(raw, allowSyntax)
		if err != nil {
			return nil, fmt.Errorf("--channel-allow entry %q: %w", raw, err)
		}
		g.entries = append(g.entries, e)
	}
	return g, nil
}

// validHostName is a channel's rule for a name, in a URL, an entry or an
// email address: a DNS name whose labels may hold '_' too.
func validHostName(h string) bool { return hostallow.ValidHostName(h, true) }

// allowedHost reports whether the URL host (name or IP literal) and port
// are on the operator's list.
func (g *Guard) allowedHost(host, port string) bool {
	host = strings.ToLower(host)
	addr, ipErr := netip.ParseAddr(host)
	for _, e := range g.entries {
		if e.Port != "" && e.Port != port {
			continue
		}
		switch {
		case e.Prefix.IsValid():
			if ipErr == nil && e.Prefix.Contains(addr.Unmap()) {
				return true
			}
		case ipErr == nil:
		case e.Wildcard:
			if strings.HasSuffix(host, "."+e.Host) {
				return true
			}
		case host == e.Host:
			return true
		}
	}
	return false
}

// allowedAddr reports whether a resolved address is covered by an IP or
// CIDR entry.
func (g *Guard) allowedAddr(a netip.Addr, port string) bool {
	for _, e := range g.entries {
		if e.Prefix.IsValid() && (e.Port == "" || e.Port == port) && e.Prefix.Contains(a) {
			return true
		}
	}
	return false
}

// CheckURL is the static check of a channel URL, made when it is saved and
// before each request: an absolute http(s) URL without user info, https
// unless its host is allowed, no literal IP that refusedAddr refuses. The
// error is a *domain.Error (EInvalidChannel or EChannelRefused) that never
// repeats the URL: its path is the secret.
func (g *Guard) CheckURL(raw string) error { return g.checkURL(raw, true) }

// checkURL is CheckURL; byName also refuses the names that are loopback by
// definition ("localhost"), a courtesy when a channel is saved. Requests
// skip it: the connect-time check refuses whatever a name resolves to.
func (g *Guard) checkURL(raw string, byName bool) error {
	invalid := func(msg string) error { return domain.Errorf(domain.EInvalidChannel, "%s", msg) }
	if raw == "" {
		return invalid("the URL is missing")
	}
	if len(raw) > maxURLLen {
		return invalid(fmt.Sprintf("the URL is %d bytes long; the limit is %d", len(raw), maxURLLen))
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return invalid("the URL must be an absolute https:// URL")
	}
	if u.User != nil {
		return invalid("the URL must not carry a user name or password")
	}
	if u.Fragment != "" || u.RawFragment != "" {
		return invalid("the URL must not have a #fragment")
	}
	host, port := strings.ToLower(u.Hostname()), portOf(u)
	if u.Port() != "" && !hostallow.ValidPort(u.Port()) {
		return invalid("the URL has an invalid port")
	}
	addr, ipErr := netip.ParseAddr(host)
	if ipErr != nil && !validHostName(host) {
		return invalid(fmt.Sprintf("the URL has an invalid host name %q", alerttext.Clip(alerttext.Clean(host), 80)))
	}
	if ipErr == nil && addr.Zone() != "" {
		return invalid("the URL's IP address must not have a zone")
	}
	if g.allowedHost(host, port) {
		return nil
	}
	if u.Scheme != "https" {
		return domain.Errorf(domain.EChannelRefused, "the URL must use https (plain http only for hosts the server's operator allows with --channel-allow)")
	}
	if ipErr == nil {
		if why := refusedAddr(addr); why != "" {
			return domain.Errorf(domain.EChannelRefused, "the URL points at %s, %s; ask the server's operator to allow it with --channel-allow", addr.Unmap(), why)
		}
	}
	if byName && (host == "localhost" || strings.HasSuffix(host, ".localhost")) {
		return domain.Errorf(domain.EChannelRefused, "the URL points at %s, a loopback host; ask the server's operator to allow it with --channel-allow", host)
	}
	return nil
}

func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	return hostallow.DefaultPort(u.Scheme)
}

// hostOf is what error messages and logs show of a channel URL: the host
// (with its port), never the path, which is the secret.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(invalid URL)"
	}
	return u.Host
}

// special ranges refusedAddr names. Checked after unmapping and after
// taking the IPv4 address out of NAT64 and 6to4 forms.
var special = []struct {
	prefix netip.Prefix
	why    string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "an unspecified (\"this network\") address"},
	{netip.MustParsePrefix("10.0.0.0/8"), "a private address"},
	{netip.MustParsePrefix("100.64.0.0/10"), "a shared (carrier-grade NAT) address"},
	{netip.MustParsePrefix("127.0.0.0/8"), "a loopback address"},
	{netip.MustParsePrefix("169.254.0.0/16"), "a link-local address (where cloud metadata services live)"},
	{netip.MustParsePrefix("172.16.0.0/12"), "a private address"},
	{netip.MustParsePrefix("192.0.0.0/24"), "a reserved address"},
	{netip.MustParsePrefix("192.0.2.0/24"), "a documentation address"},
	{netip.MustParsePrefix("192.88.99.0/24"), "a reserved address"},
	{netip.MustParsePrefix("192.168.0.0/16"), "a private address"},
	{netip.MustParsePrefix("198.18.0.0/15"), "a benchmarking address"},
	{netip.MustParsePrefix("198.51.100.0/24"), "a documentation address"},
	{netip.MustParsePrefix("203.0.113.0/24"), "a documentation address"},
	{netip.MustParsePrefix("224.0.0.0/4"), "a multicast address"},
	{netip.MustParsePrefix("240.0.0.0/4"), "a reserved or broadcast address"},
	{netip.MustParsePrefix("::/128"), "an unspecified address"},
	{netip.MustParsePrefix("::1/128"), "a loopback address"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "a local NAT64 address"},
	{netip.MustParsePrefix("100::/64"), "a discard address"},
	{netip.MustParsePrefix("2001:db8::/32"), "a documentation address"},
	{netip.MustParsePrefix("fc00::/7"), "a private (unique local) address"},
	{netip.MustParsePrefix("fe80::/10"), "a link-local address"},
	{netip.MustParsePrefix("fec0::/10"), "a site-local address"},
	{netip.MustParsePrefix("ff00::/8"), "a multicast address"},
}

var (
	nat64  = netip.MustParsePrefix("64:ff9b::/96")
	sixTo4 = netip.MustParsePrefix("2002::/16")
	compat = netip.MustParsePrefix("::/96") // IPv4-compatible, deprecated but still routed by some stacks
)

// refusedAddr says why a channel may not reach a, or "" when it may: the
// address is public.
func refusedAddr(a netip.Addr) string {
	a = a.WithZone("").Unmap()
	for _, s := range special {
		if s.prefix.Contains(a) {
			return s.why
		}
	}
	if a.Is6() {
		b := a.As16()
		switch {
		case nat64.Contains(a), compat.Contains(a):
			a = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
		case sixTo4.Contains(a):
			a = netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]})
		}
	}
	for _, s := range special {
		if s.prefix.Contains(a) {
			return s.why
		}
	}
	return ""
}

// refusedError is the connect-time refusal: the name resolved to an address
// the guard refuses. Senders report it as it is, and as permanent.
type refusedError struct {
	host string
	addr netip.Addr
	why  string
}

func (e *refusedError) Error() string {
	return fmt.Sprintf("%s resolves to %s, %s; ask the server's operator to allow it with --channel-allow", e.host, e.addr, e.why)
}

// redirectError is a redirect the client did not follow.
type redirectError struct{ msg string }

func (e *redirectError) Error() string { return e.msg }

// maxRedirects bounds the hops of one request, all on the same host.
const maxRedirects = 5

// Client is an HTTP client for channel requests: every request is checked
// with CheckURL, every connection after DNS (unless its host is allowed),
// redirects are followed on the same host only (and checked again), proxy
// settings are ignored (the proxy would make the connection, out of the
// guard's sight), answers are cut at 64 KiB, and the whole exchange is
// bounded by timeout.
func (g *Guard) Client(timeout time.Duration) *http.Client {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           g.dial,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Transport: &guardedTransport{g: g, next: tr},
		Timeout:   timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			first := via[0].URL
			if !strings.EqualFold(req.URL.Hostname(), first.Hostname()) || portOf(req.URL) != portOf(first) {
				return &redirectError{fmt.Sprintf("%s redirected to another host (%s); not followed: use the final URL", first.Host, req.URL.Host)}
			}
			if len(via) > maxRedirects {
				return &redirectError{fmt.Sprintf("%s redirected more than %d times; not followed", first.Host, maxRedirects)}
			}
			return nil // the transport checks the new URL
		},
	}
}

// guardedTransport checks each request's URL (first and every redirect) and
// cuts every answer's body.
type guardedTransport struct {
	g    *Guard
	next http.RoundTripper
}

func (t *guardedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.g.checkURL(req.URL.String(), false); err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitedBody{r: io.LimitReader(resp.Body, maxBody), c: resp.Body}
	return resp, nil
}

type limitedBody struct {
	r io.Reader
	c io.Closer
}

func (b *limitedBody) Read(p []byte) (int, error) { return b.r.Read(p) }
func (b *limitedBody) Close() error               { return b.c.Close() }

// dial connects to addr ("host:port" of the URL, before DNS). For a host
// on the allow list it dials as is; otherwise every address the name
// resolves to is checked as the socket is about to connect.
func (g *Guard) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	d := &net.Dialer{Timeout: DefaultTimeout, KeepAlive: 30 * time.Second}
	if !g.allowedHost(host, port) {
		d.Control = func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return err
			}
			a := ap.Addr().Unmap()
			if g.allowedAddr(a, port) {
				return nil
			}
			if why := refusedAddr(a); why != "" {
				return &refusedError{host: host, addr: a, why: why}
			}
			return nil
		}
	}
	return d.DialContext(ctx, network, addr)
}
