package config

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestDefaults(t *testing.T) {
	c, err := Parse(nil, env(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != ":3000" || c.Database != "observable.db" || c.MaxBodyBytes != 1<<20 || c.MaxBatchEvents != 500 ||
		c.SessionRate != 1000 || c.SessionBurst != 10000 || c.SessionsPerMinute != 10 ||
		c.PairingTTL != 10*time.Minute || c.Retention != 30*24*time.Hour || c.Heartbeat != 25*time.Second ||
		c.MaxDevicesPerSession != 20 {
		t.Fatalf("defaults = %+v", c)
	}
	if !strings.HasPrefix(c.PublicURL, "http://") || !strings.HasSuffix(c.PublicURL, ":3000") {
		t.Fatalf("default public URL = %q", c.PublicURL)
	}
}

func TestEnvironmentAndFlags(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(c Config) bool
	}{
		{"env sets listen", nil, map[string]string{"OBSERVABLE_LISTEN": "127.0.0.1:4000"}, func(c Config) bool { return c.Listen == "127.0.0.1:4000" }},
		{"flag wins over env", []string{"--listen", ":5000"}, map[string]string{"OBSERVABLE_LISTEN": ":4000"}, func(c Config) bool { return c.Listen == ":5000" }},
		{"database from env", nil, map[string]string{"OBSERVABLE_DATABASE": "postgres://u@h/db"}, func(c Config) bool { return c.IsPostgres() }},
		{"public url from env, trailing slash dropped", nil, map[string]string{"OBSERVABLE_PUBLIC_URL": "https://obs.example.com/"}, func(c Config) bool {
			return c.PublicURL == "https://obs.example.com" && len(c.Warnings) == 0
		}},
		{"loopback public url warns", []string{"--public-url", "http://127.0.0.1:3000"}, nil, func(c Config) bool { return len(c.Warnings) == 1 }},
		{"loopback listen gives loopback url and warns", []string{"--listen", "127.0.0.1:3999"}, nil, func(c Config) bool {
			return c.PublicURL == "http://127.0.0.1:3999" && len(c.Warnings) == 1
		}},
		{"tls domain gives https url on :443", []string{"--tls-domain", "obs.example.com"}, nil, func(c Config) bool {
			return c.PublicURL == "https://obs.example.com" && c.Listen == ":443"
		}},
		{"tls domain keeps an explicit listen", []string{"--tls-domain", "obs.example.com", "--listen", ":8443"}, nil, func(c Config) bool { return c.Listen == ":8443" }},
		{"limits", []string{"--max-body-bytes", "2048", "--session-rate", "0", "--sessions-per-minute", "0"}, nil, func(c Config) bool {
			return c.MaxBodyBytes == 2048 && c.SessionRate == 0 && c.SessionsPerMinute == 0
		}},
		{"trust proxy", []string{"--trust-proxy", "10.0.0.0/8, 192.168.1.1"}, nil, func(c Config) bool {
			return len(c.TrustProxy) == 2 && c.TrustProxy[1].Bits() == 32
		}},
		{"push allow", nil, map[string]string{"OBSERVABLE_PUSH_ALLOW": "push.example.com, other.example"}, func(c Config) bool { return len(c.PushAllow) == 2 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(tt.args, env(tt.env), &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Fatalf("config = %+v", c)
			}
		})
	}
}

func TestBadSettings(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"bad env value names the variable", nil, map[string]string{"OBSERVABLE_MAX_BATCH_EVENTS": "many"}, "$OBSERVABLE_MAX_BATCH_EVENTS"},
		{"listen without port", []string{"--listen", "localhost"}, nil, "want host:port"},
		{"public url without scheme", []string{"--public-url", "obs.example.com"}, nil, "http:// or https://"},
		{"half of tls", []string{"--tls-cert", "c.pem"}, nil, "go together"},
		{"burst below batch", []string{"--session-burst", "10"}, nil, "--session-burst"},
		{"heartbeat over 30s", []string{"--heartbeat", "45s"}, nil, "30 s"},
		// The worst silence is the heartbeat itself: a margin is kept.
		{"heartbeat of 30s", []string{"--heartbeat", "30s"}, nil, "1s to 28s"},
		{"heartbeat of 29s", []string{"--heartbeat", "29s"}, nil, "1s to 28s"},
		{"heartbeat just over 28s", []string{"--heartbeat", "28001ms"}, nil, "1s to 28s"},
		{"negative device cap", []string{"--max-devices-per-session", "-1"}, nil, "--max-devices-per-session"},
		{"push contact", []string{"--push-contact", "me@example.com"}, nil, "mailto:"},
		{"stray argument", []string{"serve"}, nil, "unexpected argument"},
		{"bad proxy", []string{"--trust-proxy", "nope"}, nil, "--trust-proxy"},
		{"negative rate", []string{"--session-rate", "-1"}, nil, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.args, env(tt.env), &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v; want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestHelpListsEveryFlagWithItsVariable(t *testing.T) {
	var out bytes.Buffer
	_, err := Parse([]string{"--help"}, env(nil), &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{"--listen", "(default :3000)", "$OBSERVABLE_LISTEN", "--database", "$OBSERVABLE_DATABASE",
		"--public-url", "$OBSERVABLE_PUBLIC_URL", "--max-body-bytes", "(default 1048576)", "--retention", "(default 720h0m0s)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, out.String())
		}
	}
}

// TestHeartbeatMargin: the longest --heartbeat accepted keeps a margin
// under the contract's 30 s.
func TestHeartbeatMargin(t *testing.T) {
	if MaxHeartbeat > 28*time.Second {
		t.Fatalf("MaxHeartbeat = %v: a stream's worst silence is the heartbeat itself, keep 2 s under 30 s", MaxHeartbeat)
	}
	for _, v := range []string{"1s", "25s", "28s"} {
		c, err := Parse([]string{"--heartbeat", v}, env(nil), &bytes.Buffer{})
		if d, _ := time.ParseDuration(v); err != nil || c.Heartbeat != d {
			t.Fatalf("--heartbeat %s: %v, %v", v, c.Heartbeat, err)
		}
	}
	c, err := Parse([]string{"--max-devices-per-session", "0"}, env(nil), &bytes.Buffer{})
	if err != nil || c.MaxDevicesPerSession != 0 {
		t.Fatalf("--max-devices-per-session 0 (no limit): %v, %v", c.MaxDevicesPerSession, err)
	}
}
