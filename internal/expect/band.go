package expect

import (
	"slices"
	"time"
)

// Band is how long a job's completed runs take, learned from their own spread.
type Band struct {
	Typical             time.Duration // the median
	UsualLow, UsualHigh time.Duration // most runs (10th to 90th percentile), for words
	Low, High           time.Duration // outside these a run is too fast / too slow; Low 0: no bound
}

// MinBandRuns is how many completed durations LearnBand needs.
const MinBandRuns = 5

// Floors so that noise is never "too slow" or "too fast": a run is slow only above
// the 90th percentile × 1.5, 6 robust sigmas above the median, and 10 s above it; fast only
// below a third of the 10th percentile and 6 sigmas below the median, and only for jobs
// that typically take a second or more (shorter ones vary with the machine, not the work).
const (
	slowFactor  = 1.5
	slowFloor   = 10 * time.Second
	fastDivisor = 3
	fastMinJob  = time.Second
	bandSigmas  = 6
)

// LearnBand learns the band from completed runs' durations (any order; negative ones are
// ignored). ok is false with fewer than MinBandRuns durations.
func LearnBand(durations []time.Duration) (b Band, ok bool) {
	var buf [128]time.Duration
	ds := buf[:0]
	for _, d := range durations {
		if d >= 0 {
			ds = append(ds, d)
		}
	}
	if len(ds) < MinBandRuns {
		return Band{}, false
	}
	slices.Sort(ds)
	m := quantile(ds, 0.5)
	dev := make([]time.Duration, len(ds))
	for i, d := range ds {
		dev[i] = absDur(d - m)
	}
	slices.Sort(dev)
	sigma := time.Duration(1.4826 * float64(quantile(dev, 0.5)))
	q10, q90 := quantile(ds, 0.1), quantile(ds, 0.9)
	b = Band{Typical: m, UsualLow: q10, UsualHigh: q90}
	b.High = max(time.Duration(float64(q90)*slowFactor), m+bandSigmas*sigma, m+slowFloor)
	if m >= fastMinJob {
		b.Low = max(0, min(q10/fastDivisor, m-bandSigmas*sigma))
	}
	return b, true
}

// Check judges a completed run's duration against the band.
func (b Band) Check(d time.Duration) Verdict {
	switch {
	case b.High > 0 && d > b.High:
		return TooSlow
	case b.Low > 0 && d < b.Low:
		return TooFast
	}
	return Fine
}

// quantile of sorted xs, linearly interpolated.
func quantile(xs []time.Duration, p float64) time.Duration {
	if len(xs) == 0 {
		return 0
	}
	pos := p * float64(len(xs)-1)
	i := int(pos)
	if i >= len(xs)-1 {
		return xs[len(xs)-1]
	}
	return xs[i] + time.Duration((pos-float64(i))*float64(xs[i+1]-xs[i]))
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
