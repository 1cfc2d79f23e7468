package expect

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

var (
	berlin  = mustZone("Europe/Berlin")
	newYork = mustZone("America/New_York")
)

func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// learnSeries makes n run starts: at(i) plus a jitter uniform in ±jitter (seeded).
func learnSeries(n int, jitter time.Duration, seed uint64, at func(i int) time.Time) []time.Time {
	r := rand.New(rand.NewPCG(seed, 7))
	out := make([]time.Time, n)
	for i := range out {
		j := time.Duration(0)
		if jitter > 0 {
			j = time.Duration(r.Int64N(int64(2*jitter))) - jitter
		}
		out[i] = at(i).Add(j)
	}
	return out
}

func learnRuns(ts []time.Time, d time.Duration) []Run {
	runs := make([]Run, len(ts))
	for i, t := range ts {
		runs[i] = Run{Start: t, Duration: d}
	}
	return runs
}

// Weekdays from Monday 2026-03-02 (Berlin), skipping weekends.
func learnWeekday(i int, hour, min int, loc *time.Location) time.Time {
	d := 0
	for k := 0; k < i; k++ {
		d++
		for wd := time.Date(2026, 3, 2+d, 12, 0, 0, 0, loc).Weekday(); wd == time.Saturday || wd == time.Sunday; wd = time.Date(2026, 3, 2+d, 12, 0, 0, 0, loc).Weekday() {
			d++
		}
	}
	return time.Date(2026, 3, 2+d, hour, min, 0, 0, loc)
}

func TestLearnCadences(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC) // a Monday
	cases := []struct {
		name   string
		at     func(i int) time.Time
		jitter time.Duration
		zones  []*time.Location
		every  time.Duration
		cron   string
		tz     string
		words  string
	}{
		{"every minute", func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }, 2 * time.Second, nil,
			time.Minute, "", "", "every minute"},
		{"every 5 minutes", func(i int) time.Time { return t0.Add(time.Duration(i) * 5 * time.Minute) }, 5 * time.Second, nil,
			5 * time.Minute, "", "", "every 5 minutes"},
		{"every 15 minutes, a sleep loop that drifts", func(i int) time.Time { return t0.Add(time.Duration(i) * (15*time.Minute + 9*time.Second)) }, time.Second, nil,
			15 * time.Minute, "", "", "every 15 minutes"},
		{"hourly at :15", func(i int) time.Time { return t0.Add(time.Duration(i)*time.Hour + 15*time.Minute) }, 20 * time.Second, nil,
			0, "15 * * * *", "", "hourly around :15"},
		{"daily at 03:00 ±4 min", func(i int) time.Time { return time.Date(2026, 3, 2+i, 3, 0, 0, 0, time.UTC) }, 4 * time.Minute, nil,
			0, "0 3 * * *", "", "every day around 03:00"},
		{"weekdays at 09:00 Berlin", func(i int) time.Time { return learnWeekday(i, 9, 0, berlin) }, 30 * time.Second, []*time.Location{berlin},
			0, "0 9 * * 1-5", "Europe/Berlin", "weekdays around 09:00 (Europe/Berlin)"},
		{"every 6 hours", func(i int) time.Time { return t0.Add(time.Duration(i) * 6 * time.Hour) }, time.Minute, nil,
			6 * time.Hour, "", "", "every 6 hours"},
		{"weekly on Monday 03:30", func(i int) time.Time { return time.Date(2026, 3, 2+7*i, 3, 30, 0, 0, time.UTC) }, 2 * time.Minute, nil,
			0, "30 3 * * 1", "", "every Monday around 03:30"},
		{"every 30 days", func(i int) time.Time { return t0.Add(time.Duration(i) * 30 * 24 * time.Hour) }, 10 * time.Minute, nil,
			30 * 24 * time.Hour, "", "", "every 30 days"},
		{"monthly on the 1st at 02:00", func(i int) time.Time { return time.Date(2026, time.Month(1+i), 1, 2, 0, 0, 0, time.UTC) }, time.Minute, nil,
			0, "0 2 1 * *", "", "monthly on the 1st around 02:00"},
		{"daily 03:00 Berlin across spring forward", func(i int) time.Time { return time.Date(2026, 3, 26+i, 3, 0, 0, 0, berlin) }, 2 * time.Minute, []*time.Location{berlin},
			0, "0 3 * * *", "Europe/Berlin", "every day around 03:00 (Europe/Berlin)"},
		{"daily 03:00 Berlin across fall back", func(i int) time.Time { return time.Date(2026, 10, 22+i, 3, 0, 0, 0, berlin) }, 2 * time.Minute, []*time.Location{newYork, berlin},
			0, "0 3 * * *", "Europe/Berlin", "every day around 03:00 (Europe/Berlin)"},
		{"hourly at :45 Berlin across spring forward", func(i int) time.Time {
			return time.Date(2026, 3, 29, 0, 45, 0, 0, time.UTC).Add(time.Duration(i) * time.Hour)
		}, 10 * time.Second, []*time.Location{berlin},
			0, "45 * * * *", "", "hourly around :45"},
	}
	for _, c := range cases {
		base := learnSeries(7, c.jitter, 1, c.at)
		mid := base[2].Add(base[3].Sub(base[2]) * 2 / 5) // a manual run, 40% into an interval
		variants := map[string][]time.Time{
			"clean":   base[:6],
			"missing": slices.Delete(slices.Clone(base), 3, 4),
			"extra":   append(slices.Clone(base[:6]), mid),
			"all 7":   base,
		}
		for v, ts := range variants {
			t.Run(c.name+"/"+v, func(t *testing.T) {
				e, ok := Learn(learnRuns(ts, 3200*time.Millisecond), Options{Zones: c.zones})
				if !ok {
					t.Fatalf("not learned from %v", ts)
				}
				if e.Every != c.every || e.Cron != c.cron || e.TZ != c.tz {
					t.Fatalf("learned every=%v cron=%q tz=%q, want every=%v cron=%q tz=%q", e.Every, e.Cron, e.TZ, c.every, c.cron, c.tz)
				}
				if e.Source != Learned || e.Grace <= 0 {
					t.Fatalf("source %q grace %v", e.Source, e.Grace)
				}
				if err := e.Validate(); err != nil {
					t.Fatalf("learned an invalid expectation: %v", err)
				}
				if got, want := e.Describe(), c.words+", usually 3 s"; got != want {
					t.Fatalf("Describe() = %q, want %q", got, want)
				}
				// Every run of the clean history arrives before its deadline.
				for i := 1; i < len(base); i++ {
					if _, dl := e.Due(base[i-1]); base[i].After(dl) {
						t.Fatalf("run %d at %v is after the deadline %v (grace %v) set by the run before", i, base[i], dl, e.Grace)
					}
				}
			})
		}
	}
}

