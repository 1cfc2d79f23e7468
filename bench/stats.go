package bench

import (
	"slices"
	"time"
)

// Quantile is the q-quantile (0 < q ≤ 1) of sorted durations, by the
// nearest-rank method: the smallest value with at least q of them at or
// below it.
func Quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(q*float64(len(sorted))+0.999999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

// Summary is the distribution of a set of durations.
type Summary struct {
	N                  int
	P50, P90, P99, Max time.Duration
}

// Summarize sorts d in place and summarizes it.
func Summarize(d []time.Duration) Summary {
	slices.Sort(d)
	s := Summary{N: len(d), P50: Quantile(d, 0.50), P90: Quantile(d, 0.90), P99: Quantile(d, 0.99)}
	if len(d) > 0 {
		s.Max = d[len(d)-1]
	}
	return s
}

// Millis renders a duration in milliseconds for the result lines.
func Millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
