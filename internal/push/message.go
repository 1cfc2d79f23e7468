package push

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/store"
)

// message is the JSON the service worker receives (decrypted) in its push
// event. Title and body are ready to show; the rest lets it tag, route and
// group the notification without another request.
type message struct {
	Title  string `json:"title"`
	Body   string `json:"body"`
	Tag    string `json:"tag"`
	URL    string `json:"url"`
	Kind   string `json:"kind"`
	Job    string `json:"job"`
	Seq    int64  `json:"seq"`
	Status string `json:"status"`
}

// maxPayload bounds the JSON before encryption. Records are padded to
// recordSize, and Firefox on Android refuses bodies much over 3 KB, so the
// plain text must fit one 2 KB record with room to spare.
const (
	recordSize = 2048
	maxPayload = 1800
)

// Text budgets, tried in order until the payload fits: ordinary names and
// errors fit the first; only pathological ones (long names of multi-byte
// characters) shrink further.
var budgets = []struct{ name, detail int }{{120, 300}, {60, 150}, {30, 60}, {16, 24}}

// buildMessage writes the notification for one event, or for the incident
// (in, nil for an AlertEvent) the event belongs to.
func buildMessage(kind string, ev *domain.StoredEvent, in *domain.Incident) ([]byte, error) {
	for _, b := range budgets {
		m := describe(kind, ev, b.name, b.detail)
		incidentText(&m, kind, ev, in, b.name)
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false) // text is shown as text; escaping only costs bytes
		if err := enc.Encode(m); err != nil {
			return nil, fmt.Errorf("encode notification: %w", err)
		}
		if out := bytes.TrimSpace(buf.Bytes()); len(out) <= maxPayload {
			return out, nil
		}
	}
	return nil, fmt.Errorf("notification for event %d does not fit %d bytes", ev.Seq, maxPayload)
}

func describe(kind string, ev *domain.StoredEvent, nameRunes, detailRunes int) message {
	name := clip(clean(ev.Name), nameRunes)
	var dur string
	if ev.DurationMS != nil {
		dur = formatDuration(*ev.DurationMS)
	}
	status := clean(ev.Status) // a lowercase word by validation; cleaned all the same, as it is shown
	var title, body string
	switch {
	case kind == domain.AlertRecovered:
		title = name + " recovered"
		body = title + " — completed"
		if dur != "" {
			body += " in " + dur
		}
	case ev.Status == domain.StatusCompleted:
		title = name + " completed"
		body = title
		if dur != "" {
			body += " in " + dur
		}
	default:
		title = name + " " + status
		body = title
		if dur != "" {
			body += " after " + dur
		}
	}
	if line := errorLine(ev.Error, detailRunes); line != "" && kind != domain.AlertRecovered {
		body += " — " + line
	}
	// Job and Tag keep the name as it is: they identify the job to the
	// service worker and are never shown, and cleaned they could make two
	// jobs one.
	return message{
		Title:  title,
		Body:   body,
		Tag:    jobTag(ev.Name),
		URL:    "/runs/" + strconv.FormatInt(ev.Seq, 10),
		Kind:   kind,
		Job:    clip(ev.Name, nameRunes),
		Seq:    ev.Seq,
		Status: ev.Status,
	}
}

// incidentText writes the words of an incident's alert over describe's:
// missed, overdue, slow and fast say what is wrong, recovered for how long it
// was and how many runs failed ("nightly_sync recovered after 3 h 12 min, 4
// failed runs"). A failure keeps describe's words (with its error).
func incidentText(m *message, kind string, ev *domain.StoredEvent, in *domain.Incident, nameRunes int) {
	name := clip(clean(ev.Name), nameRunes)
	var dur string
	if ev.DurationMS != nil {
		dur = formatDuration(*ev.DurationMS)
	}
	switch kind {
	case domain.IncidentMissed:
		m.Title, m.Body = name+" missed", name+" missed: no run came when one was due"
	case domain.IncidentOverdue:
		m.Title, m.Body = name+" overdue", name+" overdue: a run started and has not ended in time"
	case domain.IncidentSlow:
		m.Title, m.Body = name+" too slow", name+" too slow"
		if dur != "" {
			m.Body += ": took " + dur
		}
	case domain.IncidentFast:
		m.Title, m.Body = name+" too fast", name+" too fast"
		if dur != "" {
			m.Body += ": done in " + dur
		}
	case domain.IncidentFailed:
		if in != nil && in.Runs > 1 {
			m.Body += fmt.Sprintf(" (%d failed runs in a row)", in.Runs)
		}
	case domain.AlertRecovered:
		if in == nil || in.ClosedAt == nil {
			return
		}
		m.Body = name + " recovered after " + formatDuration(float64(in.ClosedAt.Sub(in.OpenedAt.Time).Milliseconds()))
		switch {
		case in.Runs == 1:
			m.Body += ", 1 failed run"
		case in.Runs > 1:
			m.Body += fmt.Sprintf(", %d failed runs", in.Runs)
		}
	}
}

