package channel

import (
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/observable-code/observable/internal/domain"
)

// DefaultNtfyServer is the ntfy server of a channel that names none.
const DefaultNtfyServer = "https://ntfy.sh"

// ntfy's own topic rule.
var ntfyTopic = regexp.MustCompile(`^[-_A-Za-z0-9]{1,64}$`)

// typeFields are the fields of each type's ChannelSecrets.
var typeFields = map[string][]string{
	domain.ChannelWebhook: {"url", "secret"},
	domain.ChannelSlack:   {"url"},
	domain.ChannelDiscord: {"url"},
	domain.ChannelNtfy:    {"server", "topic", "token"},
	domain.ChannelEmail:   {"address"},
}

// Fields are the fields a channel of type typ takes besides type, notify
// and muted (those of its ChannelSecrets), in the order messages list
// them; nil for a type there is none of. The list is the caller's own.
func Fields(typ string) []string {
	return slices.Clone(typeFields[typ])
}

// Validate checks and normalizes a channel's fields for its type: trims
// them, fills in the default ntfy server, lower-cases an email address's
// domain, and checks every URL with g.CheckURL. emailOn says whether the
// server can send mail (--smtp-url). Errors are *domain.Error with Field
// set and a message that says what to do. ConfirmToken is passed through
// untouched: the API sets it, never the phone.
func Validate(typ string, sec domain.ChannelSecrets, g *Guard, emailOn bool) (domain.ChannelSecrets, error) {
	sec.URL = strings.TrimSpace(sec.URL)
	sec.Secret = strings.TrimSpace(sec.Secret)
	sec.Server = strings.TrimSpace(sec.Server)
	sec.Topic = strings.TrimSpace(sec.Topic)
	sec.Token = strings.TrimSpace(sec.Token)
	sec.Address = strings.TrimSpace(sec.Address)
	own := typeFields[typ]
	if own == nil {
		return sec, fieldErr(domain.EInvalidChannel, "type", "type must be one of "+strings.Join(domain.ChannelTypes, ", "))
	}
	for _, f := range []struct{ name, value string }{
		{"url", sec.URL}, {"secret", sec.Secret}, {"server", sec.Server},
		{"topic", sec.Topic}, {"token", sec.Token}, {"address", sec.Address},
	} {
		if f.value != "" && !contains(own, f.name) {
			return sec, fieldErr(domain.EInvalidChannel, f.name, "a "+typ+" channel has no field "+f.name+"; its fields are "+strings.Join(own, ", "))
		}
	}
	switch typ {
	case domain.ChannelWebhook:
		if err := checkURL(g, "url", sec.URL, "the webhook's URL"); err != nil {
			return sec, err
		}
		if sec.Secret != "" && (len(sec.Secret) < 16 || len(sec.Secret) > 256 || !printableASCII(sec.Secret)) {
			return sec, fieldErr(domain.EInvalidChannel, "secret", "the secret must be 16 to 256 printable ASCII characters without spaces; leave it out and the server makes one")
		}
	case domain.ChannelSlack:
		if err := checkURL(g, "url", sec.URL, "the Slack webhook URL"); err != nil {
			return sec, err
		}
		if !knownOr(g, sec.URL, []string{"hooks.slack.com"}, "/services/") {
			return sec, fieldErr(domain.EInvalidChannel, "url", "a Slack webhook URL starts with https://hooks.slack.com/services/; in Slack, add an Incoming Webhook to the channel and paste its URL")
		}
	case domain.ChannelDiscord:
		if err := checkURL(g, "url", sec.URL, "the Discord webhook URL"); err != nil {
			return sec, err
		}
		hosts := []string{"discord.com", "discordapp.com", "ptb.discord.com", "canary.discord.com"}
		if !knownOr(g, sec.URL, hosts, "/api/webhooks/") {
			return sec, fieldErr(domain.EInvalidChannel, "url", "a Discord webhook URL starts with https://discord.com/api/webhooks/; in Discord, open the channel's settings, Integrations, Webhooks, and copy the webhook URL")
		}
	case domain.ChannelNtfy:
		if sec.Server == "" {
			sec.Server = DefaultNtfyServer
		}
		sec.Server = strings.TrimRight(sec.Server, "/")
		if err := checkURL(g, "server", sec.Server, "the ntfy server"); err != nil {
			return sec, err
		}
		if u, _ := url.Parse(sec.Server); u.RawQuery != "" || u.ForceQuery {
			return sec, fieldErr(domain.EInvalidChannel, "server", "the ntfy server is its address only, like https://ntfy.sh, without a ?query")
		}
		if sec.Topic == "" {
			return sec, fieldErr(domain.EInvalidChannel, "topic", "the ntfy topic is missing; give the topic your ntfy app subscribes to")
		}
		if !ntfyTopic.MatchString(sec.Topic) {
			return sec, fieldErr(domain.EInvalidChannel, "topic", "an ntfy topic is 1 to 64 letters, digits, '-' or '_'")
		}
		if sec.Token != "" && (len(sec.Token) > 256 || !printableASCII(sec.Token)) {
			return sec, fieldErr(domain.EInvalidChannel, "token", "the ntfy access token is printable ASCII without spaces (like tk_…), at most 256 characters")
		}
	case domain.ChannelEmail:
		if !emailOn {
			return sec, fieldErr(domain.EEmailUnavailable, "type", "this server cannot send email: its operator has not set --smtp-url; choose another type of channel")
		}
		addr, err := checkAddress(sec.Address)
		if err != nil {
			return sec, err
		}
		sec.Address = addr
	}
	return sec, nil
}