func TestLearnGraceFollowsJitter(t *testing.T) {
	// Across Berlin's spring forward, so the zone is known: the grace is the job's own.
	at := func(i int) time.Time { return time.Date(2026, 3, 24+i, 3, 0, 0, 0, berlin) }
	zone := Options{Zones: []*time.Location{berlin}}
	tight, _ := Learn(learnRuns(learnSeries(8, 10*time.Second, 3, at), -1), zone)
	loose, _ := Learn(learnRuns(learnSeries(8, 25*time.Minute, 3, at), -1), zone)
	if tight.Cron != "0 3 * * *" || loose.Cron != "0 3 * * *" || tight.TZ != "Europe/Berlin" {
		t.Fatalf("cron %q %q / %q", tight.Cron, tight.TZ, loose.Cron)
	}
	if tight.Grace < 28*time.Minute || tight.Grace > 30*time.Minute || loose.Grace <= tight.Grace || loose.Grace > 12*time.Hour {
		t.Fatalf("grace: punctual job %v (want the 30 min floor), jittery job %v (want more, at most half a day)", tight.Grace, loose.Grace)
	}
	// In March before the change, Berlin cannot be told from Lagos or UTC+1: an hour more, so
	// that the next DST change (the job an hour early or late) raises no false alarm.
	before := func(i int) time.Time { return time.Date(2026, 3, 2+i, 3, 0, 0, 0, berlin) }
	unsure, _ := Learn(learnRuns(learnSeries(8, 10*time.Second, 3, before), -1), zone)
	if unsure.Cron != "0 3 * * *" || unsure.Grace != 90*time.Minute {
		t.Fatalf("before any DST change: %q grace %v, want 1 h 30 min", unsure.Cron, unsure.Grace)
	}
	// If the job in fact keeps UTC (02:00 UTC, 03:00 in Berlin's winter), it comes an hour
	// late by Berlin's summer clock: within that hour, every day, no false alarm.
	for d := 28; d < 33; d++ {
		prev, cur := time.Date(2026, 3, d, 2, 0, 0, 0, time.UTC), time.Date(2026, 3, d+1, 2, 0, 0, 0, time.UTC)
		if _, deadline := unsure.Due(prev); cur.After(deadline) {
			t.Fatalf("the run at %v is after the deadline %v", cur, deadline)
		}
	}
	t.Logf("grace: %v / %v / %v", tight.Grace, loose.Grace, unsure.Grace)
	every, _ := Learn(learnRuns(learnSeries(8, 0, 1, func(i int) time.Time { return time.Unix(0, 0).Add(time.Duration(i) * time.Minute) }), -1), Options{})
	if every.Every != time.Minute || every.Grace != 30*time.Second {
		t.Fatalf("every minute: %v grace %v, want 30 s (floor and cap: half the period)", every.Every, every.Grace)
	}
}

