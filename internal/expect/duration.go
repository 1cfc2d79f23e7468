package expect

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ParseDuration reads a duration the way people and the SDK write one: a number of seconds
// ("90", "1.5") or a sum of number+unit terms ("90s", "15m", "2h30m", "1d", "1w", "500ms").
// Units: ms, s, m, h, d (24 h), w (7 d). Months are not a unit: their length varies, so
// "every month" is a cron schedule ("0 3 1 * *"). Negative durations are rejected.
func ParseDuration(s string) (time.Duration, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return 0, errors.New(`empty duration: write seconds ("90") or a unit ("90s", "15m", "1d")`)
	}
	if f, err := strconv.ParseFloat(in, 64); err == nil {
		return Seconds(f)
	}
	var total float64 // in nanoseconds; float so that "1.5h" works
	rest := strings.ToLower(in)
	for rest != "" {
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		if i == 0 {
			return 0, badDuration(s)
		}
		n, err := strconv.ParseFloat(rest[:i], 64)
		if err != nil {
			return 0, badDuration(s)
		}
		rest = strings.TrimLeft(rest[i:], " ")
		j := 0
		for j < len(rest) && rest[j] >= 'a' && rest[j] <= 'z' {
			j++
		}
		unit, ok := durationUnits[rest[:j]]
		if !ok {
			return 0, badDuration(s)
		}
		rest = strings.TrimLeft(rest[j:], " ")
		total += n * float64(unit)
	}
	if total > math.MaxInt64 {
		return 0, fmt.Errorf("duration %q is too long", s)
	}
	return time.Duration(total), nil
}

// Seconds converts a number of seconds (as the wire's *_s fields carry it) to a Duration.
func Seconds(f float64) (time.Duration, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return 0, fmt.Errorf("duration %v: must be a number of seconds, 0 or more", f)
	}
	if f*float64(time.Second) > math.MaxInt64 {
		return 0, fmt.Errorf("duration of %v seconds is too long", f)
	}
	return time.Duration(f * float64(time.Second)), nil
}

var durationUnits = map[string]time.Duration{
	"ms": time.Millisecond, "s": time.Second, "sec": time.Second,
	"m": time.Minute, "min": time.Minute, "h": time.Hour,
	"d": 24 * time.Hour, "w": 7 * 24 * time.Hour,
}

func badDuration(s string) error {
	return fmt.Errorf(`duration %q not understood: write seconds ("90") or number+unit terms `+
		`with ms, s, m, h, d, w ("90s", "15m", "2h30m", "1d")`, s)
}
