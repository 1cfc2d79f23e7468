package hostallow

import (
	"net/netip"
	"testing"
)

func TestParse(t *testing.T) {
	strict := Syntax{Give: "a host"}
	loose := Syntax{Give: "a host or CIDR", CIDR: true, Underscore: true}
	tests := []struct {
		in   string
		syn  Syntax
		want Entry
		ok   bool
	}{
		{" Push.Example.com ", strict, Entry{Host: "push.example.com"}, true},
		{"push.example.com:8443", strict, Entry{Host: "push.example.com", Port: "8443"}, true},
		{"*.example.com", strict, Entry{Host: "example.com", Wildcard: true}, true},
		{"[::1]:9000", strict, Entry{Addr: netip.MustParseAddr("::1"), Prefix: netip.MustParsePrefix("::1/128"), Port: "9000"}, true},
		{"[::1]", strict, Entry{Addr: netip.MustParseAddr("::1"), Prefix: netip.MustParsePrefix("::1/128")}, true},
		{"::ffff:10.0.0.5", strict, Entry{Addr: netip.MustParseAddr("10.0.0.5"), Prefix: netip.MustParsePrefix("10.0.0.5/32")}, true},
		{"10.1.2.3/8", loose, Entry{Prefix: netip.MustParsePrefix("10.0.0.0/8")}, true},
		{"10.0.0.0/8", strict, Entry{}, false}, // no CIDRs there
		{"10.0.0.0/33", loose, Entry{}, false},
		{"my_ntfy.lan", loose, Entry{Host: "my_ntfy.lan"}, true},
		{"my_ntfy.lan", strict, Entry{}, false},
		{"https://x.example", loose, Entry{}, false},
		{"user@x.example", strict, Entry{}, false},
		{"x.example:0", strict, Entry{}, false},
		{"x.example:http", strict, Entry{}, false},
		{"[::1]x", strict, Entry{}, false},
		{"*.com", loose, Entry{}, false},
		{"a..b", loose, Entry{}, false},
		{"", strict, Entry{}, false},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in, tt.syn)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("Parse(%q, CIDR %v) = %+v, %v; want %+v (ok %v)", tt.in, tt.syn.CIDR, got, err, tt.want, tt.ok)
		}
	}
}

func TestValidPortAndDefault(t *testing.T) {
	for p, want := range map[string]bool{"1": true, "65535": true, "0": false, "65536": false, "080": false, "+80": false, "": false} {
		if ValidPort(p) != want {
			t.Errorf("ValidPort(%q) = %v", p, !want)
		}
	}
	if DefaultPort("http") != "80" || DefaultPort("https") != "443" {
		t.Error("default ports")
	}
}