func TestLearnNotConfident(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	for seed := range uint64(300) {
		r := rand.New(rand.NewPCG(seed, 11))
		n := 5 + r.IntN(20)
		ts := make([]time.Time, n)
		span := time.Duration(1+r.IntN(30*24)) * time.Hour
		for i := range ts {
			ts[i] = t0.Add(time.Duration(r.Int64N(int64(span))))
		}
		if e, ok := Learn(learnRuns(ts, time.Second), Options{Zones: []*time.Location{berlin}}); ok {
			t.Fatalf("seed %d: learned %q from %d random times over %v", seed, e.Describe(), n, span)
		}
	}
	few := learnSeries(4, 0, 1, func(i int) time.Time { return t0.Add(time.Duration(i) * time.Hour) })
	if _, ok := Learn(learnRuns(few, time.Second), Options{}); ok {
		t.Fatal("learned from 4 runs")
	}
	// Two rhythms at once (every 10 min, and bursts): no single one explains most runs.
	var mixed []time.Time
	for i := range 4 {
		mixed = append(mixed, t0.Add(time.Duration(i)*10*time.Minute))
	}
	for i := range 4 {
		mixed = append(mixed, t0.Add(3*time.Hour+time.Duration(i*i*7)*time.Minute))
	}
	if e, ok := Learn(learnRuns(mixed, time.Second), Options{}); ok {
		t.Fatalf("learned %q from two rhythms", e.Describe())
	}
	// Monday to Friday at 09:00 and no weekend yet: daily or weekdays? It cannot tell, so it
	// says nothing (a guess of "daily" would alarm on Saturday).
	week := learnSeries(5, 30*time.Second, 1, func(i int) time.Time { return learnWeekday(i, 9, 0, berlin) })
	if e, ok := Learn(learnRuns(week, time.Second), Options{Zones: []*time.Location{berlin}}); ok {
		t.Fatalf("learned %q from Monday to Friday", e.Describe())
	}
	// Runs in bursts at the same minute on random days are not a daily job.
	var bursts []time.Time
	for _, d := range []int{0, 1, 5, 6, 13, 20, 21} {
		bursts = append(bursts, t0.AddDate(0, 0, d).Add(9*time.Hour))
	}
	if e, ok := Learn(learnRuns(bursts, time.Second), Options{}); ok {
		t.Fatalf("learned %q from runs on scattered days", e.Describe())
	}
}

func TestLearnUnsortedAndLong(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	ts := learnSeries(250, 3*time.Second, 5, func(i int) time.Time { return t0.Add(time.Duration(i) * 5 * time.Minute) })
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(ts), func(i, j int) { ts[i], ts[j] = ts[j], ts[i] })
	e, ok := Learn(learnRuns(ts, time.Second), Options{})
	if !ok || e.Every != 5*time.Minute {
		t.Fatalf("got %v %v", e.Every, ok)
	}
}

