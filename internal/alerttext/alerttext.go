// Package alerttext holds the words of an alert: the phone's notification
// (internal/push) and every channel (internal/channel) name a job, its
// error, its duration and its incident the same way, and make event text
// safe to show the same way.
package alerttext

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/observable-code/observable/internal/domain"
)

// Headline is an alert's one line: "nightly_sync failed", "nightly_sync
// missed", or for a plain event its status ("backup completed"). name is
// already cleaned and clipped; so is status.
func Headline(kind, name, status string) string {
	switch kind {
	case domain.AlertRecovered:
		return name + " recovered"
	case domain.IncidentFailed:
		return name + " failed"
	case domain.IncidentMissed:
		return name + " missed"
	case domain.IncidentOverdue:
		return name + " overdue"
	case domain.IncidentSlow:
		return name + " too slow"
	case domain.IncidentFast:
		return name + " too fast"
	}
	if status == "" {
		return name + " ran"
	}
	return name + " " + status
}

// Words are an alert's title and body for kind (an alert or incident kind)
// about ev and its incident in (nil for a plain event): "nightly_sync
// failed after 3.2 s — KeyError: 'customer_id'", "nightly_sync recovered
// after 3 h 12 min, 4 failed runs", "nightly_sync missed: no run came when
// one was due". The name is cut to nameRunes, the error line to
// detailRunes.
func Words(kind string, ev *domain.StoredEvent, in *domain.Incident, nameRunes, detailRunes int) (title, body string) {
	name := Clip(Clean(ev.Name), nameRunes)
	var dur string
	if ev.DurationMS != nil {
		dur = Duration(*ev.DurationMS)
	}
	title = Headline(kind, name, Clean(ev.Status))
	switch kind {
	case domain.AlertRecovered:
		if in != nil && in.ClosedAt != nil {
			body = name + " recovered after " + Duration(float64(in.ClosedAt.Sub(in.OpenedAt.Time).Milliseconds()))
			switch {
			case in.Runs == 1:
				body += ", 1 failed run"
			case in.Runs > 1:
				body += fmt.Sprintf(", %d failed runs", in.Runs)
			}
			return title, body
		}
		body = title + " — completed"
		if dur != "" {
			body += " in " + dur
		}
		return title, body
	case domain.IncidentMissed:
		return title, name + " missed: no run came when one was due"
	case domain.IncidentOverdue:
		return title, name + " overdue: a run started and has not ended in time"
	case domain.IncidentSlow:
		if dur != "" {
			return title, title + ": took " + dur
		}
		return title, title
	case domain.IncidentFast:
		if dur != "" {
			return title, title + ": done in " + dur
		}
		return title, title
	}
	body = title
	if dur != "" {
		if ev.Status == domain.StatusCompleted {
			body += " in " + dur
		} else {
			body += " after " + dur
		}
	}
	if line := ErrorLine(ev.Error, detailRunes); line != "" {
		body += " — " + line
	}
	if kind == domain.IncidentFailed && in != nil && in.Runs > 1 {
		body += fmt.Sprintf(" (%d failed runs in a row)", in.Runs)
	}
	return title, body
}

// At is when an alert came to be: its event's arrival, or when its
// incident opened or closed if later (a missed run is about an old event).
// Zero when there is neither event nor incident: each caller has its own
// fallback.
func At(ev *domain.StoredEvent, in *domain.Incident) time.Time {
	var t time.Time
	if ev != nil {
		t = ev.ReceivedAt.Time
	}
	if in != nil {
		if in.OpenedAt.After(t) {
			t = in.OpenedAt.Time
		}
		if in.ClosedAt != nil && in.ClosedAt.After(t) {
			t = in.ClosedAt.Time
		}
	}
	return t
}

// ErrorLine is "Type: first line of the message", as a person reads a
// Python exception, cut to runes.
func ErrorLine(e *domain.ErrorInfo, runes int) string {
	if e == nil {
		return ""
	}
	line := Clean(e.Type)
	for _, l := range strings.Split(e.Message, "\n") {
		if l = strings.TrimSpace(Clean(l)); l != "" {
			if line != "" {
				line += ": "
			}
			line += l
			break
		}
	}
	return Clip(line, runes)
}

// Clean makes event text fit to show in a notification or a channel's
// message, which phones and chat apps draw as plain text with none of the
// app's isolation (unicode-bidi: isolate):
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
func Clean(s string) string {
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

// Clip shortens s to at most n runes, marking the cut with an ellipsis.
func Clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	runes := []rune(s)
	return strings.TrimRightFunc(string(runes[:n-1]), unicode.IsSpace) + "…"
}

// Duration says how long a run took the way a person would: "450 ms",
// "3.2 s", "12 s", "4 min 5 s", "2 h 3 min"; "" for no sensible value.
func Duration(ms float64) string {
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
