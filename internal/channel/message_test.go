package channel

import (
	"strings"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/store"
)

var testT0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// failedJob is the opening alert of incident 7: a failed run of
// nightly_sync whose error tries every markup there is.
func failedJob() store.ChannelJob {
	dur := 3200.0
	ev := &domain.StoredEvent{Seq: 42, ReceivedAt: domain.NewTime(testT0), Event: domain.Event{
		Name: "nightly_sync", Status: domain.StatusFailed, DurationMS: &dur,
		Error: &domain.ErrorInfo{Type: "ValueError", Message: "bad <script>alert(1)</script> & @everyone <!channel> [x](https://evil.example)\nsecond line"},
	}}
	return store.ChannelJob{ID: 1, Channel: domain.Channel{ID: "ch_test"}, Seq: 42, Kind: domain.IncidentFailed, Event: ev,
		Incident: &domain.Incident{ID: 7, Kind: domain.IncidentFailed, OpenedAt: domain.NewTime(testT0), Runs: 1}, QueuedAt: testT0}
}

func recoveredJob() store.ChannelJob {
	dur := 900.0
	closed := domain.NewTime(testT0.Add(3*time.Hour + 12*time.Minute))
	ev := &domain.StoredEvent{Seq: 50, ReceivedAt: closed, Event: domain.Event{Name: "nightly_sync", Status: domain.StatusCompleted, DurationMS: &dur}}
	return store.ChannelJob{ID: 2, Channel: domain.Channel{ID: "ch_test"}, Seq: 50, Kind: domain.AlertRecovered, Event: ev,
		Incident: &domain.Incident{ID: 7, Kind: domain.IncidentFailed, OpenedAt: domain.NewTime(testT0), ClosedAt: &closed, Runs: 4}, QueuedAt: closed.Time}
}

func TestNewMessageWords(t *testing.T) {
	const pub = "https://obs.example.com/"
	m := NewMessage(failedJob(), domain.ChannelSecrets{}, pub)
	if m.Title != "nightly_sync failed" || m.URL != "https://obs.example.com/runs/42" || m.Job != "nightly_sync" || m.Seq != 42 || !m.At.Equal(testT0) {
		t.Errorf("failed: %+v", m)
	}
	if want := "nightly_sync failed after 3.2 s — ValueError: bad <script>alert(1)</script> & @everyone <!channel> [x](https://evil.example)"; m.Body != want {
		t.Errorf("failed body %q, want %q", m.Body, want)
	}
	r := NewMessage(recoveredJob(), domain.ChannelSecrets{}, pub)
	if r.Title != "nightly_sync recovered" || r.Body != "nightly_sync recovered after 3 h 12 min, 4 failed runs" {
		t.Errorf("recovered: %q / %q", r.Title, r.Body)
	}

	j := failedJob()
	j.Kind, j.Incident.Kind = domain.IncidentMissed, domain.IncidentMissed
	if m := NewMessage(j, domain.ChannelSecrets{}, pub); m.Title != "nightly_sync missed" || m.Body != "nightly_sync missed: no run came when one was due" {
		t.Errorf("missed: %q / %q", m.Title, m.Body)
	}
	j.Kind = domain.IncidentSlow
	if m := NewMessage(j, domain.ChannelSecrets{}, pub); m.Title != "nightly_sync too slow" || m.Body != "nightly_sync too slow: took 3.2 s" {
		t.Errorf("slow: %q / %q", m.Title, m.Body)
	}
	j = failedJob()
	j.Incident.Runs = 3
	if m := NewMessage(j, domain.ChannelSecrets{}, pub); !strings.HasSuffix(m.Body, "(3 failed runs in a row)") {
		t.Errorf("failed, 3 runs: %q", m.Body)
	}
	j = recoveredJob()
	j.Kind, j.Incident = domain.AlertEvent, nil
	if m := NewMessage(j, domain.ChannelSecrets{}, pub); m.Title != "nightly_sync completed" || m.Body != "nightly_sync completed in 900 ms" {
		t.Errorf("event: %q / %q", m.Title, m.Body)
	}
	j.Event.Name = "evil\u202Ename\nx"
	if m := NewMessage(j, domain.ChannelSecrets{}, pub); m.Title != "evil\uFFFDname x completed" || m.Job != "evil\u202Ename\nx" {
		t.Errorf("a name with a bidi override and a newline: title %q job %q", m.Title, m.Job)
	}
	j.Event = nil
	if m := NewMessage(j, domain.ChannelSecrets{}, pub); m.URL != "https://obs.example.com/" || m.Title == "" || m.Body == "" {
		t.Errorf("pruned event: %+v", m)
	}

	test := NewMessage(store.ChannelJob{Kind: domain.ChannelKindTest, QueuedAt: testT0}, domain.ChannelSecrets{}, pub)
	if test.Title == "" || test.Job != "" || test.URL != "https://obs.example.com/settings" || !test.At.Equal(testT0) {
		t.Errorf("test: %+v", test)
	}
	c := NewMessage(store.ChannelJob{Kind: domain.ChannelKindConfirm}, domain.ChannelSecrets{Address: "a@b.co", ConfirmToken: "tok+/="}, pub)
	if c.ConfirmURL != "https://obs.example.com/channels/confirm?token=tok%2B%2F%3D" || !strings.Contains(c.Body, "confirm") {
		t.Errorf("confirm: %+v", c)
	}
}

func store0(kind string) store.ChannelJob { return store.ChannelJob{Kind: kind, QueuedAt: testT0} }
