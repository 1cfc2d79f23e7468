package channel

import (
	"context"
	"net/http"
	"strings"

	"github.com/observable-code/observable/internal/alerttext"
	"github.com/observable-code/observable/internal/domain"
)

// ntfy priorities (its docs, "Message priority"): 4 is high, 3 default.
const (
	ntfyHigh    = 4
	ntfyDefault = 3
)

// ntfy's limits: a message of at most 4,096 bytes (longer ones become
// attachments, which a server may not allow); titles are kept short.
const (
	ntfyMessageMax = 4000
	ntfyTitleMax   = 250
)

// ntfyPublish is ntfy's "publish as JSON" body, POSTed to the server root.
type ntfyPublish struct {
	Topic    string   `json:"topic"`
	Title    string   `json:"title"`
	Message  string   `json:"message"`
	Priority int      `json:"priority"`
	Tags     []string `json:"tags"`
	Click    string   `json:"click,omitempty"`
}

// ntfyTags are emoji short codes ntfy shows before the title.
func ntfyTags(m Message) []string {
	switch m.Kind {
	case domain.IncidentFailed:
		return []string{"rotating_light"}
	case domain.IncidentMissed:
		return []string{"alarm_clock"}
	case domain.IncidentOverdue:
		return []string{"hourglass"}
	case domain.IncidentSlow:
		return []string{"turtle"}
	case domain.IncidentFast:
		return []string{"zap"}
	case domain.AlertRecovered:
		return []string{"white_check_mark"}
	case domain.ChannelKindTest:
		return []string{"test_tube"}
	}
	if m.Event != nil && m.Event.Failed() {
		return []string{"x"}
	}
	return []string{"information_source"}
}

func ntfyFormat(m Message, topic string) ntfyPublish {
	p := ntfyPublish{
		Topic:    topic,
		Title:    alerttext.Clip(m.Title, ntfyTitleMax),
		Message:  m.Body,
		Priority: ntfyDefault,
		Tags:     ntfyTags(m),
		Click:    m.URL,
	}
	if opens(m.Kind) {
		p.Priority = ntfyHigh
	}
	for len(p.Message) > ntfyMessageMax {
		p.Message = alerttext.Clip(p.Message, len([]rune(p.Message))*ntfyMessageMax/len(p.Message))
	}
	return p
}

type ntfySender struct{ h *httpSender }

func (s *ntfySender) Send(ctx context.Context, _ domain.Channel, sec domain.ChannelSecrets, m Message) error {
	body, err := encodeJSON(ntfyFormat(m, sec.Topic))
	if err != nil {
		return permanent("cannot encode the ntfy message: %v", err)
	}
	hdr := map[string]string{"Content-Type": "application/json"}
	if sec.Token != "" {
		hdr["Authorization"] = "Bearer " + sec.Token
	}
	root := strings.TrimRight(sec.Server, "/") + "/"
	who := "ntfy"
	if h := hostOf(root); h != "ntfy.sh" {
		who = "ntfy (" + h + ")"
	}
	r, err := s.h.post(ctx, root, hdr, body, sec.Topic, sec.Token)
	if err != nil {
		return err
	}
	return r.classify(who, func(status int) string {
		switch status {
		case http.StatusUnauthorized:
			if sec.Token != "" {
				return "the access token is wrong or expired; set a new one"
			}
			return "the topic needs an access token"
		case http.StatusForbidden:
			if sec.Token != "" {
				return "the access token may not publish to this topic"
			}
			return "the topic needs an access token"
		case http.StatusNotFound:
			return "no ntfy server at this address; check the server URL"
		case http.StatusRequestEntityTooLarge:
			return "the message was too large for this server"
		case http.StatusBadRequest:
			return "the server refused the message; check the topic"
		}
		return "the server refused the message"
	}, s.h.now)
}
