package channel

import (
	"strings"
	"testing"

	"github.com/observable-code/observable/internal/domain"
)

func TestValidateAccepts(t *testing.T) {
	g, _ := NewGuard([]string{"127.0.0.1:2586", "slack.lan"})
	for _, tc := range []struct {
		typ  string
		in   domain.ChannelSecrets
		want domain.ChannelSecrets
	}{
		{domain.ChannelWebhook, domain.ChannelSecrets{URL: " https://hooks.example.com/in/abc "}, domain.ChannelSecrets{URL: "https://hooks.example.com/in/abc"}},
		{domain.ChannelWebhook, domain.ChannelSecrets{URL: "http://127.0.0.1:2586/hook", Secret: "0123456789abcdef"}, domain.ChannelSecrets{URL: "http://127.0.0.1:2586/hook", Secret: "0123456789abcdef"}},
		{domain.ChannelSlack, domain.ChannelSecrets{URL: "https://hooks.slack.com/services/T0/B0/XXXX"}, domain.ChannelSecrets{URL: "https://hooks.slack.com/services/T0/B0/XXXX"}},
		{domain.ChannelSlack, domain.ChannelSecrets{URL: "http://slack.lan/anything"}, domain.ChannelSecrets{URL: "http://slack.lan/anything"}},
		{domain.ChannelDiscord, domain.ChannelSecrets{URL: "https://discord.com/api/webhooks/1/tok"}, domain.ChannelSecrets{URL: "https://discord.com/api/webhooks/1/tok"}},
		{domain.ChannelDiscord, domain.ChannelSecrets{URL: "https://discordapp.com/api/webhooks/1/tok"}, domain.ChannelSecrets{URL: "https://discordapp.com/api/webhooks/1/tok"}},
		{domain.ChannelNtfy, domain.ChannelSecrets{Topic: "my-alerts_1"}, domain.ChannelSecrets{Server: "https://ntfy.sh", Topic: "my-alerts_1"}},
		{domain.ChannelNtfy, domain.ChannelSecrets{Server: "http://127.0.0.1:2586/", Topic: "t", Token: "tk_abcdefghijklmnopqrstuvwxyz012"}, domain.ChannelSecrets{Server: "http://127.0.0.1:2586", Topic: "t", Token: "tk_abcdefghijklmnopqrstuvwxyz012"}},
		{domain.ChannelEmail, domain.ChannelSecrets{Address: " Ann.Lee@Example.COM "}, domain.ChannelSecrets{Address: "Ann.Lee@example.com"}},
	} {
		got, err := Validate(tc.typ, tc.in, g, true)
		if err != nil || got != tc.want {
			t.Errorf("Validate(%s, %+v) = %+v, %v; want %+v", tc.typ, tc.in, got, err, tc.want)
		}
	}
}

