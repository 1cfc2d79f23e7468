package expect

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Describe says the expectation the way the phone shows it: "every 15 minutes", "hourly at
// :15", "every day around 03:00, usually 3–4 s", "weekdays at 09:00 (Europe/Berlin)". A
// learned time is "around" (the job's own jitter); a declared one is exact. Schedules with no
// short phrase are shown as written ("cron 0 3 1-7 * 1").
func (e Expectation) Describe() string {
	if e.Off {
		return "not watched: turned off (failed runs still alert)"
	}
	var b strings.Builder
	switch {
	case e.Every > 0:
		b.WriteString(describePeriod(e.Every))
	case e.Cron != "":
		b.WriteString(e.describeCron())
		if e.TZ != "" && e.TZ != "UTC" {
			fmt.Fprintf(&b, " (%s)", e.TZ)
		}
	default:
		return "no schedule"
	}
	switch {
	case e.UsualHigh > 0:
		b.WriteString(", usually ")
		b.WriteString(durationRange(e.UsualLow, e.UsualHigh))
	case e.Typical > 0:
		b.WriteString(", usually ")
		b.WriteString(durationRange(e.Typical, e.Typical))
	case e.MaxDuration > 0:
		b.WriteString(", at most ")
		b.WriteString(durationRange(e.MaxDuration, e.MaxDuration))
	}
	return b.String()
}

func describePeriod(p time.Duration) string {
	const day, week = 24 * time.Hour, 7 * 24 * time.Hour
	unit := func(n int64, one, many string) string {
		if n == 1 {
			return "every " + one
		}
		return fmt.Sprintf("every %d %s", n, many)
	}
	switch {
	case p%week == 0:
		return unit(int64(p/week), "week", "weeks")
	case p%day == 0:
		return unit(int64(p/day), "day", "days")
	case p%time.Hour == 0:
		return unit(int64(p/time.Hour), "hour", "hours")
	case p%time.Minute == 0:
		return unit(int64(p/time.Minute), "minute", "minutes")
	}
	return "every " + durationWords(p)
}

var weekdayNames = [...]string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}

func (e Expectation) describeCron() string {
	at := "at"
	if e.Source == Learned {
		at = "around"
	}
	expr := strings.TrimSpace(e.Cron)
	switch expr {
	case "@hourly":
		expr = "0 * * * *"
	case "@daily", "@midnight":
		expr = "0 0 * * *"
	case "@weekly":
		expr = "0 0 * * 0"
	case "@monthly":
		expr = "0 0 1 * *"
	case "@yearly", "@annually":
		expr = "0 0 1 1 *"
	}
	f := strings.Fields(expr)
	raw := "cron " + e.Cron
	if len(f) != 5 {
		return raw
	}
	min, minOK := atoi(f[0])
	hour, hourOK := atoi(f[1])
	clock := fmt.Sprintf("%02d:%02d", hour, min)
	switch {
	case f[2] == "*" && f[3] == "*" && f[4] == "*" && f[1] == "*" && strings.HasPrefix(f[0], "*/"):
		if n, ok := atoi(f[0][2:]); ok && n > 0 && 60%n == 0 {
			return describePeriod(time.Duration(n) * time.Minute)
		}
	case !minOK:
	case f[1] == "*" && f[2] == "*" && f[3] == "*" && f[4] == "*":
		if at == "around" {
			return fmt.Sprintf("hourly around :%02d", min)
		}
		return fmt.Sprintf("hourly at :%02d", min)
	case f[1] == "*" && f[2] == "*" && f[3] == "*":
	case f[2] == "*" && f[3] == "*" && (f[4] == "*" || f[4] == "1-5") && hourSpan(f[1], min) != "":
		words := fmt.Sprintf("hourly %s :%02d %s", at, min, hourSpan(f[1], min))
		if f[4] == "1-5" {
			words = "weekdays, " + words
		}
		return words
	case strings.HasPrefix(f[1], "*/") && f[2] == "*" && f[3] == "*" && f[4] == "*":
		if n, ok := atoi(f[1][2:]); ok && n > 0 && 24%n == 0 {
			return fmt.Sprintf("every %d hours at :%02d", n, min)
		}
	case !hourOK:
	case f[2] == "*" && f[3] == "*":
		switch f[4] {
		case "*":
			return "every day " + at + " " + clock
		case "1-5":
			return "weekdays " + at + " " + clock
		case "0,6", "6,0":
			return "weekends " + at + " " + clock
		}
		if d, ok := atoi(f[4]); ok && d >= 0 && d <= 7 {
			return "every " + weekdayNames[d%7] + " " + at + " " + clock
		}
		var days []string
		for _, s := range strings.Split(f[4], ",") {
			d, ok := atoi(s)
			if !ok || d < 0 || d > 7 {
				return raw
			}
			days = append(days, weekdayNames[d%7][:3])
		}
		return strings.Join(days, ", ") + " " + at + " " + clock
	case f[3] == "*" && f[4] == "*":
		if d, ok := atoi(f[2]); ok && d >= 1 && d <= 31 {
			return fmt.Sprintf("monthly on the %s %s %s", ordinal(d), at, clock)
		}
	}
	return raw
}