// errorLine is "Type: first line of the message", as a person reads a
// Python exception.
func errorLine(e *domain.ErrorInfo, runes int) string {
	if e == nil {
		return ""
	}
	line := clean(e.Type)
	for _, l := range strings.Split(e.Message, "\n") {
		if l = strings.TrimSpace(clean(l)); l != "" {
			if line != "" {
				line += ": "
			}
			line += l
			break
		}
	}
	return clip(line, runes)
}

// jobTag is the same for every run of a job, so a phone replaces the job's
// notification rather than stacking one per failure. Long names are cut and
// completed by a hash, which keeps the tag both short and distinct.
func jobTag(name string) string {
	if utf8.RuneCountInString(name) <= 40 && len(name) <= 80 {
		return "job:" + name
	}
	sum := sha256.Sum256([]byte(name))
	return "job:" + clip(name, 24) + "#" + hex.EncodeToString(sum[:8])
}

// jobTopic is the Topic header (RFC 8030 §5.4: at most 32 characters of the
// URL-safe base64 alphabet): a push service keeps only the newest undelivered
// message of a topic, so a phone offline through many failures gets one.
func jobTopic(name string) string {
	sum := sha256.Sum256([]byte("observable job\x00" + name))
	return base64.RawURLEncoding.EncodeToString(sum[:])[:32]
}

// clean makes event text fit to show in a notification, which phones draw
// as plain text with none of the app's isolation (unicode-bidi: isolate):
//   - line breaks, tabs and other control characters become spaces, since a
//     notification is one or two lines;
//   - invisible format characters become U+FFFD: bidirectional overrides,
//     embeddings, isolates and marks (U+202A–U+202E, U+2066–U+2069, U+200E,
//     U+200F, U+061C), zero-width spaces and joiners (U+200B–U+200D, U+2060,
//     U+FEFF), and the rest of Unicode's Cf category and invisible fillers.
//
// Made visible rather than dropped: dropped, "deploy\u200b" would read
// exactly as another job "deploy", and "invoice\u202Efdp.exe" as a job of
// the attacker's choosing; U+FFFD shows that something was there. It rather
// than a "<U+202E>" marker because it costs one character of the budget
// (eight for the marker, whose ASCII could itself pass for part of a name),
// and it is what invalid UTF-8 already becomes. The price is that emoji
// joined by U+200D show as their parts with a U+FFFD between them.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case unicode.IsControl(r) || r == '\u2028' || r == '\u2029':
			return ' '
		case invisible(r):
			return '\uFFFD'
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}

// invisible reports whether r is drawn as nothing (or reorders what is
// around it) while being a character of its own: Unicode's format
// characters (Cf), which hold every bidirectional and zero-width control,
// and the fillers that are letters by category but blank on screen.
func invisible(r rune) bool {
	switch r {
	case '\u034F', '\u115F', '\u1160', '\u17B4', '\u17B5', '\u3164', '\uFFA0':
		return true
	}
	return unicode.Is(unicode.Cf, r)
}

// clip shortens s to at most n runes, marking the cut with an ellipsis.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	runes := []rune(s)
	return strings.TrimRightFunc(string(runes[:n-1]), unicode.IsSpace) + "…"
}

// formatDuration says how long a run took the way a person would: "450 ms",
// "3.2 s", "12 s", "4 min 5 s", "2 h 3 min".
func formatDuration(ms float64) string {
	if math.IsNaN(ms) || ms < 0 {
		return ""
	}
	if r := math.Round(ms); r < 1000 {
		return strconv.FormatFloat(r, 'f', 0, 64) + " ms"
	}
	if tenths := math.Round(ms / 100); tenths < 100 {
		return strconv.FormatFloat(tenths/10, 'f', -1, 64) + " s"
	}
	secs := int64(math.Round(ms / 1000))
	switch {
	case secs < 60:
		return fmt.Sprintf("%d s", secs)
	case secs < 3600:
		if secs%60 == 0 {
			return fmt.Sprintf("%d min", secs/60)
		}
		return fmt.Sprintf("%d min %d s", secs/60, secs%60)
	}
	mins := (secs + 30) / 60
	if mins%60 == 0 {
		return fmt.Sprintf("%d h", mins/60)
	}
	return fmt.Sprintf("%d h %d min", mins/60, mins%60)
}

// alertTime is when an alert came to be, for its TTL: its event's, or for a
// missed or overdue run (about the job's last event, maybe long ago) when the
// incident opened.
func alertTime(job store.PushJob) time.Time {
	t := job.Event.ReceivedAt.Time
	if in := job.Incident; in != nil {
		if in.OpenedAt.After(t) {
			t = in.OpenedAt.Time
		}
		if in.ClosedAt != nil && in.ClosedAt.After(t) {
			t = in.ClosedAt.Time
		}
	}
	return t
}
