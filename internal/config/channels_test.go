package config

import (
	"bytes"
	"strings"
	"testing"
)

func TestChannelFlags(t *testing.T) {
	c, err := Parse([]string{"--database", "/var/lib/obs/data.db", "--smtp-url", "smtp://relay.example.com:587",
		"--smtp-from", "alerts@example.com", "--channel-allow", "hooks.internal:8080, 10.0.0.0/8"}, env(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.SMTPURL != "smtp://relay.example.com:587" || c.SMTPFrom != "alerts@example.com" || len(c.ChannelAllow) != 2 ||
		c.ChannelAllow[0] != "hooks.internal:8080" {
		t.Fatalf("channel settings %q %q %q", c.SMTPURL, c.SMTPFrom, c.ChannelAllow)
	}
	if c.KeyFile != "/var/lib/obs/data.db.key" {
		t.Errorf("key file %q; want the SQLite path + .key", c.KeyFile)
	}

	// The environment twins.
	c, err = Parse(nil, env(map[string]string{
		"OBSERVABLE_SMTP_URL": "smtps://u:p@mail.example.com:465", "OBSERVABLE_SMTP_FROM": "obs@example.com",
		"OBSERVABLE_CHANNEL_ALLOW": "127.0.0.1", "OBSERVABLE_KEY_FILE": "/etc/obs/channels.key",
	}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.SMTPURL == "" || c.SMTPFrom != "obs@example.com" || len(c.ChannelAllow) != 1 || c.KeyFile != "/etc/obs/channels.key" {
		t.Fatalf("from the environment: %q %q %q %q", c.SMTPURL, c.SMTPFrom, c.ChannelAllow, c.KeyFile)
	}

	// PostgreSQL has no default key file: every instance must be given the same one.
	if c, err = Parse([]string{"--database", "postgres://u@h/db"}, env(nil), &bytes.Buffer{}); err != nil || c.KeyFile != "" {
		t.Fatalf("on PostgreSQL: key file %q, %v; want none", c.KeyFile, err)
	}
}

// A bad channel setting stops the server at start, saying what to fix, and
// never quoting the SMTP URL's password.
func TestChannelFlagsRefused(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--smtp-url", "smtp://relay.example.com:587"}, "--smtp-from"},
		{[]string{"--smtp-from", "alerts@example.com"}, "--smtp-url"},
		{[]string{"--smtp-url", "ftp://user:hunter2@relay.example.com", "--smtp-from", "alerts@example.com"}, "--smtp-url"},
		{[]string{"--smtp-url", "smtp://relay.example.com:587", "--smtp-from", "not an address"}, "--smtp-from"},
		{[]string{"--channel-allow", "http://x/"}, "--channel-allow"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.args, env(nil), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v; want an error naming %s", tt.args, err, tt.want)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%q: the error quotes the password: %v", tt.args, err)
		}
	}
}
