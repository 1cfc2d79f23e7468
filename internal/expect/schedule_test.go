package expect

import (
	"strings"
	"testing"
	"time"
)

func cronExpect(t *testing.T, expr, tz string) Expectation {
	t.Helper()
	e := Expectation{Source: Code, Cron: expr, TZ: tz}
	if err := e.Validate(); err != nil {
		t.Fatalf("%q %q: %v", expr, tz, err)
	}
	return e
}

// TestNextAfterDST walks schedules through the spring-forward gap and the fall-back overlap.
func TestNextAfterDST(t *testing.T) {
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct {
		name, expr, tz string
		from           string
		want           []string // successive NextAfter results, in UTC
	}{
		// Berlin springs forward on 2026-03-29 at 02:00 CET to 03:00 CEST: 02:30 does not
		// exist that day and has no run; the next is 02:30 CEST on the 30th.
		{"02:30 daily, Berlin spring forward", "30 2 * * *", "Europe/Berlin", "2026-03-28T02:00:00Z",
			[]string{"2026-03-30T00:30:00Z", "2026-03-31T00:30:00Z"}},
		// New York springs forward on 2026-03-08 at 02:00 EST to 03:00 EDT.
		{"02:30 daily, New York spring forward", "30 2 * * *", "America/New_York", "2026-03-07T08:00:00Z",
			[]string{"2026-03-09T06:30:00Z"}},
		// Berlin falls back on 2026-10-25 at 03:00 CEST to 02:00 CET: 02:30 comes twice, one run.
		{"02:30 daily, Berlin fall back", "30 2 * * *", "Europe/Berlin", "2026-10-24T02:00:00Z",
			[]string{"2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"}},
		// New York falls back on 2026-11-01 at 02:00 EDT to 01:00 EST: 01:30 comes twice, one run
		// (at 01:30 EDT, the first).
		{"01:30 daily, New York fall back", "30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z",
			[]string{"2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"}},
		// An hourly job runs in both of the repeated hours, and skips the missing one.
		{"hourly :15, New York fall back", "15 * * * *", "America/New_York", "2026-11-01T04:20:00Z",
			[]string{"2026-11-01T05:15:00Z", "2026-11-01T06:15:00Z", "2026-11-01T07:15:00Z"}},
		{"hourly :15, Berlin spring forward", "15 * * * *", "Europe/Berlin", "2026-03-29T00:20:00Z",
			[]string{"2026-03-29T01:15:00Z", "2026-03-29T02:15:00Z"}},
		// 03:00 Berlin is 02:00 UTC in winter and 01:00 UTC in summer: 23 h apart that day.
		{"03:00 daily, Berlin spring forward", "0 3 * * *", "Europe/Berlin", "2026-03-28T00:00:00Z",
			[]string{"2026-03-28T02:00:00Z", "2026-03-29T01:00:00Z", "2026-03-30T01:00:00Z"}},
		{"weekdays 09:00 Berlin over a weekend", "0 9 * * 1-5", "Europe/Berlin", "2026-03-27T09:00:00Z",
			[]string{"2026-03-30T07:00:00Z"}},
		{"@daily", "@daily", "", "2026-03-28T10:00:00Z", []string{"2026-03-29T00:00:00Z"}},
		{"@hourly", "@hourly", "Asia/Kolkata", "2026-03-28T10:00:00Z", []string{"2026-03-28T10:30:00Z"}},
		{"@monthly", "@monthly", "", "2026-03-28T10:00:00Z", []string{"2026-04-01T00:00:00Z"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := cronExpect(t, c.expr, c.tz)
			at := utc(c.from)
			for i, w := range c.want {
				at = e.NextAfter(at)
				if !at.Equal(utc(w)) {
					t.Fatalf("step %d: NextAfter = %v (%v), want %v", i, at, at.In(e.Location()), w)
				}
			}
		})
	}
	p := Expectation{Every: 15 * time.Minute}
	if got := p.NextAfter(utc("2026-03-29T00:50:00Z")); !got.Equal(utc("2026-03-29T01:05:00Z")) {
		t.Fatalf("a period ignores DST: %v", got)
	}
}

func TestCronErrors(t *testing.T) {
	for expr, want := range map[string]string{
		"0 3 * *":          "5 fields",
		"0 0 3 * * *":      "5 fields",
		"61 * * * *":       "5 fields",
		"@every 1h":        "every_s",
		"TZ=UTC 0 3 * * *": `"tz"`,
		"0 0 30 2 *":       "never",
		"@fortnightly":     "5 fields",
	} {
		e := Expectation{Cron: expr}
		if err := e.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error mentioning %s", expr, err, want)
		}
	}
	for tz, want := range map[string]string{"Mars/Olympus": "IANA", "Local": "IANA"} {
		e := Expectation{Cron: "0 3 * * *", TZ: tz}
		if err := e.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("tz %q: %v", tz, err)
		}
	}
}

