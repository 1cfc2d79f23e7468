package channel

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/observable-code/observable/internal/domain"
)

// Discord's webhook limits (its "Embed Limits"): content 2,000 characters;
// an embed's title 256, description 4,096, at most 25 fields of name 256
// and value 1,024, footer 2,048, and 6,000 in all.
const (
	discordContentMax = 2000
	discordTitleMax   = 256
	discordDescMax    = 4096
	discordFields     = 25
	discordNameMax    = 256
	discordValueMax   = 1024
	discordTotalMax   = 6000
)

// Embed colours: red for trouble, green for a recovery, grey for the rest.
const (
	discordRed   = 0xE5484D
	discordGreen = 0x30A46C
	discordGrey  = 0x8B8D98
)

type discordField struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Inline bool   `json:"inline"`
}

type discordFooter struct {
	Text string `json:"text"`
}

type discordEmbed struct {
	Title       string         `json:"title"`
	Description string         `json:"description"`
	URL         string         `json:"url,omitempty"`
	Color       int            `json:"color"`
	Timestamp   string         `json:"timestamp,omitempty"`
	Fields      []discordField `json:"fields,omitempty"`
	Footer      *discordFooter `json:"footer,omitempty"`
}

type discordMentions struct {
	Parse []string `json:"parse"`
}

type discordMessage struct {
	Content         string          `json:"content"`
	Embeds          []discordEmbed  `json:"embeds"`
	AllowedMentions discordMentions `json:"allowed_mentions"`
}

// discordEscape backslash-escapes Discord's markdown, so that a job name
// or an error cannot format the message or hide a masked link
// ("[Open run](https://evil)"). Mentions are left as text but never ping:
// every message sends allowed_mentions {"parse": []}.
var discordEscape = strings.NewReplacer(
	`\`, `\\`, "*", `\*`, "_", `\_`, "~", `\~`, "`", "\\`", "|", `\|`,
	">", `\>`, "[", `\[`, "]", `\]`, "#", `\#`,
).Replace

func discordFormat(m Message) discordMessage {
	color := discordGrey
	switch {
	case m.Kind == domain.AlertRecovered:
		color = discordGreen
	case opens(m.Kind), m.Event != nil && m.Event.Failed():
		color = discordRed
	}
	e := discordEmbed{
		Title:       escClip(m.Title, discordTitleMax, discordEscape),
		Description: escClip(m.Body, discordDescMax, discordEscape),
		Color:       color,
		Footer:      &discordFooter{Text: "Observable Code"},
	}
	if len(m.URL) <= 2048 {
		e.URL = m.URL
	}
	if !m.At.IsZero() {
		e.Timestamp = m.At.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	total := len([]rune(e.Title)) + len([]rune(e.Description)) + len([]rune(e.Footer.Text))
	for _, d := range details(m) {
		if len(e.Fields) == discordFields {
			break
		}
		f := discordField{Name: escClip(d.label, discordNameMax, discordEscape), Value: escClip(d.value, discordValueMax, discordEscape)}
		f.Inline = d.label != "Message"
		n := len([]rune(f.Name)) + len([]rune(f.Value))
		if total+n > discordTotalMax {
			break
		}
		total += n
		e.Fields = append(e.Fields, f)
	}
	return discordMessage{
		Content:         escClip(m.Title, discordContentMax, discordEscape),
		Embeds:          []discordEmbed{e},
		AllowedMentions: discordMentions{Parse: []string{}},
	}
}

// opens reports whether kind is an incident opening (the alerts that are
// urgent).
func opens(kind string) bool {
	switch kind {
	case domain.IncidentFailed, domain.IncidentMissed, domain.IncidentOverdue, domain.IncidentSlow, domain.IncidentFast:
		return true
	}
	return false
}

type discordSender struct{ h *httpSender }

func (s *discordSender) Send(ctx context.Context, _ domain.Channel, sec domain.ChannelSecrets, m Message) error {
	body, err := encodeJSON(discordFormat(m))
	if err != nil {
		return permanent("cannot encode the Discord message: %v", err)
	}
	r, err := s.h.post(ctx, sec.URL, map[string]string{"Content-Type": "application/json"}, body)
	if err != nil {
		return err
	}
	if r.status == http.StatusTooManyRequests && r.header.Get("Retry-After") == "" {
		// Discord names its wait in the body as well: {"retry_after": 1.5}.
		var j struct {
			RetryAfter float64 `json:"retry_after"`
		}
		if json.Unmarshal(r.body, &j) == nil && j.RetryAfter > 0 {
			r.header.Set("Retry-After", formatSeconds(j.RetryAfter))
		}
	}
	return r.classify("Discord", func(status int) string {
		switch status {
		case http.StatusUnauthorized:
			return "the webhook's token is wrong; copy the webhook URL from Discord again"
		case http.StatusNotFound:
			return "the webhook was deleted; add it again"
		case http.StatusForbidden:
			return "the webhook may not post to its channel any more; add it again"
		case http.StatusRequestEntityTooLarge:
			return "the message was too large"
		}
		return "Discord refused the message; if \"Send a test\" fails too, add the webhook again"
	}, s.h.now)
}

func formatSeconds(s float64) string { return strconv.FormatFloat(s, 'f', -1, 64) }
