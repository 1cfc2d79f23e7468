package expect

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

type calKind uint8

const (
	noCalendar calKind = iota
	hourly
	daily
	weekly
	monthly
)

// calendarKind: which calendar rhythm a median interval suggests.
func calendarKind(p0 time.Duration) calKind {
	switch {
	case p0 >= 50*time.Minute && p0 <= 70*time.Minute:
		return hourly
	case p0 >= 20*time.Hour && p0 <= 28*time.Hour:
		return daily
	case p0 >= 6*24*time.Hour && p0 <= 8*24*time.Hour:
		return weekly
	case p0 >= 27*24*time.Hour && p0 <= 32*24*time.Hour:
		return monthly
	}
	return noCalendar
}

const dayMs = 24 * 3600 * 1000

// fitCalendar finds the time of day, week or month (or hour: fitHourly) most runs share in loc (a window
// slid over their local offsets: the mode, robust to a manual run at another time), makes
// the cron schedule it implies, and scores it against the history.
func fitCalendar(starts []int64, kind calKind, loc *time.Location) fit {
	if kind == hourly {
		return fitHourly(starts, loc)
	}
	var obuf [MaxRuns]int64
	off := obuf[:0]
	var cycle, tol int64
	for _, s := range starts {
		t := time.UnixMilli(s).In(loc)
		h, m, sec := t.Clock()
		ms := int64(h*3600+m*60+sec)*1000 + int64(t.Nanosecond()/1e6)
		switch kind {
		case weekly:
			ms += int64(t.Weekday()) * dayMs
		case monthly:
			ms += int64(t.Day()-1) * dayMs
		}
		off = append(off, ms)
	}
	switch kind {
	case daily:
		cycle, tol = dayMs, 1800*1000
	case weekly:
		cycle, tol = 7*dayMs, 1800*1000
	default:
		cycle, tol = 31*dayMs, 1800*1000
	}
	center, spread := circularMode(off, cycle, tol)
	center = snapMinute(center, spread)
	f := fit{loc: loc}
	c := calendar{kind: kind, loc: loc, minute: int(center / 60000 % 60), hour: int(center / 3600000 % 24), days: 0x7f}
	var expr string
	switch kind {
	case daily:
		dow, days, ok := weekdaysOf(starts, loc, center, tol)
		if !ok {
			f.unsure = true
			return f
		}
		c.days = days
		expr = fmt.Sprintf("%d %d * * %s", c.minute, c.hour, dow)
	case weekly:
		c.days = 1 << (center / dayMs % 7)
		expr = fmt.Sprintf("%d %d * * %d", c.minute, c.hour, center/dayMs%7)
	case monthly:
		c.dom = int(center/dayMs + 1)
		if c.dom > 28 { // not every month has it: a fixed period says it better
			return f
		}
		expr = fmt.Sprintf("%d %d %d * *", c.minute, c.hour, c.dom)
	}
	var slotBuf [maxSlots]int64
	slots := c.slots(starts[0]-tol, starts[len(starts)-1]+tol, slotBuf[:0])
	var scratch [maxSlots]int64
	matched, gap, resid := matchSlots(starts, slots, tol, scratch[:])
	n := len(starts)
	runsFit, slotsFit := float64(matched)/float64(n), float64(matched)/float64(max(len(slots), 1))
	if matched < minMatched || runsFit < minFit || slotsFit < minFit {
		return f
	}
	f.ok, f.cron, f.score = true, expr, runsFit*slotsFit
	f.grace = graceFor(resid, gap)
	if !spansOffsetChange(starts, loc) {
		// The history cannot tell this zone from others with the same offset today (UTC from
		// Europe/London in winter): at the next DST change the job may move by an hour.
		f.grace = min(time.Hour+f.grace, gap/2)
	}
	return f
}

