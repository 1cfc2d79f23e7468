// Package retryafter reads the Retry-After header of a service that asks
// to be left alone for a while: the channel senders and the Web Push sender
// both honour it.
package retryafter

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Parse reads v as seconds or an HTTP date, capped at limit. Fractional
// seconds are accepted (Discord's 429 body gives 1.5, and its sender passes
// that on as the header). Anything unreadable, zero, negative or past is 0:
// the caller's own backoff applies then.
func Parse(v string, now time.Time, limit time.Duration) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" || limit <= 0 {
		return 0
	}
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		// Compared as seconds before converting: a huge value would
		// overflow a Duration and wrap to a negative one.
		if !(n > 0) || math.IsInf(n, 0) {
			return 0
		}
		if n >= limit.Seconds() {
			return limit
		}
		return time.Duration(n * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), limit)
	}
	return 0
}
