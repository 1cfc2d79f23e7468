package expect

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

const hourMs = 3600 * 1000

// fitHourly fits an hourly rhythm at a minute past the hour: all day ("15 * * * *", said in
// UTC, the same in every zone), or, once the history has seen the hours it leaves out, within
// hours of the day in loc ("15 9-17 * * *"), on weekdays when weekends were seen without runs
// ("15 9-17 * * 1-5").
func fitHourly(starts []int64, loc *time.Location) fit {
	const tol = 450 * 1000
	f := fit{loc: loc}
	var obuf [MaxRuns]int64
	off := obuf[:0]
	for _, s := range starts {
		t := time.UnixMilli(s).In(loc)
		m, sec := t.Minute(), t.Second()
		off = append(off, int64(m*60+sec)*1000+int64(t.Nanosecond()/1e6))
	}
	center, spread := circularMode(off, hourMs, tol)
	minute := int(snapMinute(center, spread) % hourMs / 60000)

	var slotBuf, bestBuf [maxSlots]int64
	all := hourSlots(loc, minute, starts[0]-tol, starts[len(starts)-1]+tol, slotBuf[:0])
	if all == nil {
		return f
	}
	best := claimSlots(starts, all, tol, bestBuf[:len(all)])
	var presentH, seenH [24]int
	var presentD, seenD [7]int
	for i, sl := range all {
		t := time.UnixMilli(sl).In(loc)
		seenH[t.Hour()]++
		if best[i] != math.MaxInt64 {
			presentH[t.Hour()]++
		}
	}
	first, last, ok := hourRange(presentH, seenH)
	if !ok {
		return f
	}
	hours, days, dow := "*", uint8(0x7f), "*"
	if first != last {
		hours = strconv.Itoa(first) + "-" + strconv.Itoa(last)
		if first > last {
			hours = strconv.Itoa(first) + "-23,0-" + strconv.Itoa(last)
		}
		for i, sl := range all {
			t := time.UnixMilli(sl).In(loc)
			if inHours(t.Hour(), first, last) {
				seenD[t.Weekday()]++
				if best[i] != math.MaxInt64 {
					presentD[t.Weekday()]++
				}
			}
		}
		weekdays := 0
		for w := 1; w <= 5; w++ {
			if presentD[w] > 0 {
				weekdays++
			}
		}
		switch {
		case presentD[0]+presentD[6] > 0:
		case seenD[0] > 0 && seenD[6] > 0 && weekdays >= 3:
			dow, days = "1-5", 0x3e
		default:
			f.unsure = true // office hours, no weekend yet: every day or weekdays?
			return f
		}
	} else if loc != time.UTC {
		return f // all day: the UTC attempt says it without a zone
	}
	sl := all[:0]
	for _, s := range all {
		t := time.UnixMilli(s).In(loc)
		if inHours(t.Hour(), first, last) && days&(1<<t.Weekday()) != 0 {
			sl = append(sl, s)
		}
	}
	matched, gap, resid := matchSlots(starts, sl, tol, bestBuf[:]) // best is no longer needed
	n := len(starts)
	runsFit, slotsFit := float64(matched)/float64(n), float64(matched)/float64(max(len(sl), 1))
	if matched < minMatched || runsFit < minFit || slotsFit < minFit {
		return f
	}
	f.ok, f.cron, f.score = true, fmt.Sprintf("%d %s * * %s", minute, hours, dow), runsFit*slotsFit
	f.grace = graceFor(resid, min(gap, time.Hour))
	return f
}

// hourSlots lists loc's times at minute past each hour in [from, to], nil if there are more
// than buf holds.
func hourSlots(loc *time.Location, minute int, from, to int64, buf []int64) []int64 {
	for h := from/hourMs*hourMs - hourMs; h <= to; h += hourMs {
		_, offset := time.UnixMilli(h).In(loc).Zone()
		atMark := (offset/60%60 + 60) % 60 // the local minute at the UTC hour: 30 in St. John's (-3:30)
		t := h + int64((minute-atMark+60)%60)*60000
		if t < from || t > to {
			continue
		}
		if len(buf) == cap(buf) {
			return nil
		}
		buf = append(buf, t)
	}
	return buf
}

// hourRange is the hours of the day the rhythm keeps to: all (first == last == 0 and the
// caller says "*") when every hour had a run, some hour was never seen, or too few were left
// out to be a rule rather than missed runs or an outage (fewer than 8, seen once); else one
// contiguous run of hours (first to last, wrapping past midnight). ok is false for hours
// with gaps (9–12 and 14–17).
func hourRange(present, seen [24]int) (first, last int, ok bool) {
	absent, once := 0, false
	for h := range 24 {
		if present[h] == 0 {
			if seen[h] == 0 {
				return 0, 0, true
			}
			absent++
			once = once || seen[h] < 2
		}
	}
	if absent == 0 || absent < 8 && once {
		return 0, 0, true
	}
	if absent > 22 {
		return 0, 0, false
	}
	starts := 0
	for h := range 24 {
		if present[h] > 0 && present[(h+23)%24] == 0 {
			first, starts = h, starts+1
		}
		if present[h] > 0 && present[(h+1)%24] == 0 {
			last = h
		}
	}
	return first, last, starts == 1
}

func inHours(h, first, last int) bool {
	if first == last {
		return true // all day
	}
	if first < last {
		return h >= first && h <= last
	}
	return h >= first || h <= last
}
