package expect

import (
	"testing"
	"time"
)

// Learn runs for a job after each commit that adds a run: it must cost microseconds.
func BenchmarkLearn(b *testing.B) {
	t0 := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	histories := map[string]struct {
		runs  []Run
		zones []*time.Location
	}{
		"every5min":   {learnRuns(learnSeries(100, 5*time.Second, 1, func(i int) time.Time { return t0.Add(time.Duration(i) * 5 * time.Minute) }), 3*time.Second), nil},
		"hourly":      {learnRuns(learnSeries(100, 20*time.Second, 1, func(i int) time.Time { return t0.Add(time.Duration(i)*time.Hour + 15*time.Minute) }), 3*time.Second), []*time.Location{berlin}},
		"dailyBerlin": {learnRuns(learnSeries(100, 4*time.Minute, 1, func(i int) time.Time { return time.Date(2026, 1, 1+i, 3, 0, 0, 0, berlin) }), 3*time.Second), []*time.Location{berlin}},
		"officeHours": {learnRuns(learnOfficeHours(16, false)[8:], time.Second), []*time.Location{berlin}},
		"weekly":      {learnRuns(learnSeries(100, 2*time.Minute, 1, func(i int) time.Time { return time.Date(2026, 1, 5+7*i, 3, 30, 0, 0, berlin) }), time.Minute), []*time.Location{berlin}},
		"random":      {learnRuns(learnSeries(100, 40*time.Hour, 1, func(i int) time.Time { return t0.Add(time.Duration(i) * 3 * time.Hour) }), time.Second), []*time.Location{berlin}},
	}
	for name, h := range histories {
		b.Run(name, func(b *testing.B) {
			if _, ok := Learn(h.runs, Options{Zones: h.zones}); ok != (name != "random") {
				b.Fatalf("%s: learned %v", name, ok)
			}
			b.ReportAllocs()
			for b.Loop() {
				Learn(h.runs, Options{Zones: h.zones})
			}
		})
	}
}

// The evaluator asks for the next slot after each run: from times spread over a year.
func BenchmarkNextAfter(b *testing.B) {
	e := Expectation{Cron: "0 9 * * 1-5", TZ: "Europe/Berlin"}
	if err := e.Validate(); err != nil {
		b.Fatal(err)
	}
	from := benchTimes()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		e.NextAfter(from[i%len(from)])
		i++
	}
}

func BenchmarkDue(b *testing.B) {
	e := Expectation{Cron: "30 1 * * *", TZ: "America/New_York", Grace: 30 * time.Minute}
	if err := e.Validate(); err != nil {
		b.Fatal(err)
	}
	from := benchTimes()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		e.Due(from[i%len(from)])
		i++
	}
}

func benchTimes() []time.Time {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	out := make([]time.Time, 256)
	for i := range out {
		out[i] = t0.Add(time.Duration(i) * 34 * time.Hour)
	}
	return out
}
