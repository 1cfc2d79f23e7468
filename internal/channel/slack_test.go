package channel

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/observable-code/observable/internal/domain"
)

// slackCheck is what Slack's incoming webhooks accept (Block Kit
// reference): a text fallback, and blocks of known types within their
// limits; every text escaped (& only as &amp; &lt; &gt;, no < or >).
func slackCheck(body []byte) error {
	var msg struct {
		Text   *string `json:"text"`
		Blocks []struct {
			Type string `json:"type"`
			Text *struct {
				Type, Text string
			} `json:"text"`
			Fields []struct {
				Type, Text string
			} `json:"fields"`
			Elements []struct {
				Type string `json:"type"`
				Text struct {
					Type, Text string
				} `json:"text"`
				URL string `json:"url"`
			} `json:"elements"`
		} `json:"blocks"`
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&msg); err != nil {
		return err
	}
	if msg.Text == nil || *msg.Text == "" {
		return fmt.Errorf("no text fallback")
	}
	if len(msg.Blocks) == 0 || len(msg.Blocks) > 50 {
		return fmt.Errorf("%d blocks", len(msg.Blocks))
	}
	texts := []string{*msg.Text}
	for i, b := range msg.Blocks {
		switch b.Type {
		case "header":
			if b.Text == nil || b.Text.Type != "plain_text" || utf8.RuneCountInString(b.Text.Text) > 150 {
				return fmt.Errorf("block %d: bad header", i)
			}
			texts = append(texts, b.Text.Text)
		case "section":
			if b.Text == nil && len(b.Fields) == 0 {
				return fmt.Errorf("block %d: a section without text or fields", i)
			}
			if b.Text != nil {
				if b.Text.Type != "mrkdwn" && b.Text.Type != "plain_text" || utf8.RuneCountInString(b.Text.Text) > 3000 {
					return fmt.Errorf("block %d: bad section text", i)
				}
				texts = append(texts, b.Text.Text)
			}
			if len(b.Fields) > 10 {
				return fmt.Errorf("block %d: %d fields", i, len(b.Fields))
			}
			for _, f := range b.Fields {
				if utf8.RuneCountInString(f.Text) > 2000 {
					return fmt.Errorf("block %d: a field of %d characters", i, utf8.RuneCountInString(f.Text))
				}
				texts = append(texts, f.Text)
			}
		case "actions":
			for _, e := range b.Elements {
				if e.Type != "button" || e.Text.Type != "plain_text" || utf8.RuneCountInString(e.Text.Text) > 75 || !strings.HasPrefix(e.URL, "https://") || len(e.URL) > 3000 {
					return fmt.Errorf("block %d: bad button %+v", i, e)
				}
			}
		default:
			return fmt.Errorf("block %d: unknown type %q", i, b.Type)
		}
	}
	entity := regexp.MustCompile(`&(amp|lt|gt);`)
	for _, s := range texts {
		if strings.ContainsAny(s, "<>") || strings.Contains(entity.ReplaceAllString(s, ""), "&") {
			return fmt.Errorf("unescaped markup in %q", s)
		}
	}
	return nil
}

func TestSlackFormat(t *testing.T) {
	var last []byte
	srv, senders := receive(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		last = body
		if err := slackCheck(body); err != nil || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "invalid_payload", http.StatusBadRequest)
			t.Errorf("Slack would refuse this: %v\n%s", err, body)
			return
		}
		w.Write([]byte("ok"))
	})
	sec := domain.ChannelSecrets{URL: srv.URL + "/services/T/B/X"}
	m := NewMessage(failedJob(), sec, "https://obs.example.com")
	if err := senders[domain.ChannelSlack].Send(context.Background(), domain.Channel{}, sec, m); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`&lt;script&gt;alert(1)&lt;/script&gt; &amp; @everyone &lt;!channel&gt;`, "ValueError", "3.2 s", "Open run", "https://obs.example.com/runs/42", "nightly_sync failed"} {
		if !strings.Contains(string(last), want) {
			t.Errorf("the Slack message lacks %q:\n%s", want, last)
		}
	}
	// Long text of characters that grow when escaped stays within limits.
	j := failedJob()
	j.Event.Name = strings.Repeat("&", 400)
	j.Event.Error.Message = strings.Repeat("<>&", 5000)
	j.Event.Error.Type = strings.Repeat("é", 3000)
	m = NewMessage(j, sec, "https://obs.example.com")
	if err := senders[domain.ChannelSlack].Send(context.Background(), domain.Channel{}, sec, m); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ in, want string }{{"a&b", "a&amp;b"}, {"<@U1>", "&lt;@U1&gt;"}} {
		if got := slackEscape(tc.in); got != tc.want {
			t.Errorf("slackEscape(%q) = %q", tc.in, got)
		}
	}
}
