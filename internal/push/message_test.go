package push

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/observable-code/observable/internal/domain"
)

func ms(v float64) *float64 { return &v }

func TestMessageText(t *testing.T) {
	tests := []struct {
		name  string
		kind  string
		ev    domain.Event
		title string
		body  string
	}{
		{"failure", domain.AlertFailed,
			domain.Event{Name: "nightly_sync", Status: "failed", DurationMS: ms(3200), Error: &domain.ErrorInfo{Type: "KeyError", Message: "'customer_id'"}},
			"nightly_sync failed", "nightly_sync failed after 3.2 s — KeyError: 'customer_id'"},
		{"failure, first line of a long message", domain.AlertFailed,
			domain.Event{Name: "etl", Status: "failed", Error: &domain.ErrorInfo{Type: "ValueError", Message: "\n  bad row 12\nTraceback (most recent call last):\n"}},
			"etl failed", "etl failed — ValueError: bad row 12"},
		{"failure, empty message", domain.AlertFailed,
			domain.Event{Name: "etl", Status: "failed", DurationMS: ms(61000), Error: &domain.ErrorInfo{Type: "SystemExit"}},
			"etl failed", "etl failed after 1 min 1 s — SystemExit"},
		{"recovery", domain.AlertRecovered,
			domain.Event{Name: "nightly_sync", Status: "completed", DurationMS: ms(2100)},
			"nightly_sync recovered", "nightly_sync recovered — completed in 2.1 s"},
		{"recovery without duration", domain.AlertRecovered,
			domain.Event{Name: "nightly_sync", Status: "completed"},
			"nightly_sync recovered", "nightly_sync recovered — completed"},
		{"everything", domain.AlertEvent,
			domain.Event{Name: "backup", Status: "completed", DurationMS: ms(12000)},
			"backup completed", "backup completed in 12 s"},
		{"another status", domain.AlertEvent,
			domain.Event{Name: "deploy", Status: "cancelled", DurationMS: ms(4000)},
			"deploy cancelled", "deploy cancelled after 4 s"},
		{"control characters", domain.AlertFailed,
			domain.Event{Name: "a\tb\x1b[31m", Status: "failed", Error: &domain.ErrorInfo{Type: "E", Message: "x\ry"}},
			"a b [31m failed", "a b [31m failed — E: x y"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := &domain.StoredEvent{Seq: 7, Event: tt.ev}
			raw, err := buildMessage(tt.kind, ev, nil)
			if err != nil {
				t.Fatal(err)
			}
			var m message
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatal(err)
			}
			if m.Title != tt.title || m.Body != tt.body || m.URL != "/runs/7" || m.Seq != 7 || m.Kind != tt.kind || m.Status != tt.ev.Status || m.Tag != "job:"+tt.ev.Name {
				t.Fatalf("got %+v\nwant title %q body %q", m, tt.title, tt.body)
			}
		})
	}
}

// Whatever the event, the payload fits one record well under the 4 KB
// push limit, and the tag still identifies the job.
func TestMessageFitsAndTagsStayDistinct(t *testing.T) {
	huge := strings.Repeat("\x01", domain.MaxNameLen)
	wide := strings.Repeat("𝔘", domain.MaxNameLen) // 4 bytes each
	longErr := &domain.ErrorInfo{Type: strings.Repeat("E", 5000), Message: strings.Repeat("m", 100000)}
	for _, name := range []string{huge, wide, strings.Repeat("a", domain.MaxNameLen), wide[:len(wide)-4] + "x"} {
		ev := &domain.StoredEvent{Seq: 1, Event: domain.Event{Name: name, Status: "failed", DurationMS: ms(1), Error: longErr}}
		raw, err := buildMessage(domain.AlertFailed, ev, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(raw) > maxPayload {
			t.Fatalf("payload %d bytes, over %d", len(raw), maxPayload)
		}
		var m message
		if err := json.Unmarshal(raw, &m); err != nil || !utf8.ValidString(m.Body) || !strings.HasSuffix(m.Title, "… failed") {
			t.Fatalf("payload %s (%v)", raw, err)
		}
	}
	if jobTag(wide) == jobTag(wide[:len(wide)-4]+"x") {
		t.Fatal("two long names that share a prefix got the same tag")
	}
	if jobTag(wide) != jobTag(wide) || len(jobTag(wide)) > 200 {
		t.Fatalf("tag of a long name: %q", jobTag(wide))
	}
}

// Every shown field goes through clean: the name and the error's type and
// message; the tag keeps the name as it is, so two jobs stay two.
func TestMessageMarksSpoofingInEveryShownField(t *testing.T) {
	ev := &domain.StoredEvent{Seq: 3, Event: domain.Event{Name: "backup\u202E", Status: "failed",
		Error: &domain.ErrorInfo{Type: "Key\u200BError", Message: "\u2066row 12\u2069"}}}
	raw, err := buildMessage(domain.AlertFailed, ev, nil)
	if err != nil {
		t.Fatal(err)
	}
	var m message
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if m.Title != "backup\uFFFD failed" || m.Body != "backup\uFFFD failed — Key\uFFFDError: \uFFFDrow 12\uFFFD" {
		t.Fatalf("title %+q body %+q", m.Title, m.Body)
	}
	if m.Tag != "job:backup\u202E" || m.Job != "backup\u202E" {
		t.Fatalf("tag %+q job %+q: the job's identity must not change", m.Tag, m.Job)
	}
}