func TestLearnBand(t *testing.T) {
	ds := []time.Duration{3100 * time.Millisecond, 3400 * time.Millisecond, 3900 * time.Millisecond, 3200 * time.Millisecond, 3600 * time.Millisecond, 3300 * time.Millisecond}
	b, ok := LearnBand(ds)
	if !ok {
		t.Fatal("no band from 6 durations")
	}
	for _, c := range []struct {
		d    time.Duration
		want Verdict
	}{
		{200 * time.Millisecond, TooFast}, // the backup that "finished" in 0.2 s
		{3400 * time.Millisecond, Fine},   // a 3 s job does not alert at 3.4 s
		{2 * time.Second, Fine},
		{6 * time.Second, Fine},
		{12 * time.Second, Fine},
		{15 * time.Second, TooSlow},
		{10 * time.Minute, TooSlow},
	} {
		if got := b.Check(c.d); got != c.want {
			t.Errorf("%v: %v, want %v (band %+v)", c.d, got, c.want, b)
		}
	}
	if got := durationRange(b.UsualLow, b.UsualHigh); got != "3–4 s" {
		t.Errorf("usual range %q", got)
	}
	// A job of milliseconds has no lower bound: its spread is the machine's, not the work's.
	fast, _ := LearnBand([]time.Duration{40 * time.Millisecond, 50 * time.Millisecond, 45 * time.Millisecond, 42 * time.Millisecond, 60 * time.Millisecond})
	if fast.Low != 0 || fast.Check(time.Millisecond) != Fine || fast.Check(11*time.Second) != TooSlow {
		t.Errorf("ms job band %+v", fast)
	}
	// An hour-long job with a tight spread: slow well before twice its length.
	hour, _ := LearnBand([]time.Duration{58 * time.Minute, time.Hour, 61 * time.Minute, 59 * time.Minute, 62 * time.Minute, 60 * time.Minute})
	if hour.Check(80*time.Minute) != Fine || hour.Check(100*time.Minute) != TooSlow || hour.Check(15*time.Minute) != TooFast {
		t.Errorf("hour job band %+v", hour)
	}
	if _, ok := LearnBand(ds[:4]); ok {
		t.Error("a band from 4 durations")
	}
	// Learn carries the band into the expectation.
	t0 := time.Date(2026, 3, 2, 3, 0, 0, 0, time.UTC)
	runs := make([]Run, len(ds))
	for i, d := range ds {
		runs[i] = Run{Start: t0.AddDate(0, 0, i), Duration: d}
	}
	e, ok := Learn(runs, Options{})
	if !ok || e.CheckDuration(200*time.Millisecond) != TooFast || e.Typical != b.Typical || e.Describe() != "every day around 03:00, usually 3–4 s" {
		t.Fatalf("learned %+v %q", e, e.Describe())
	}
}

// TestLearnRandomRegularJobs: regular jobs of random period, phase and jitter, each with one
// run missing or one manual extra run, are learned with their period (or its calendar form),
// and every run of the clean history arrives before the deadline the run before it set.
func TestLearnRandomRegularJobs(t *testing.T) {
	periods := []time.Duration{time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute,
		30 * time.Minute, time.Hour, 2 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour, 7 * 24 * time.Hour}
	for seed := range uint64(300) {
		r := rand.New(rand.NewPCG(seed, 99))
		p := periods[r.IntN(len(periods))]
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(r.Int64N(int64(60 * 24 * time.Hour)))).Truncate(time.Minute)
		jitter := time.Duration(r.Int64N(int64(p/50) + 1))
		n := 7 + r.IntN(20)
		base := learnSeries(n, jitter, seed, func(i int) time.Time { return t0.Add(time.Duration(i) * p) })
		ts := slices.Clone(base)
		if r.IntN(2) == 0 {
			k := 1 + r.IntN(n-2)
			ts = slices.Delete(ts, k, k+1)
		} else {
			k := r.IntN(n - 1)
			ts = append(ts, base[k].Add(time.Duration(float64(p)*(0.25+0.5*r.Float64()))))
		}
		e, ok := Learn(learnRuns(ts, time.Second), Options{})
		if !ok {
			t.Fatalf("seed %d: every %v ±%v, %d runs: not learned", seed, p, jitter, len(ts))
		}
		if e.Every != 0 && e.Every != p {
			t.Fatalf("seed %d: every %v learned as every %v", seed, p, e.Every)
		}
		if e.Cron != "" {
			if gap := e.NextAfter(e.NextAfter(t0)).Sub(e.NextAfter(t0)); gap != p {
				t.Fatalf("seed %d: every %v learned as %q (gap %v)", seed, p, e.Cron, gap)
			}
		}
		for i := 1; i < len(base); i++ {
			if _, dl := e.Due(base[i-1]); base[i].After(dl) {
				t.Fatalf("seed %d: %q: run %d at %v is after the deadline %v", seed, e.Describe(), i, base[i], dl)
			}
		}
	}
}

