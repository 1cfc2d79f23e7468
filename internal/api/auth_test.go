package api

import (
	"crypto/tls"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestAddrKey(t *testing.T) {
	tests := []struct{ addr, want string }{
		{"192.0.2.7", "192.0.2.7"},
		{"2001:db8:1:2::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
		{"2001:db8:1:3::1", "2001:db8:1:3::/64"},
		{"::1", "::/64"},
		{"fe80::1%eth0", "fe80::/64"}, // the zone names an interface, not a host
		{"not an address", "not an address"},
	}
	for _, tt := range tests {
		if got := addrKey(tt.addr); got != tt.want {
			t.Errorf("addrKey(%q) = %q, want %q", tt.addr, got, tt.want)
		}
	}
}

func TestSameOrigin(t *testing.T) {
	proxy := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		why      string
		public   string
		trust    []netip.Prefix
		peer     string
		tls      bool
		host     string
		proto    string
		origin   string
		accepted bool
	}{
		{"the public URL", "https://obs.example", nil, "192.0.2.1:5", false, "obs.example", "", "https://obs.example", true},
		{"the public URL with its default port", "https://obs.example", nil, "192.0.2.1:5", false, "obs.example", "", "https://OBS.example:443", true},
		{"the public URL's host over http, reached through an untrusted TLS proxy", "https://obs.example", nil, "192.0.2.1:5", false, "obs.example", "", "http://obs.example", false},
		{"plain HTTP server, same Host", "http://192.168.1.20:3000", nil, "192.0.2.1:5", false, "localhost:3000", "", "http://localhost:3000", true},
		{"plain HTTP server, https Origin", "http://192.168.1.20:3000", nil, "192.0.2.1:5", false, "localhost:3000", "", "https://localhost:3000", false},
		{"TLS server, http Origin of its Host", "https://obs.example", nil, "192.0.2.1:5", true, "10.1.1.1:3000", "", "http://10.1.1.1:3000", false},
		{"TLS server, https Origin of its Host", "https://obs.example", nil, "192.0.2.1:5", true, "10.1.1.1:3000", "", "https://10.1.1.1:3000", true},
		{"trusted proxy says https", "https://obs.example", proxy, "10.0.0.2:5", false, "other.example", "https", "https://other.example", true},
		{"trusted proxy says https, http Origin", "https://obs.example", proxy, "10.0.0.2:5", false, "other.example", "https", "http://other.example", false},
		{"first proxy's scheme wins", "https://obs.example", proxy, "10.0.0.2:5", false, "other.example", "https, http", "https://other.example", true},
		{"untrusted peer says https", "https://obs.example", proxy, "192.0.2.1:5", false, "other.example", "https", "https://other.example", false},
		{"another site", "https://obs.example", nil, "192.0.2.1:5", false, "obs.example", "", "https://evil.example", false},
		{"a subdomain", "https://obs.example", nil, "192.0.2.1:5", false, "obs.example", "", "https://a.obs.example", false},
		{"no Origin", "https://obs.example", nil, "192.0.2.1:5", false, "obs.example", "", "", false},
		{"null Origin", "https://obs.example", nil, "192.0.2.1:5", false, "obs.example", "", "null", false},
		{"Origin with a path", "https://obs.example", nil, "192.0.2.1:5", false, "obs.example", "", "https://obs.example/x", false},
		{"Origin with credentials", "https://obs.example", nil, "192.0.2.1:5", false, "obs.example", "", "https://u@obs.example", false},
		{"opaque Origin", "https://obs.example", nil, "192.0.2.1:5", false, "obs.example", "", "https:obs.example", false},
	}
	for _, tt := range tests {
		t.Run(tt.why, func(t *testing.T) {
			s := &Server{opts: Options{PublicURL: tt.public, TrustProxy: tt.trust}}
			r := httptest.NewRequest("PATCH", "/api/v1/device", nil)
			r.RemoteAddr, r.Host = tt.peer, tt.host
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			if tt.proto != "" {
				r.Header.Set("X-Forwarded-Proto", tt.proto)
			}
			if tt.origin != "" {
				r.Header.Set("Origin", tt.origin)
			}
			if got := s.sameOrigin(r); got != tt.accepted {
				t.Fatalf("sameOrigin(Origin %q, Host %q) = %v, want %v", tt.origin, tt.host, got, tt.accepted)
			}
		})
	}
}

func TestBearer(t *testing.T) {
	tests := []struct{ header, want string }{
		{"Bearer abc", "abc"},
		{"bearer  abc ", "abc"},
		{"BEARER abc", "abc"},
		{"Bearer", ""},
		{"Bearer ", ""},
		{"Basic dXNlcjpwYXNz", ""},
		{"Bearerabc", ""},
		{"", ""},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		if tt.header != "" {
			r.Header.Set("Authorization", tt.header)
		}
		if got := bearer(r); got != tt.want {
			t.Errorf("bearer(%q) = %q, want %q", tt.header, got, tt.want)
		}
	}
}

func TestClientAddr(t *testing.T) {
	proxy := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		why   string
		trust []netip.Prefix
		peer  string
		xff   []string
		want  string
	}{
		{"no proxy: the peer, header ignored", nil, "192.0.2.1:5", []string{"198.51.100.1"}, "192.0.2.1"},
		{"untrusted peer: header ignored", proxy, "192.0.2.1:5", []string{"198.51.100.1"}, "192.0.2.1"},
		{"trusted proxy: the client it saw", proxy, "10.0.0.2:5", []string{"198.51.100.1"}, "198.51.100.1"},
		{"a forged leftmost hop is passed over", proxy, "10.0.0.2:5", []string{"203.0.113.9, 198.51.100.1"}, "198.51.100.1"},
		{"chained proxies", proxy, "10.0.0.2:5", []string{"198.51.100.1, 10.0.0.3", "10.0.0.4"}, "198.51.100.1"},
		{"hop with a port", proxy, "10.0.0.2:5", []string{"198.51.100.1:4711"}, "198.51.100.1"},
		{"IPv6 hop with a port", proxy, "10.0.0.2:5", []string{"[2001:db8::1]:4711"}, "2001:db8::1"},
		{"IPv4-mapped hop", proxy, "10.0.0.2:5", []string{"::ffff:198.51.100.1"}, "198.51.100.1"},
		{"garbage stops the walk at the proxy", proxy, "10.0.0.2:5", []string{"unknown"}, "10.0.0.2"},
	}
	for _, tt := range tests {
		t.Run(tt.why, func(t *testing.T) {
			s := &Server{opts: Options{TrustProxy: tt.trust}}
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.peer
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := s.clientAddr(r); got != tt.want {
				t.Fatalf("clientAddr = %q, want %q", got, tt.want)
			}
		})
	}
}