// calendar is a candidate daily, weekly or monthly rhythm the learner scores; its slots are
// computed directly (the cron library's Next walks minute by minute: too slow to call a
// hundred times per Learn).
type calendar struct {
	kind         calKind
	loc          *time.Location
	minute, hour int
	days         uint8 // weekdays (bit 0 Sunday) of a daily or weekly rhythm
	dom          int
}

// slots lists the rhythm's times in [from, to], nil when there are more than buf holds (far
// more slots than runs: not the rhythm). A wall-clock time a DST gap skips has no slot.
func (c calendar) slots(from, to int64, buf []int64) []int64 {
	push := func(t int64) bool {
		if t < from || t > to {
			return true
		}
		if len(buf) == cap(buf) {
			return false
		}
		buf = append(buf, t)
		return true
	}
	start := time.UnixMilli(from).In(c.loc).AddDate(0, 0, -1)
	y, m, d := start.Date()
	step := 1
	for i := 0; ; i += step {
		var t time.Time
		if c.kind == monthly {
			t = time.Date(y, m+time.Month(i), c.dom, c.hour, c.minute, 0, 0, c.loc)
		} else {
			t = time.Date(y, m, d+i, c.hour, c.minute, 0, 0, c.loc)
		}
		ms := t.UnixMilli()
		if ms > to {
			return buf
		}
		if c.days&(1<<t.Weekday()) == 0 {
			continue
		}
		if c.kind == weekly {
			step = 7 // from the first right weekday on, every seventh day is
		}
		if t.Hour() != c.hour || t.Minute() != c.minute {
			continue // not a time that day: the DST gap
		}
		if !push(ms) {
			return nil
		}
	}
}

// maxSlots bounds a candidate's slots over the history: far more slots than runs is not the
// rhythm (and an hourly job kept to office hours has about 3 slots a run before its hours are
// known).
const maxSlots = 8 * MaxRuns

// matchSlots gives each slot the nearest run within tol (at most one run per slot: a second
// is an extra run). It returns how many slots got a run, the shortest gap between slots, and
// each matched run's offset from its slot (in scratch, which must hold len(sl)).
func matchSlots(starts, sl []int64, tol int64, scratch []int64) (matched int, gap time.Duration, resid []int64) {
	if len(sl) == 0 {
		return 0, 0, nil
	}
	gap = time.Duration(math.MaxInt64)
	for i := 1; i < len(sl); i++ {
		gap = min(gap, time.Duration(sl[i]-sl[i-1])*time.Millisecond)
	}
	best := claimSlots(starts, sl, tol, scratch[:len(sl)])
	resid = best[:0]
	for _, d := range best {
		if d != math.MaxInt64 {
			matched++
			resid = append(resid, d)
		}
	}
	return matched, gap, resid
}

// claimSlots sets best[i] to the offset of slot i's nearest run within tol, or MaxInt64.
func claimSlots(starts, sl []int64, tol int64, best []int64) []int64 {
	for i := range best {
		best[i] = math.MaxInt64
	}
	j := 0
	for _, r := range starts {
		for j+1 < len(sl) && sl[j+1] <= r {
			j++
		}
		k := j
		if j+1 < len(sl) && abs64(sl[j+1]-r) < abs64(sl[j]-r) {
			k = j + 1
		}
		if d := r - sl[k]; abs64(d) <= tol && abs64(d) < abs64(best[k]) {
			best[k] = d
		}
	}
	return best
}