// learnOfficeHours: hourly at :15 from 09:15 to 17:15 in Berlin, on the given days from
// Monday 2026-03-16 (the change to summer time on the 29th included when days is long).
func learnOfficeHours(days int, weekends bool) []time.Time {
	var ts []time.Time
	for d := range days {
		day := time.Date(2026, 3, 16+d, 0, 0, 0, 0, berlin)
		if wd := day.Weekday(); !weekends && (wd == time.Saturday || wd == time.Sunday) {
			continue
		}
		for h := 9; h <= 17; h++ {
			ts = append(ts, time.Date(2026, 3, 16+d, h, 15, int(d*7+h)%40, 0, berlin))
		}
	}
	return ts
}

func TestLearnOfficeHours(t *testing.T) {
	zone := Options{Zones: []*time.Location{berlin}}
	for _, c := range []struct {
		name  string
		ts    []time.Time
		cron  string
		tz    string
		words string
	}{
		{"a morning: all day, as far as it knows", learnOfficeHours(1, false)[:6], "15 * * * *", "", "hourly around :15"},
		{"weekdays, two weeks", learnOfficeHours(12, false), "15 9-17 * * 1-5", "Europe/Berlin", "weekdays, hourly around :15 from 09:15 to 17:15 (Europe/Berlin)"},
		{"weekdays, across spring forward", learnOfficeHours(16, false)[20:], "15 9-17 * * 1-5", "Europe/Berlin", "weekdays, hourly around :15 from 09:15 to 17:15 (Europe/Berlin)"},
		{"every day", learnOfficeHours(9, true), "15 9-17 * * *", "Europe/Berlin", "hourly around :15 from 09:15 to 17:15 (Europe/Berlin)"},
	} {
		for v, ts := range map[string][]time.Time{
			"clean":   c.ts,
			"missing": slices.Delete(slices.Clone(c.ts), 3, 4),
			"extra":   append(slices.Clone(c.ts), c.ts[2].Add(25*time.Minute)),
		} {
			e, ok := Learn(learnRuns(ts, -1), zone)
			if !ok || e.Cron != c.cron || e.TZ != c.tz || e.Describe() != c.words {
				t.Errorf("%s/%s: %v %q %q %q", c.name, v, ok, e.Cron, e.TZ, e.Describe())
			}
		}
	}
	// Half-hour zones: office hours in India (+5:30) and Newfoundland (-3:30, with DST).
	for _, name := range []string{"Asia/Kolkata", "America/St_Johns"} {
		loc := mustZone(name)
		var ts []time.Time
		for d := range 14 {
			if wd := time.Date(2026, 3, 2+d, 12, 0, 0, 0, loc).Weekday(); wd == time.Saturday || wd == time.Sunday {
				continue
			}
			for h := 9; h <= 17; h++ {
				ts = append(ts, time.Date(2026, 3, 2+d, h, 15, 0, 0, loc))
			}
		}
		e, ok := Learn(learnRuns(ts, -1), Options{Zones: []*time.Location{loc}})
		if !ok || e.Cron != "15 9-17 * * 1-5" || e.TZ != name {
			t.Errorf("%s: %v %q %q", name, ok, e.Cron, e.TZ)
		}
	}
	// Monday to Thursday office hours, no weekend yet: every day or weekdays? Nothing.
	if e, ok := Learn(learnRuns(learnOfficeHours(4, false), -1), zone); ok {
		t.Errorf("learned %q before any weekend", e.Describe())
	}
	// A job that runs every hour but skipped one (a missed run) is not an office-hours job.
	allDay := learnSeries(30, 20*time.Second, 1, func(i int) time.Time { return time.Date(2026, 3, 2, i, 15, 0, 0, time.UTC) })
	if e, ok := Learn(learnRuns(slices.Delete(allDay, 20, 21), -1), zone); !ok || e.Cron != "15 * * * *" {
		t.Errorf("hourly with a missed run: %v %q", ok, e.Cron)
	}
	// Nor is one whose first day had a 5-hour outage: still hourly all day, the outage misses.
	allDay = learnSeries(30, 20*time.Second, 1, func(i int) time.Time { return time.Date(2026, 3, 2, i, 15, 0, 0, time.UTC) })
	if e, ok := Learn(learnRuns(slices.Delete(allDay, 8, 13), -1), zone); !ok || e.Cron != "15 * * * *" {
		t.Errorf("hourly with an outage: %v %q", ok, e.Cron)
	}
}
