package expect

import (
	"slices"
	"time"
)

// Run is one run of a job, as the learner sees it.
type Run struct {
	Start    time.Time     // when it started: a completed event's timestamp minus its duration
	Duration time.Duration // how long it took; negative when not known (still running)
}

// Options tune Learn.
type Options struct {
	// Zones to look for a calendar rhythm in ("daily at 03:00" in Europe/Berlin stays at
	// 03:00 across DST), most likely first: the session's or phone's zone. UTC is always tried.
	Zones []*time.Location
}

const (
	// MinRuns is the fewest runs Learn learns from; by 6 a regular job is learned even with
	// one missed or one extra run among them.
	MinRuns = 5
	// MaxRuns: Learn looks at the most recent runs only (a job that changed its rhythm is
	// relearned, and the cost stays bounded).
	MaxRuns = 100
)

// What "explains most runs" means: at least minFit of the runs fall on the expectation's
// slots, at least minFit of its slots between the first and last run have a run, and at
// least minMatched runs do.
const (
	minFit        = 0.75
	minMatched    = 5
	minMatchedOdd = 8
)

// Learn infers a job's expectation from its runs (any order). ok is false, and nothing is
// returned, when no cadence explains the history well enough: a wrong guess would alarm.
// The result has Source Learned, a Grace from the job's own jitter and, with MinBandRuns
// known durations, the duration band (MinDuration, MaxDuration, Typical, Usual*).
// It allocates little and takes microseconds (BenchmarkLearn).
func Learn(runs []Run, opt Options) (e Expectation, ok bool) {
	if len(runs) < MinRuns {
		return Expectation{}, false
	}
	var sbuf [MaxRuns + 1]int64
	starts := sbuf[:0]
	sorted := true
	for i, r := range runs {
		if i > 0 && r.Start.Before(runs[i-1].Start) {
			sorted = false
		}
	}
	from := 0
	if sorted && len(runs) > MaxRuns {
		from = len(runs) - MaxRuns
	}
	if !sorted && len(runs) > MaxRuns {
		starts = make([]int64, 0, len(runs))
	}
	for _, r := range runs[from:] {
		starts = append(starts, r.Start.UnixMilli())
	}
	if !sorted {
		slices.Sort(starts)
		if len(starts) > MaxRuns {
			starts = starts[len(starts)-MaxRuns:]
		}
	}

	best := fitFixed(starts)
	if kind := calendarKind(best.p0); kind != noCalendar {
		zones := append(opt.Zones[:len(opt.Zones):len(opt.Zones)], time.UTC)
		for i, loc := range zones {
			if loc == nil || loc == time.UTC && i < len(zones)-1 {
				continue
			}
			c := fitCalendar(starts, kind, loc)
			if c.unsure {
				return Expectation{}, false
			}
			// A calendar rhythm wins a near tie: it is drift-free and knows DST.
			if c.ok && (!best.ok || c.score > best.score-0.05 && (best.cron == "" || c.score > best.score)) {
				best = c
			}
			if best.cron != "" && best.score == 1 {
				break // nothing explains it better; the zones after this one are less likely
			}
		}
	}
	if !best.ok {
		return Expectation{}, false
	}
	e = Expectation{Source: Learned, Every: best.every, Cron: best.cron, Grace: best.grace}
	if best.cron != "" && best.loc != time.UTC {
		e.TZ = best.loc.String()
	}
	var dbuf [MaxRuns]time.Duration
	ds := dbuf[:0]
	for _, r := range runs[max(0, len(runs)-MaxRuns):] {
		if r.Duration >= 0 {
			ds = append(ds, r.Duration)
		}
	}
	if b, ok := LearnBand(ds); ok {
		e.Typical, e.UsualLow, e.UsualHigh = b.Typical, b.UsualLow, b.UsualHigh
		e.MinDuration, e.MaxDuration = b.Low, b.High
	}
	if e.Validate() != nil { // compiles the schedule once, for the evaluator's NextAfter
		return Expectation{}, false
	}
	return e, true
}

// fit is one candidate expectation and how well it explains the history.
type fit struct {
	ok    bool
	p0    time.Duration // median interval between runs
	every time.Duration
	cron  string
	loc   *time.Location
	grace time.Duration
	score float64 // share of runs explained × share of slots filled
	// unsure: the history cannot tell this rhythm from another (daily or weekdays?), so
	// nothing may be learned, not even a period that fits.
	unsure bool
}