// weekdaysOf is the day-of-week field of a daily rhythm: "*" unless the runs at that time
// leave out days in a pattern, not by chance: weekends (both seen, neither run: a weekday
// without a run is then a missed run), weekdays, or days left out at least twice. ok is false
// when the history cannot tell: runs Monday to Friday and no weekend yet could be either.
func weekdaysOf(starts []int64, loc *time.Location, center, tol int64) (dow string, days uint8, ok bool) {
	var present [7]bool
	for _, s := range starts {
		t := time.UnixMilli(s).In(loc)
		h, m, sec := t.Clock()
		d := int64(h*3600+m*60+sec)*1000 - center
		if d > dayMs/2 {
			d -= dayMs
		} else if d < -dayMs/2 {
			d += dayMs
		}
		if abs64(d) <= tol { // the slot's day: a 00:02 job that started at 23:58 ran for the next day
			present[t.Add(-time.Duration(d)*time.Millisecond).Weekday()] = true
		}
	}
	first, last := time.UnixMilli(starts[0]).In(loc), time.UnixMilli(starts[len(starts)-1]).In(loc)
	span := int(civilDay(last) - civilDay(first))
	w0 := int(first.Weekday())
	var seen [7]int // how often each weekday occurs in the history's span
	for w := range 7 {
		seen[w] = span / 7
		if (w-w0+7)%7 <= span%7 {
			seen[w]++
		}
	}
	var list []string
	weekendRuns := present[0] || present[6]
	weekdays, sure := 0, true
	for w := range 7 {
		if present[w] {
			list = append(list, strconv.Itoa(w))
			days |= 1 << w
			if w != 0 && w != 6 {
				weekdays++
			}
		} else if seen[w] < 2 {
			sure = false
		}
	}
	switch {
	case len(list) == 7:
	case !weekendRuns && seen[0] > 0 && seen[6] > 0 && weekdays >= 3:
		return "1-5", 0x3e, true
	case !weekendRuns:
		return "", 0, false
	case weekdays == 0 && seen[1]+seen[2]+seen[3]+seen[4]+seen[5] > 0:
		return "0,6", 0x41, true
	case sure && len(list) > 0:
		return strings.Join(list, ","), days, true
	}
	return "*", 0x7f, true
}

// spansOffsetChange: the history crosses a change of loc's UTC offset (and fits it anyway,
// so the job keeps loc's wall clock).
func spansOffsetChange(starts []int64, loc *time.Location) bool {
	_, end := time.UnixMilli(starts[0]).In(loc).ZoneBounds()
	return !end.IsZero() && end.UnixMilli() <= starts[len(starts)-1]
}

// civilDay numbers a local calendar day (days since 1970-01-01 in that zone's calendar).
func civilDay(t time.Time) int64 {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
}

// circularMode is the centre (median) of the densest window of width 2·tol among offsets on
// a circle of length cycle, and the window's spread (median absolute deviation).
func circularMode(off []int64, cycle, tol int64) (center, spread int64) {
	var buf [2 * MaxRuns]int64
	s := buf[:0]
	s = append(s, off...)
	slices.Sort(s)
	n := len(s)
	for i := range n {
		s = append(s, s[i]+cycle)
	}
	bestI, bestJ := 0, 0
	for i, j := 0, 0; i < n; i++ {
		for j < i+n && s[j]-s[i] <= 2*tol {
			j++
		}
		if j-i > bestJ-bestI {
			bestI, bestJ = i, j
		}
	}
	win := s[bestI:bestJ]
	center = medianInt(win)
	var dbuf [MaxRuns]int64
	dev := dbuf[:0]
	for _, v := range win {
		dev = append(dev, abs64(v-center))
	}
	slices.Sort(dev)
	return center % cycle, medianInt(dev)
}

// snapMinute rounds a scheduled time to the minute, and to a round time (the hour, half or
// quarter hour, 5 minutes: the coarsest first) when one is within the runs' own jitter: a job
// "around 03:00" is scheduled at 03:00, not 02:57.
func snapMinute(ms, spread int64) int64 {
	const minute = 60000
	allowed := min(max(minute, spread), 15*minute)
	for _, g := range [...]int64{60 * minute, 30 * minute, 15 * minute, 5 * minute} {
		if n := (ms + g/2) / g * g; abs64(n-ms) <= allowed {
			return n
		}
	}
	return (ms + minute/2) / minute * minute
}
