// Package hostallow reads the entries of the server's outbound allow-lists
// (--push-allow, --channel-allow) and holds the checks of the host names
// and ports they, and the URLs matched against them, are made of. What an
// entry allows (which ports, which schemes, whether an address is refused)
// is each list's own.
package hostallow

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Entry is one allow-list entry.
type Entry struct {
	Host     string // a host name in lower case; for a wildcard, the part after "*."; "" for an address
	Wildcard bool
	Addr     netip.Addr   // an IP literal, unmapped; invalid for a name or a CIDR
	Prefix   netip.Prefix // the IP literal as a /32 or /128, or a CIDR
	Port     string       // "" when the entry names none: what that allows is the list's rule
}

// Syntax is what a list takes besides "host", "host:port", "*.domain" and
// IP literals ("10.0.0.5", "[::1]:8080").
type Syntax struct {
	// Give is the hint of the error for an entry that looks like a URL,
	// as in "give <Give>, not a URL".
	Give string
	// CIDR: the list takes "10.0.0.0/8".
	CIDR bool
	// Underscore: host names may have '_' (see ValidHostName).
	Underscore bool
}

// Parse reads one entry, trimmed and lower-cased. An empty one is the
// list's to refuse or skip.
func Parse(s string, syn Syntax) (Entry, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	notURL := errors.New("give " + syn.Give + ", not a URL")
	if strings.ContainsAny(s, "@?#") || strings.Contains(s, "://") || (!syn.CIDR && strings.Contains(s, "/")) {
		return Entry{}, notURL
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return Entry{}, errors.New("is not a valid CIDR (e.g. 10.0.0.0/8 or fd00::/8)")
		}
		return Entry{Prefix: p.Masked()}, nil
	}
	host, port := s, ""
	if strings.HasPrefix(s, "[") || strings.Count(s, ":") == 1 {
		h, p, err := net.SplitHostPort(s)
		switch {
		case err == nil:
			host, port = h, p
		case strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]"):
			host = strings.Trim(s, "[]")
		default:
			return Entry{}, errors.New("is not host:port; give " + syn.Give)
		}
		if port != "" && !ValidPort(port) {
			return Entry{}, fmt.Errorf("port %q must be a number from 1 to 65535", port)
		}
	}
	if a, err := netip.ParseAddr(host); err == nil {
		a = a.Unmap()
		return Entry{Addr: a, Prefix: netip.PrefixFrom(a, a.BitLen()), Port: port}, nil
	}
	e := Entry{Host: host, Port: port}
	if rest, ok := strings.CutPrefix(host, "*."); ok {
		e.Host, e.Wildcard = rest, true
	}
	if !ValidHostName(e.Host, syn.Underscore) || (e.Wildcard && !strings.Contains(e.Host, ".")) {
		return Entry{}, errors.New("is not a valid host name (letters, digits, '-' and '.'; a wildcard must look like *.example.com)")
	}
	return e, nil
}

// ValidPort accepts a port number as a URL writes it: 1 to 65535, no
// leading zeros or sign.
func ValidPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535 && strconv.Itoa(n) == p
}

// ValidHostName accepts plain DNS names only, in lower case: no trailing
// dot, no percent-encoding, no empty labels. underscore lets labels hold
// '_' too, as names of containers and LAN hosts do ("my_ntfy.lan"); no
// public push service has one.
func ValidHostName(h string, underscore bool) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || underscore && c == '_') {
				return false
			}
		}
	}
	return true
}

// DefaultPort is the port of a URL of scheme that names none.
func DefaultPort(scheme string) string {
	if scheme == "http" {
		return "80"
	}
	return "443"
}
