package domain

import (
	"fmt"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/expect"
)

func TestSourceZone(t *testing.T) {
	tests := []struct{ source, want string }{
		{`{"host":"db1","tz":"Europe/Berlin","pid":3}`, "Europe/Berlin"},
		{`{"tz" : "America/Argentina/Buenos_Aires"}`, "America/Argentina/Buenos_Aires"},
		{`{"tz":"Etc/GMT+5"}`, "Etc/GMT+5"},
		{`{"tz":"UTC"}`, ""},               // always tried anyway
		{`{"tz":"Local"}`, ""},             // the server's zone means nothing to the host
		{`{"tz":"Mars/Olympus_Mons"}`, ""}, // not a zone tzdata knows
		{`{"tz":"Europe\/Berlin"}`, ""},    // an escape: not a plain name
		{`{"tz":"../../etc/passwd"}`, ""},
		{`{"tz":12}`, ""},
		{`{"tz":""}`, ""},
		{`{"host":"db1"}`, ""},
		{``, ""},
	}
	for _, tt := range tests {
		if got := SourceZone([]byte(tt.source)); got != tt.want {
			t.Errorf("SourceZone(%s) = %q, want %q", tt.source, got, tt.want)
		}
	}
}

// A cron job at 03:00 on a host in Berlin runs at 02:00 UTC in winter and
// 01:00 in summer. Told the host's zone by its events, the model learns
// "03:00 in Europe/Berlin", and the run after the change to summer time is
// due at 03:00 local, not an hour off.
func TestJobModelLearnsInTheSourceZone(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	learn := func(source string) *JobModel {
		m := &JobModel{}
		for i := 0; i < 6; i++ { // 03:00 Berlin, the days before 29 March 2026's change
			start := time.Date(2026, 3, 23+i, 3, 0, 0, 0, berlin)
			dur := 2000.0
			ev := &StoredEvent{Event: Event{Name: "backup", Status: StatusCompleted, DurationMS: &dur,
				Timestamp: NewTime(start.Add(2 * time.Second)), Source: []byte(source)}}
			m.Apply(ev)
		}
		m.Learn(expect.Options{})
		return m
	}
	m := learn(`{"host":"db1","tz":"Europe/Berlin"}`)
	if m.Zone != "Europe/Berlin" || m.Learned == nil || m.Learned.Cron != "0 3 * * *" || m.Learned.TZ != "Europe/Berlin" {
		t.Fatalf("zone %q, learned %s; want daily at 03:00 in Europe/Berlin", m.Zone, fmt.Sprint(m.Learned))
	}
	due, _ := m.Learned.Due(time.Date(2026, 3, 28, 3, 0, 0, 0, berlin))
	if want := time.Date(2026, 3, 29, 3, 0, 0, 0, berlin); !due.Equal(want) {
		t.Errorf("next run due %s, want %s (03:00 summer time)", due, want)
	}
	// Without a zone the same history is learned in UTC (02:00), which the
	// change moves by an hour: what the zone is for.
	if u := learn(`{"host":"db1"}`); u.Zone != "" || u.Learned == nil || u.Learned.TZ != "" {
		t.Errorf("without a zone: %q, %s", u.Zone, fmt.Sprint(u.Learned))
	}
}

// A run reported without a zone (a Healthchecks ping, an old client) does
// not move a rhythm learned in the host's zone back to UTC.
func TestJobModelKeepsItsLearnedZone(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	m := &JobModel{}
	dur := 2000.0
	for i := 0; i < 7; i++ {
		source := `{"tz":"Europe/Berlin"}`
		if i == 6 {
			source = "" // the last run, after the change to summer time, says nothing
			m.Zone = "" // as a model read back from its row
		}
		start := time.Date(2026, 3, 24+i, 3, 0, 0, 0, berlin)
		m.Apply(&StoredEvent{Event: Event{Name: "backup", Status: StatusCompleted, DurationMS: &dur,
			Timestamp: NewTime(start.Add(2 * time.Second)), Source: []byte(source)}})
		m.Learn(expect.Options{})
	}
	if m.Learned == nil || m.Learned.Cron != "0 3 * * *" || m.Learned.TZ != "Europe/Berlin" {
		t.Fatalf("learned %s; want daily at 03:00 in Europe/Berlin still", fmt.Sprint(m.Learned))
	}
}