func TestValidateRefuses(t *testing.T) {
	g, _ := NewGuard([]string{"127.0.0.1:2586"})
	long := strings.Repeat("a", 250) + "@example.com"
	for _, tc := range []struct {
		typ         string
		in          domain.ChannelSecrets
		code, field string
	}{
		{"sms", domain.ChannelSecrets{}, domain.EInvalidChannel, "type"},
		{domain.ChannelWebhook, domain.ChannelSecrets{}, domain.EInvalidChannel, "url"},
		{domain.ChannelWebhook, domain.ChannelSecrets{URL: "http://hooks.example.com/x"}, domain.EChannelRefused, "url"},
		{domain.ChannelWebhook, domain.ChannelSecrets{URL: "https://10.1.2.3/x"}, domain.EChannelRefused, "url"},
		{domain.ChannelWebhook, domain.ChannelSecrets{URL: "https://[::1]/x"}, domain.EChannelRefused, "url"},
		{domain.ChannelWebhook, domain.ChannelSecrets{URL: "https://u:p@hooks.example.com/x"}, domain.EInvalidChannel, "url"},
		{domain.ChannelWebhook, domain.ChannelSecrets{URL: "https://hooks.example.com/x", Secret: "short"}, domain.EInvalidChannel, "secret"},
		{domain.ChannelWebhook, domain.ChannelSecrets{URL: "https://hooks.example.com/x", Secret: "has spaces in it, sixteen+"}, domain.EInvalidChannel, "secret"},
		{domain.ChannelWebhook, domain.ChannelSecrets{URL: "https://hooks.example.com/x", Topic: "t"}, domain.EInvalidChannel, "topic"},
		{domain.ChannelSlack, domain.ChannelSecrets{}, domain.EInvalidChannel, "url"},
		{domain.ChannelSlack, domain.ChannelSecrets{URL: "https://hooks.example.com/services/x"}, domain.EInvalidChannel, "url"},
		{domain.ChannelSlack, domain.ChannelSecrets{URL: "https://hooks.slack.com/other/x"}, domain.EInvalidChannel, "url"},
		{domain.ChannelSlack, domain.ChannelSecrets{URL: "http://hooks.slack.com/services/x"}, domain.EChannelRefused, "url"},
		{domain.ChannelSlack, domain.ChannelSecrets{URL: "https://hooks.slack.com/services/x", Secret: "0123456789abcdef"}, domain.EInvalidChannel, "secret"},
		{domain.ChannelDiscord, domain.ChannelSecrets{URL: "https://discord.com/channels/1/2"}, domain.EInvalidChannel, "url"},
		{domain.ChannelDiscord, domain.ChannelSecrets{URL: "https://discord.evil.com/api/webhooks/1/2"}, domain.EInvalidChannel, "url"},
		{domain.ChannelDiscord, domain.ChannelSecrets{URL: "https://discord.com/api/webhooks/1/2", Address: "a@b.co"}, domain.EInvalidChannel, "address"},
		{domain.ChannelNtfy, domain.ChannelSecrets{}, domain.EInvalidChannel, "topic"},
		{domain.ChannelNtfy, domain.ChannelSecrets{Topic: "has space"}, domain.EInvalidChannel, "topic"},
		{domain.ChannelNtfy, domain.ChannelSecrets{Topic: strings.Repeat("t", 65)}, domain.EInvalidChannel, "topic"},
		{domain.ChannelNtfy, domain.ChannelSecrets{Topic: "ok", Server: "http://ntfy.example.com"}, domain.EChannelRefused, "server"},
		{domain.ChannelNtfy, domain.ChannelSecrets{Topic: "ok", Server: "https://192.168.1.2"}, domain.EChannelRefused, "server"},
		{domain.ChannelNtfy, domain.ChannelSecrets{Topic: "ok", Server: "https://ntfy.example.com/?x=1"}, domain.EInvalidChannel, "server"},
		{domain.ChannelNtfy, domain.ChannelSecrets{Topic: "ok", Token: "tk with space"}, domain.EInvalidChannel, "token"},
		{domain.ChannelNtfy, domain.ChannelSecrets{Topic: "ok", URL: "https://ntfy.sh/ok"}, domain.EInvalidChannel, "url"},
		{domain.ChannelEmail, domain.ChannelSecrets{}, domain.EInvalidChannel, "address"},
		{domain.ChannelEmail, domain.ChannelSecrets{Address: "Ann <ann@example.com>"}, domain.EInvalidChannel, "address"},
		{domain.ChannelEmail, domain.ChannelSecrets{Address: "<ann@example.com>"}, domain.EInvalidChannel, "address"},
		{domain.ChannelEmail, domain.ChannelSecrets{Address: "ann@example.com, bob@example.com"}, domain.EInvalidChannel, "address"},
		{domain.ChannelEmail, domain.ChannelSecrets{Address: "ann@[127.0.0.1]"}, domain.EInvalidChannel, "address"},
		{domain.ChannelEmail, domain.ChannelSecrets{Address: "ann@localhost"}, domain.EInvalidChannel, "address"},
		{domain.ChannelEmail, domain.ChannelSecrets{Address: "ann@example.com\r\nBcc: x@y.z"}, domain.EInvalidChannel, "address"},
		{domain.ChannelEmail, domain.ChannelSecrets{Address: long}, domain.EInvalidChannel, "address"},
		{domain.ChannelEmail, domain.ChannelSecrets{Address: "ann@example.com", URL: "https://x.example/"}, domain.EInvalidChannel, "url"},
	} {
		_, err := Validate(tc.typ, tc.in, g, true)
		e, ok := domain.AsError(err)
		if !ok || e.Code != tc.code || e.Field != tc.field || e.Message == "" {
			t.Errorf("Validate(%s, %+v) = %#v, want code %s field %s", tc.typ, tc.in, err, tc.code, tc.field)
			continue
		}
		for _, secret := range []string{"/x", "/services/x", "tk with", "/api/webhooks/1/2"} {
			if strings.Contains(e.Message, secret) {
				t.Errorf("Validate(%s): the message repeats the secret %q: %s", tc.typ, secret, e.Message)
			}
		}
	}
	_, err := Validate(domain.ChannelEmail, domain.ChannelSecrets{Address: "ann@example.com"}, g, false)
	if e, ok := domain.AsError(err); !ok || e.Code != domain.EEmailUnavailable || !strings.Contains(e.Message, "--smtp-url") {
		t.Errorf("email without --smtp-url: %v", err)
	}
}