func fieldErr(code, field, msg string) error {
	return &domain.Error{Code: code, Field: field, Message: msg}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// checkURL runs the guard's static check and names the field in its
// message: "the Slack webhook URL must use https …".
func checkURL(g *Guard, field, raw, what string) error {
	if raw == "" {
		return fieldErr(domain.EInvalidChannel, field, what+" is missing")
	}
	err := g.CheckURL(raw)
	if err == nil {
		return nil
	}
	e, ok := domain.AsError(err)
	if !ok {
		return err
	}
	return fieldErr(e.Code, field, what+strings.TrimPrefix(e.Message, "the URL"))
}

// knownOr reports whether raw is on one of a service's own hosts under its
// webhook path, or on a host the operator allows (a self-hosted stand-in,
// or a test's receiver).
func knownOr(g *Guard, raw string, hosts []string, path string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	if g.allowedHost(u.Hostname(), portOf(u)) {
		return true
	}
	h := strings.ToLower(u.Host)
	return u.Scheme == "https" && contains(hosts, h) && strings.HasPrefix(u.Path, path) && len(u.Path) > len(path)
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// checkAddress accepts one bare address (no display name, no comments, no
// domain literal), at most 254 bytes, with a domain that is a DNS name.
func checkAddress(s string) (string, error) {
	bad := func(msg string) (string, error) { return "", fieldErr(domain.EInvalidChannel, "address", msg) }
	if s == "" {
		return bad("the email address is missing")
	}
	if len(s) > 254 || !utf8.ValidString(s) {
		return bad("the email address is longer than 254 bytes")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return bad("give one email address, like name@example.com, without a name or <>")
	}
	at := strings.LastIndexByte(s, '@')
	local, dom := s[:at], strings.ToLower(s[at+1:])
	if !validHostName(dom) || !strings.Contains(dom, ".") {
		return bad("the email address's domain must be a domain name, like example.com")
	}
	return local + "@" + dom, nil
}

// Mask is what the phone is shown of a channel's fields after saving: the
// secrets only by their host or last few characters, enough to tell two
// channels apart, never enough to use one.
func Mask(typ string, sec domain.ChannelSecrets) map[string]string {
	m := map[string]string{}
	switch typ {
	case domain.ChannelWebhook, domain.ChannelSlack, domain.ChannelDiscord:
		if sec.URL != "" {
			m["url"] = maskURL(sec.URL)
		}
		if sec.Secret != "" {
			m["secret"] = tail(sec.Secret)
		}
	case domain.ChannelNtfy:
		m["server"] = sec.Server
		m["topic"] = tail(sec.Topic)
		if sec.Token != "" {
			m["token"] = tail(sec.Token)
		}
	case domain.ChannelEmail:
		m["address"] = sec.Address
	}
	return m
}

// tail shows a secret's last 4 characters when it is long enough (16 or
// more) that they give little away, and only "…" otherwise.
func tail(s string) string {
	if utf8.RuneCountInString(s) < 16 {
		return "…"
	}
	r := []rune(s)
	return "…" + string(r[len(r)-4:])
}

// maskURL keeps the scheme and host (not secret: they say which service)
// and the last 4 characters of the rest (the secret part).
func maskURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "…"
	}
	rest := strings.TrimPrefix(raw, u.Scheme+"://"+u.Host)
	return u.Scheme + "://" + u.Host + "/" + tail(rest)
}
