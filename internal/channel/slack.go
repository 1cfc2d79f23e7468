package channel

import (
	"context"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/observable-code/observable/internal/domain"
)

// Slack's incoming-webhook limits (Block Kit reference): a header's text
// 150 characters, a section's text 3,000, its fields 10 of 2,000 each, a
// button's text 75 and its URL 3,000.
const (
	slackHeaderMax  = 150
	slackSectionMax = 3000
	slackFieldMax   = 2000
	slackFields     = 10
	slackTextMax    = 3000 // the fallback: notifications show its start only
)

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type slackElement struct {
	Type string    `json:"type"`
	Text slackText `json:"text"`
	URL  string    `json:"url"`
}

type slackBlock struct {
	Type     string         `json:"type"`
	Text     *slackText     `json:"text,omitempty"`
	Fields   []slackText    `json:"fields,omitempty"`
	Elements []slackElement `json:"elements,omitempty"`
}

type slackMessage struct {
	Text   string       `json:"text"`
	Blocks []slackBlock `json:"blocks"`
}

// slackEscape escapes the three characters Slack reads as markup in any
// text: with them left, an error message could hold "<!channel>" and
// notify everyone, or "<https://evil|Open run>".
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func slackClip(s string, n int) string { return escClip(s, n, slackEscape) }

// escClip escapes s with esc and keeps it within n characters once
// escaped, never cutting an escape in half.
func escClip(s string, n int, esc func(string) string) string {
	if e := esc(s); utf8.RuneCountInString(e) <= n {
		return e
	}
	var b strings.Builder
	count := 0
	for _, r := range s {
		piece := esc(string(r))
		l := utf8.RuneCountInString(piece)
		if count+l > n-1 {
			break
		}
		b.WriteString(piece)
		count += l
	}
	return strings.TrimRightFunc(b.String(), unicode.IsSpace) + "…"
}

func slackFormat(m Message) slackMessage {
	out := slackMessage{Text: slackClip(m.Body, slackTextMax)}
	out.Blocks = append(out.Blocks, slackBlock{Type: "header", Text: &slackText{"plain_text", slackClip(m.Title, slackHeaderMax)}})
	out.Blocks = append(out.Blocks, slackBlock{Type: "section", Text: &slackText{"mrkdwn", slackClip(m.Body, slackSectionMax)}})
	var fields []slackText
	for _, d := range details(m) {
		if len(fields) == slackFields {
			break
		}
		label := "*" + d.label + "*\n"
		fields = append(fields, slackText{"mrkdwn", label + slackClip(d.value, slackFieldMax-len(label))})
	}
	if len(fields) > 0 {
		out.Blocks = append(out.Blocks, slackBlock{Type: "section", Fields: fields})
	}
	if m.URL != "" && len(m.URL) <= 3000 {
		label := "Open run"
		if m.Seq == 0 {
			label = "Open"
		}
		out.Blocks = append(out.Blocks, slackBlock{Type: "actions", Elements: []slackElement{{Type: "button", Text: slackText{"plain_text", label}, URL: m.URL}}})
	}
	return out
}

type slackSender struct{ h *httpSender }

func (s *slackSender) Send(ctx context.Context, _ domain.Channel, sec domain.ChannelSecrets, m Message) error {
	body, err := encodeJSON(slackFormat(m))
	if err != nil {
		return permanent("cannot encode the Slack message: %v", err)
	}
	r, err := s.h.post(ctx, sec.URL, map[string]string{"Content-Type": "application/json"}, body)
	if err != nil {
		return err
	}
	return r.classify("Slack", func(status int) string {
		// Slack answers in words of its own: no_service, invalid_token,
		// channel_not_found, channel_is_archived, action_prohibited.
		switch strings.TrimSpace(string(r.body)) {
		case "channel_is_archived":
			return "its channel was archived; add a webhook for another channel"
		case "channel_not_found":
			return "its channel was deleted; add a webhook for another channel"
		case "invalid_token", "no_service", "no_team", "team_disabled":
			return "the webhook was removed; add it again"
		case "action_prohibited", "posting_to_general_channel_denied":
			return "the workspace does not allow this webhook to post there"
		}
		switch status {
		case http.StatusNotFound, http.StatusGone:
			return "the webhook was deleted or disabled; add it again"
		case http.StatusForbidden, http.StatusUnauthorized:
			return "the webhook is no longer allowed to post; add it again"
		}
		return "Slack refused the message; if \"Send a test\" fails too, add the webhook again"
	}, s.h.now)
}