func TestMaskHidesSecrets(t *testing.T) {
	slack := "https://hooks.slack.com/services/T0123ABCD/B0456EFGH/AbCdEfGhIjKlMnOpXy9Q"
	got := Mask(domain.ChannelSlack, domain.ChannelSecrets{URL: slack})
	if got["url"] != "https://hooks.slack.com/…Xy9Q" {
		t.Errorf("Mask(slack) = %q", got)
	}
	for _, tc := range []struct {
		typ     string
		sec     domain.ChannelSecrets
		secrets []string // none may show in the mask, but for their last 4
		plain   map[string]string
	}{
		{domain.ChannelSlack, domain.ChannelSecrets{URL: slack}, []string{"/services/T0123ABCD/B0456EFGH/AbCdEfGhIjKlMnOpXy9Q"}, nil},
		{domain.ChannelDiscord, domain.ChannelSecrets{URL: "https://discord.com/api/webhooks/123456789/tokentokentoken"}, []string{"/api/webhooks/123456789/tokentokentoken"}, nil},
		{domain.ChannelWebhook, domain.ChannelSecrets{URL: "https://hooks.example.com/a", Secret: "abcdefghijklmnopqrstuvwxyz"}, []string{"/a", "abcdefghijklmnopqrstuvwxyz"}, nil},
		{domain.ChannelNtfy, domain.ChannelSecrets{Server: "https://ntfy.sh", Topic: "alerts-of-mine-42", Token: "tk_zyxwvutsrqponmlkji"}, []string{"alerts-of-mine-42", "tk_zyxwvutsrqponmlkji"}, map[string]string{"server": "https://ntfy.sh"}},
		{domain.ChannelNtfy, domain.ChannelSecrets{Server: "https://ntfy.sh", Topic: "short"}, []string{"short"}, map[string]string{"server": "https://ntfy.sh"}},
		{domain.ChannelEmail, domain.ChannelSecrets{Address: "ann@example.com"}, nil, map[string]string{"address": "ann@example.com"}},
	} {
		m := Mask(tc.typ, tc.sec)
		for k, v := range tc.plain {
			if m[k] != v {
				t.Errorf("Mask(%s)[%s] = %q, want %q", tc.typ, k, m[k], v)
			}
		}
		for k, v := range m {
			for _, s := range tc.secrets {
				// No 5 characters in a row of the secret: at most its last 4.
				for i := 0; i+5 <= len(s); i++ {
					if strings.Contains(v, s[i:i+5]) {
						t.Errorf("Mask(%s)[%s] = %q shows %q of the secret %q", tc.typ, k, v, s[i:i+5], s)
						break
					}
				}
			}
		}
		if tc.typ == domain.ChannelNtfy && tc.sec.Topic == "short" && m["topic"] != "…" {
			t.Errorf("a short topic is shown as %q", m["topic"])
		}
	}
}
