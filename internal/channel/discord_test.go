package channel

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/observable-code/observable/internal/domain"
)

// discordCheck is what Discord's "Execute Webhook" accepts: content of at
// most 2,000 characters, at most 10 embeds within the embed limits, and
// here, always, allowed_mentions {"parse": []} so that nothing pings.
func discordCheck(body []byte) error {
	var msg struct {
		Content         string `json:"content"`
		AllowedMentions *struct {
			Parse *[]string `json:"parse"`
		} `json:"allowed_mentions"`
		Embeds []struct {
			Title, Description, URL, Timestamp string
			Color                              int
			Footer                             *struct{ Text string }
			Fields                             []struct {
				Name, Value string
				Inline      bool
			}
		} `json:"embeds"`
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		return err
	}
	n := utf8.RuneCountInString
	if msg.AllowedMentions == nil || msg.AllowedMentions.Parse == nil || len(*msg.AllowedMentions.Parse) != 0 {
		return fmt.Errorf("allowed_mentions.parse is not []")
	}
	if n(msg.Content) > 2000 || (msg.Content == "" && len(msg.Embeds) == 0) || len(msg.Embeds) > 10 {
		return fmt.Errorf("content of %d characters, %d embeds", n(msg.Content), len(msg.Embeds))
	}
	for _, e := range msg.Embeds {
		total := n(e.Title) + n(e.Description)
		if n(e.Title) > 256 || n(e.Description) > 4096 || len(e.Fields) > 25 {
			return fmt.Errorf("title %d, description %d, %d fields", n(e.Title), n(e.Description), len(e.Fields))
		}
		if e.Timestamp != "" {
			if _, err := time.Parse(time.RFC3339, e.Timestamp); err != nil {
				return fmt.Errorf("timestamp %q", e.Timestamp)
			}
		}
		if e.Footer != nil {
			total += n(e.Footer.Text)
		}
		for _, f := range e.Fields {
			if n(f.Name) > 256 || n(f.Value) > 1024 || f.Name == "" || f.Value == "" {
				return fmt.Errorf("field name %d, value %d", n(f.Name), n(f.Value))
			}
			total += n(f.Name) + n(f.Value)
		}
		if total > 6000 {
			return fmt.Errorf("embed of %d characters", total)
		}
	}
	return nil
}

func TestDiscordFormat(t *testing.T) {
	var last map[string]any
	srv, senders := receive(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if err := discordCheck(body); err != nil {
			t.Errorf("Discord would refuse this: %v\n%s", err, body)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		json.Unmarshal(body, &last)
		w.WriteHeader(http.StatusNoContent)
	})
	sec := domain.ChannelSecrets{URL: srv.URL + "/api/webhooks/1/tok"}
	m := NewMessage(failedJob(), sec, "https://obs.example.com")
	if err := senders[domain.ChannelDiscord].Send(context.Background(), domain.Channel{}, sec, m); err != nil {
		t.Fatal(err)
	}
	e := last["embeds"].([]any)[0].(map[string]any)
	if e["title"] != `nightly\_sync failed` || e["url"] != "https://obs.example.com/runs/42" || e["color"] != float64(discordRed) || e["timestamp"] != "2026-03-04T05:06:07.000Z" {
		t.Errorf("embed %v", e)
	}
	desc := e["description"].(string)
	if !strings.Contains(desc, `\[x\](https://evil.example)`) || strings.Contains(desc, "[x]") {
		t.Errorf("a masked link in the error was not escaped: %q", desc)
	}
	r := NewMessage(recoveredJob(), sec, "https://obs.example.com")
	if err := senders[domain.ChannelDiscord].Send(context.Background(), domain.Channel{}, sec, r); err != nil {
		t.Fatal(err)
	}
	if e := last["embeds"].([]any)[0].(map[string]any); e["color"] != float64(discordGreen) {
		t.Errorf("recovered colour %v", e["color"])
	}

	// Text far past every limit still makes a message Discord accepts.
	j := failedJob()
	j.Event.Name = strings.Repeat("*", 600)
	j.Event.Error.Type = strings.Repeat("_", 600)
	j.Event.Error.Message = strings.Repeat("é[", 6000)
	m = NewMessage(j, sec, "https://obs.example.com")
	if err := senders[domain.ChannelDiscord].Send(context.Background(), domain.Channel{}, sec, m); err != nil {
		t.Fatal(err)
	}
	if m := discordFormat(m); len(m.Embeds[0].Fields) == 0 {
		t.Error("no fields")
	}
	// 429 with the wait only in the body.
	limited, senders2 := receive(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.WriteHeader(http.StatusTooManyRequests)
		w.Write([]byte(`{"message": "You are being rate limited.", "retry_after": 1.5, "global": false}`))
	})
	sec = domain.ChannelSecrets{URL: limited.URL + "/api/webhooks/1/tok"}
	de := asDelivery(t, senders2[domain.ChannelDiscord].Send(context.Background(), domain.Channel{}, sec, m))
	if de.Permanent || de.RetryAfter != 1500*time.Millisecond || !strings.Contains(de.Message, "You are being rate limited") {
		t.Errorf("Discord 429: %+v", de)
	}
}