func TestDetection(t *testing.T) {
	day := func(d, h, m int) time.Time { return time.Date(2026, 3, d, h, m, 0, 0, time.UTC) }
	nightly := cronExpect(t, "0 3 * * *", "")
	nightly.Grace = 30 * time.Minute
	for _, c := range []struct {
		last, due time.Time
	}{
		{day(2, 3, 0), day(3, 3, 0)},
		{day(2, 2, 58), day(3, 3, 0)}, // came early for the 2nd's slot
		{day(2, 3, 40), day(3, 3, 0)}, // came late
		{day(2, 2, 20), day(2, 3, 0)}, // too early to be that slot's: a manual run
		{day(2, 14, 0), day(3, 3, 0)},
	} {
		due, deadline := nightly.Due(c.last)
		if !due.Equal(c.due) || !deadline.Equal(c.due.Add(30*time.Minute)) {
			t.Errorf("last %v: due %v deadline %v, want %v", c.last, due, deadline, c.due)
		}
	}
	if nightly.Missed(day(2, 3, 0), day(3, 3, 29)) || !nightly.Missed(day(2, 3, 0), day(3, 3, 31)) {
		t.Error("missed should turn at 03:30")
	}
	// The spring-forward day has no 02:30: no false alarm on the 29th.
	gap := cronExpect(t, "30 2 * * *", "Europe/Berlin")
	last := time.Date(2026, 3, 28, 2, 30, 0, 0, berlin)
	if gap.Missed(last, time.Date(2026, 3, 29, 12, 0, 0, 0, berlin)) {
		t.Error("missed on the day 02:30 does not exist")
	}
	if !gap.Missed(last, time.Date(2026, 3, 30, 12, 0, 0, 0, berlin)) {
		t.Error("not missed a day later")
	}
	// New York's 01:30 comes twice on 2026-11-01; the run at the first is that night's.
	overlap := cronExpect(t, "30 1 * * *", "America/New_York")
	overlap.Grace = 15 * time.Minute
	first01 := time.Date(2026, 11, 1, 5, 30, 20, 0, time.UTC) // 01:30:20 EDT
	if overlap.Missed(first01, time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)) {
		t.Error("missed at 03:00 EST: the repeated 01:30 EST was taken for a second run")
	}
	if due, _ := overlap.Due(first01); !due.Equal(time.Date(2026, 11, 2, 6, 30, 0, 0, time.UTC)) {
		t.Errorf("due %v, want 01:30 EST on the 2nd", due)
	}
	// A period counts from the last run; the default grace is a tenth of it (1 min to 1 h).
	q := Expectation{Every: 15 * time.Minute}
	due, deadline := q.Due(day(2, 10, 0))
	if !due.Equal(day(2, 10, 15)) || deadline.Sub(due) != 90*time.Second {
		t.Errorf("every 15 min: due %v deadline %v", due, deadline)
	}
	for p, want := range map[time.Duration]time.Duration{time.Minute: time.Minute, time.Hour: 6 * time.Minute, 24 * time.Hour: time.Hour} {
		if g := (Expectation{Every: p}).GraceAt(day(2, 0, 0)); g != want {
			t.Errorf("default grace for %v: %v, want %v", p, g, want)
		}
	}
	if g := nightly.GraceAt(day(2, 3, 0)); g != 30*time.Minute {
		t.Errorf("declared grace: %v", g)
	}
	first, _ := nightly.FirstDue(day(2, 2, 59))
	if !first.Equal(day(2, 3, 0)) {
		t.Errorf("first due %v", first)
	}
	// The server was down from 03:10 to 05:00: the 03:00 run gets its grace again from 05:00.
	d, dl := nightly.Due(day(1, 3, 0))
	if got := nightly.Resumed(d, dl, day(2, 5, 0)); !got.Equal(day(2, 5, 30)) {
		t.Errorf("resumed deadline %v", got)
	}
	if got := nightly.Resumed(d, dl, day(2, 3, 5)); !got.Equal(day(2, 3, 35)) {
		t.Errorf("up at 03:05: %v, want 03:35", got)
	}
	if got := nightly.Resumed(d, dl, day(2, 2, 0)); !got.Equal(dl) {
		t.Errorf("up before it was due, the deadline moved: %v", got)
	}
	// Overdue: a run still going after its max duration.
	run := Expectation{Every: time.Hour, MaxDuration: 2 * time.Hour}
	if at, ok := run.OverdueAt(day(2, 1, 0)); !ok || !at.Equal(day(2, 3, 0)) {
		t.Errorf("overdue at %v %v", at, ok)
	}
	if run.Overdue(day(2, 1, 0), day(2, 2, 59)) || !run.Overdue(day(2, 1, 0), day(2, 3, 1)) {
		t.Error("overdue should turn at 03:00")
	}
	if _, ok := q.OverdueAt(day(2, 1, 0)); ok {
		t.Error("overdue without a max duration")
	}
	b := Expectation{Every: time.Hour, MinDuration: time.Second, MaxDuration: time.Minute}
	if b.CheckDuration(200*time.Millisecond) != TooFast || b.CheckDuration(2*time.Minute) != TooSlow || b.CheckDuration(3*time.Second) != Fine {
		t.Error("CheckDuration")
	}
	if TooSlow.String() != "slow" || TooFast.String() != "fast" {
		t.Error("verdicts are named as incident kinds")
	}
	if (Expectation{AlertAfter: 0}).Failures() != 1 || (Expectation{AlertAfter: 3}).Failures() != 3 {
		t.Error("Failures")
	}
}
