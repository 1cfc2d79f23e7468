package push

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/domain"
)

// Each incident kind's words (issue 11), with the tag of the job, so that the
// phone replaces an open incident's notification rather than stacking them.
func TestIncidentMessages(t *testing.T) {
	opened := domain.NewTime(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	closed := domain.NewTime(opened.Add(3*time.Hour + 12*time.Minute))
	ms := func(v float64) *float64 { return &v }
	tests := []struct {
		kind string
		ev   domain.StoredEvent
		in   *domain.Incident
		want string
	}{
		{domain.AlertRecovered, domain.StoredEvent{Event: domain.Event{Name: "nightly_sync", Status: "completed", DurationMS: ms(2100)}},
			&domain.Incident{Kind: "failed", OpenedAt: opened, ClosedAt: &closed, Runs: 4}, "nightly_sync recovered after 3 h 12 min, 4 failed runs"},
		{domain.AlertRecovered, domain.StoredEvent{Event: domain.Event{Name: "nightly_sync", Status: "completed"}},
			&domain.Incident{Kind: "missed", OpenedAt: opened, ClosedAt: &closed}, "nightly_sync recovered after 3 h 12 min"},
		{domain.IncidentMissed, domain.StoredEvent{Event: domain.Event{Name: "backup", Status: "completed"}},
			&domain.Incident{Kind: "missed", OpenedAt: opened}, "backup missed: no run came when one was due"},
		{domain.IncidentOverdue, domain.StoredEvent{Event: domain.Event{Name: "train", Status: "started"}},
			&domain.Incident{Kind: "overdue", OpenedAt: opened}, "train overdue: a run started and has not ended in time"},
		{domain.IncidentSlow, domain.StoredEvent{Event: domain.Event{Name: "etl", Status: "completed", DurationMS: ms(245000)}},
			&domain.Incident{Kind: "slow", OpenedAt: opened}, "etl too slow: took 4 min 5 s"},
		{domain.IncidentFast, domain.StoredEvent{Event: domain.Event{Name: "backup", Status: "completed", DurationMS: ms(200)}},
			&domain.Incident{Kind: "fast", OpenedAt: opened}, "backup too fast: done in 200 ms"},
		{domain.IncidentFailed, domain.StoredEvent{Event: domain.Event{Name: "sync", Status: "failed"}},
			&domain.Incident{Kind: "failed", OpenedAt: opened, Runs: 3}, "sync failed (3 failed runs in a row)"},
	}
	for _, tt := range tests {
		raw, err := buildMessage(tt.kind, &tt.ev, tt.in)
		if err != nil {
			t.Fatal(err)
		}
		var m message
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		if m.Body != tt.want || m.Kind != tt.kind || m.Tag != jobTag(tt.ev.Name) {
			t.Errorf("%s: body %q kind %q tag %q; want %q, %s, %s", tt.kind, m.Body, m.Kind, m.Tag, tt.want, tt.kind, jobTag(tt.ev.Name))
		}
	}
}