func atoi(s string) (int, bool) {
	n, err := strconv.Atoi(s)
	return n, err == nil
}

func ordinal(n int) string {
	suffix := "th"
	switch {
	case n%100 >= 11 && n%100 <= 13:
	case n%10 == 1:
		suffix = "st"
	case n%10 == 2:
		suffix = "nd"
	case n%10 == 3:
		suffix = "rd"
	}
	return strconv.Itoa(n) + suffix
}

// durationRange says "3–4 s", "0.2 s", "2–3 min", "1 h 10 min": both ends in the unit of
// the larger, rounded so that the words stay short.
func durationRange(lo, hi time.Duration) string {
	unit, name := time.Millisecond, "ms"
	switch {
	case hi >= 2*time.Hour:
		unit, name = time.Hour, "h"
	case hi >= 2*time.Minute:
		unit, name = time.Minute, "min"
	case hi >= time.Second:
		unit, name = time.Second, "s"
	}
	num := func(d time.Duration) string {
		v := float64(d) / float64(unit)
		if unit == time.Second && v < 10 && v != float64(int64(v+0.5)) && v < 1.95 {
			return strconv.FormatFloat(v, 'f', 1, 64)
		}
		return strconv.FormatInt(int64(v+0.5), 10)
	}
	if hi < time.Second && hi >= 100*time.Millisecond && lo >= 100*time.Millisecond {
		unit, name = time.Second, "s"
		num = func(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) }
	}
	a, b := num(lo), num(hi)
	if a == b {
		return a + " " + name
	}
	return a + "–" + b + " " + name
}

// durationWords says a period that is not a whole number of minutes: "1 h 30 min 10 s".
func durationWords(d time.Duration) string {
	var parts []string
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "min"}, {time.Second, "s"}} {
		if n := d / u.d; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, u.name))
			d -= n * u.d
		}
	}
	if len(parts) == 0 {
		return d.String()
	}
	return strings.Join(parts, " ")
}

// hourSpan says an hour field "9-17" or "22-23,0-5" as "from 09:15 to 17:15"; "" for any
// other field.
func hourSpan(field string, min int) string {
	var a, b int
	if n, _ := fmt.Sscanf(field, "%d-23,0-%d", &a, &b); n == 2 && field == fmt.Sprintf("%d-23,0-%d", a, b) {
		return fmt.Sprintf("from %02d:%02d to %02d:%02d", a, min, b, min)
	}
	if n, _ := fmt.Sscanf(field, "%d-%d", &a, &b); n == 2 && field == fmt.Sprintf("%d-%d", a, b) && a < b && b <= 23 {
		return fmt.Sprintf("from %02d:%02d to %02d:%02d", a, min, b, min)
	}
	return ""
}
