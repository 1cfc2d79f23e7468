package channel

import (
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/observable-code/observable/internal/alerttext"
	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/store"
)

// Text budgets: a job name and an error line as the phone's notification
// shows them (the first of internal/push/message.go's budgets).
const (
	nameRunes   = 120
	detailRunes = 300
)

// NewMessage words one queued job the way the phone's notification does:
// "nightly_sync failed after 3.2 s — ValueError: boom", "nightly_sync
// recovered after 3 h 12 min, 4 failed runs", "nightly_sync missed: no run
// came when one was due". publicURL is the server's address as the phone
// opens it; links point into the app.
func NewMessage(job store.ChannelJob, sec domain.ChannelSecrets, publicURL string) Message {
	base := strings.TrimRight(publicURL, "/")
	m := Message{Kind: job.Kind, Event: job.Event, Incident: job.Incident, At: job.QueuedAt, URL: base + "/"}
	switch job.Kind {
	case domain.ChannelKindTest:
		m.Title = "Test message from Observable Code"
		m.Body = "This channel works: the session's alerts will arrive here like this."
		m.URL = base + "/settings"
		return m
	case domain.ChannelKindConfirm:
		m.Title = "Confirm this address for Observable Code alerts"
		m.ConfirmURL = base + "/channels/confirm?token=" + url.QueryEscape(sec.ConfirmToken)
		m.Body = "Someone added this address to an Observable Code session, to get its alerts by email. " +
			"Open the link to confirm; until then nothing else is sent here. If it was not you, ignore this message."
		return m
	}
	m.At = alertTime(job)
	ev := job.Event
	if ev == nil { // pruned by retention before the alert went out
		m.Title, m.Body = alerttext.Headline(job.Kind, "A job", ""), "The run this alert is about is no longer kept."
		return m
	}
	m.Job, m.Seq = ev.Name, ev.Seq
	if ev.Seq > 0 {
		m.URL = base + "/runs/" + strconv.FormatInt(ev.Seq, 10)
	} else {
		m.URL = base + "/jobs/" + url.PathEscape(ev.Name)
	}
	m.Title, m.Body = alerttext.Words(job.Kind, ev, job.Incident, nameRunes, detailRunes)
	return m
}

// alertTime is alerttext.At, or when the job was queued for an alert
// about neither an event nor an incident.
func alertTime(job store.ChannelJob) time.Time {
	if t := alerttext.At(job.Event, job.Incident); !t.IsZero() {
		return t
	}
	return job.QueuedAt
}

// errorText is an error's whole message for the formats that have room
// (Slack, Discord, email): lines kept, other control and invisible
// characters made visible as alerttext.Clean does.
func errorText(e *domain.ErrorInfo, runes int) string {
	if e == nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(e.Message), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRightFunc(alerttext.Clean(l), unicode.IsSpace)
	}
	return alerttext.Clip(strings.Join(lines, "\n"), runes)
}

// details are the labelled lines every rich format shows under the
// headline: what happened, the error, the duration, the incident.
type detail struct{ label, value string }

func details(m Message) []detail {
	var d []detail
	ev := m.Event
	if ev != nil {
		d = append(d, detail{"Job", alerttext.Clip(alerttext.Clean(ev.Name), nameRunes)})
		if ev.Status != "" {
			d = append(d, detail{"Status", alerttext.Clean(ev.Status)})
		}
		if ev.DurationMS != nil {
			d = append(d, detail{"Duration", alerttext.Duration(*ev.DurationMS)})
		}
		if ev.Error != nil && m.Kind != domain.AlertRecovered {
			if t := alerttext.Clip(alerttext.Clean(ev.Error.Type), nameRunes); t != "" {
				d = append(d, detail{"Error", t})
			}
			if msg := errorText(ev.Error, 900); msg != "" {
				d = append(d, detail{"Message", msg})
			}
		}
	}
	if in := m.Incident; in != nil && m.Kind != domain.AlertEvent {
		if in.Runs > 0 {
			d = append(d, detail{"Failed runs", strconv.FormatInt(in.Runs, 10)})
		}
		d = append(d, detail{"Since", in.OpenedAt.UTC().Format("2006-01-02 15:04 UTC")})
	}
	return d
}
