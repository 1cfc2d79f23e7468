package push

import (
	"strings"
	"testing"
)

func TestCheckEndpoint(t *testing.T) {
	l, err := newAllowList([]string{"127.0.0.1:8443", "push.example.net", "*.corp.example", "[::1]:9000", "localhost:7000", "10.0.0.5"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		endpoint string
		ok       bool
		says     string // part of the refusal
	}{
		{"https://fcm.googleapis.com/fcm/send/abc:APA91b", true, ""},
		{"https://android.googleapis.com/gcm/send/abc", true, ""},
		{"https://updates.push.services.mozilla.com/wpush/v2/gAAAA", true, ""},
		{"https://push.services.mozilla.com/wpush/v2/x", false, "not a browser push service"},
		{"https://eu.push.services.mozilla.com/wpush/v2/x", true, ""},
		{"https://web.push.apple.com/QGx", true, ""},
		{"https://api.push.apple.com/x", true, ""},
		{"https://wns2-by3p.notify.windows.com/w/?token=x", true, ""},
		{"https://FCM.GoogleAPIs.com/fcm/send/x", true, ""},
		{"https://fcm.googleapis.com:443/fcm/send/x", true, ""},
		{"https://fcm.googleapis.com:8443/fcm/send/x", false, "port"},
		{"http://fcm.googleapis.com/fcm/send/x", false, "https"},
		{"https://fcm.googleapis.com.evil.example/x", false, "not a browser push service"},
		{"https://evilfcm.googleapis.com/x", false, "not a browser push service"},
		{"https://notify.windows.com/x", false, "not a browser push service"},
		{"https://user:pw@fcm.googleapis.com/x", false, "user name"},
		{"https://fcm.googleapis.com@evil.example/x", false, "user name"},
		{"https://fcm.googleapis.com./x", false, "invalid host"},
		{"https://fcm.googleapis.com/x#frag", false, "fragment"},
		{"https://8.8.8.8/x", false, "IP address"},
		{"https://[2001:db8::1]/x", false, "IP address"},
		{"https://169.254.169.254/latest/meta-data", false, "IP address"},
		{"ftp://fcm.googleapis.com/x", false, "https://"},
		{"fcm.googleapis.com/x", false, "https://"},
		{"mailto:fcm.googleapis.com", false, "https://"},
		{"", false, "missing"},
		{"https://fcm.googleapis.com/" + strings.Repeat("a", maxEndpointLen), false, "limit"},
		{"https://fcm.goo%67leapis.com/x", false, ""},
		// Operator's entries.
		{"http://127.0.0.1:8443/push/1", true, ""},
		{"https://127.0.0.1:8443/push/1", true, ""},
		{"http://127.0.0.1:8444/push/1", false, "IP address"},
		{"http://127.0.0.1/push/1", false, "IP address"},
		{"http://[::1]:9000/p", true, ""},
		{"http://localhost:7000/p", true, ""},
		{"http://localhost:7001/p", false, "port"},
		{"https://push.example.net/p", true, ""},
		{"http://push.example.net/p", false, "https"},
		{"https://push.example.net:444/p", false, "port"},
		{"https://a.b.corp.example/p", true, ""},
		{"https://corp.example/p", false, "not a browser push service"},
		{"https://10.0.0.5/p", true, ""},
		{"http://10.0.0.5/p", false, "https"}, // http only for loopback
		{"https://10.0.0.6/p", false, "IP address"},
	}
	for _, tt := range tests {
		t.Run(tt.endpoint, func(t *testing.T) {
			err := l.check(tt.endpoint)
			if tt.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.says) || !strings.Contains(msg, "fcm.googleapis.com") || !strings.Contains(msg, "--push-allow") {
				t.Fatalf("refusal %q should say %q, list the allowed hosts and mention --push-allow", msg, tt.says)
			}
		})
	}
}

func TestAllowEntries(t *testing.T) {
	tests := []struct {
		entry string
		ok    bool
	}{
		{"push.example.com", true},
		{" Push.Example.com ", true},
		{"push.example.com:8443", true},
		{"*.example.com", true},
		{"127.0.0.1:9000", true},
		{"[::1]:9000", true},
		{"[::1]", true},
		{"::1", true},
		{"https://push.example.com", false},
		{"push.example.com/path", false},
		{"user@push.example.com", false},
		{"push.example.com:0", false},
		{"push.example.com:99999", false},
		{"push.example.com:http", false},
		{"*.com", false},
		{"*", false},
		{"", false},
		{"bad_host.example", false},
	}
	for _, tt := range tests {
		_, err := newAllowList([]string{tt.entry})
		if (err == nil) != tt.ok {
			t.Errorf("entry %q: err = %v, want ok=%v", tt.entry, err, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "--push-allow") {
			t.Errorf("entry %q: error %q does not name --push-allow", tt.entry, err)
		}
	}
}