// graceFor: 6 robust sigmas of the residuals or 1.5 × the largest one, whichever is more,
// but at least 30 s and 1/48 of the gap (so a perfectly punctual job still has slack) and at
// most half the gap (so a run is never both late for one slot and early for the next).
func graceFor(resid []int64, gap time.Duration) time.Duration {
	var abuf [MaxRuns]int64
	abs := abuf[:0]
	maxAbs := int64(0)
	for _, r := range resid {
		r = max(r, -r)
		abs = append(abs, r)
		maxAbs = max(maxAbs, r)
	}
	slices.Sort(abs)
	mad := medianInt(abs)
	g := time.Duration(max(6*1.4826*float64(mad), 1.5*float64(maxAbs))) * time.Millisecond
	return clamp(g.Round(time.Second), max(30*time.Second, gap/48), gap/2)
}

// fitFixed fits a fixed period: the median interval, refined over the runs that fall on it
// (an extra run splits one interval, a missed one doubles it: neither moves the median).
func fitFixed(starts []int64) fit {
	n := len(starts)
	var ibuf [MaxRuns]int64
	iv := ibuf[:0]
	for i := 1; i < n; i++ {
		iv = append(iv, starts[i]-starts[i-1])
	}
	slices.Sort(iv)
	f := fit{p0: time.Duration(medianInt(iv)) * time.Millisecond}
	if f.p0 < 50*time.Second || f.p0 > MaxEvery+24*time.Hour {
		return f
	}
	p := f.p0.Milliseconds()
	for range 2 {
		w := walkFixed(starts, p, nil)
		if w.slots == 0 {
			return f
		}
		p = w.span / w.slots
	}
	every, round := nicePeriod(time.Duration(p) * time.Millisecond)
	if every < MinEvery || every > MaxEvery {
		return f
	}
	var rbuf [MaxRuns]int64
	w := walkFixed(starts, every.Milliseconds(), rbuf[:0])
	runsFit, slotsFit := float64(w.matched)/float64(n), float64(w.matched-1)/float64(max(w.slots, 1))
	need := minMatched
	if !round {
		// Any few random times fit some odd period (1 in 1,000 histories of 5): an odd period
		// needs a longer history than the 15 minutes, 6 hours or days people schedule.
		need = minMatchedOdd
	}
	if w.matched < need || runsFit < minFit || slotsFit < minFit {
		return f
	}
	f.ok, f.every, f.score = true, every, runsFit*slotsFit
	f.grace = graceFor(w.resid, every)
	if every >= 23*time.Hour {
		// A period of days may be a local time of day, which moves by an hour at DST changes.
		f.grace = min(time.Hour+f.grace, every/2)
	}
	return f
}

type walk struct {
	matched     int
	slots, span int64
	resid       []int64
}

// walkFixed follows the runs from an anchor (the first run whose next interval is about p),
// forward and backward, counting those a whole number of periods from the last one matched.
func walkFixed(starts []int64, p int64, resid []int64) walk {
	tol := p / 10
	anchor := -1
	for i := 1; i < len(starts); i++ {
		if abs64(starts[i]-starts[i-1]-p) <= tol {
			anchor = i - 1
			break
		}
	}
	w := walk{resid: resid}
	if anchor < 0 {
		return w
	}
	w.matched = 1
	step := func(d int64) bool {
		k := (d + p/2) / p
		if k < 1 || abs64(d-k*p) > tol {
			return false
		}
		w.matched++
		w.slots += k
		w.span += d
		if w.resid != nil {
			w.resid = append(w.resid, d-k*p)
		}
		return true
	}
	for i, prev := anchor+1, starts[anchor]; i < len(starts); i++ {
		if step(starts[i] - prev) {
			prev = starts[i]
		}
	}
	for i, next := anchor-1, starts[anchor]; i >= 0; i-- {
		if step(next - starts[i]) {
			next = starts[i]
		}
	}
	return w
}

// nicePeriod rounds a period to a round one within 2% (15 min, not 14 min 53 s), else to
// the second (under 10 minutes) or the minute; round says which.
func nicePeriod(p time.Duration) (_ time.Duration, round bool) {
	for _, m := range [...]int{1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 45, 60, 90, 120, 180, 240, 360, 480, 720,
		1440, 2 * 1440, 3 * 1440, 7 * 1440, 14 * 1440, 28 * 1440, 30 * 1440} {
		c := time.Duration(m) * time.Minute
		if absDur(p-c) <= c/50 {
			return c, true
		}
	}
	if p < 10*time.Minute {
		return p.Round(time.Second), false
	}
	return p.Round(time.Minute), false
}

func medianInt(sorted []int64) int64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
