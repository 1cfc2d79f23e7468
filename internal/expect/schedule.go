package expect

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"
	_ "time/tzdata" // IANA zones must not depend on the host having /usr/share/zoneinfo

	"github.com/robfig/cron/v3"
)

// The standard 5 fields and the descriptors (@yearly, @monthly, @weekly, @daily, @hourly).
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

type cronSchedule struct {
	spec *cron.SpecSchedule
	loc  *time.Location
	// fixedHour: the hour field names hours (no *), so a wall-clock time repeated by a
	// fall-back change is one run, not two (what cron daemons do too).
	fixedHour bool
	fixed     atomic.Pointer[fixedSpec] // spec in the zone's offset at the last lookup
}

type fixedSpec struct {
	name string
	off  int
	spec cron.SpecSchedule
}

// never is where validation looks for a first run; any fixed instant does (no clock here).
var never = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func compileCron(expr, tz string) (*cronSchedule, error) {
	expr = strings.TrimSpace(expr)
	const how = `write 5 fields "minute hour day-of-month month day-of-week" (e.g. "0 3 * * *", "15 * * * *", "0 9 * * 1-5") or @hourly, @daily, @weekly, @monthly`
	switch {
	case strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ="):
		return nil, errors.New(`cron: give the time zone in "tz", not in the expression`)
	case strings.HasPrefix(expr, "@every"):
		return nil, errors.New(`cron: "@every" is a period: use every_s instead`)
	}
	loc, err := LoadZone(tz)
	if err != nil {
		return nil, err
	}
	s, err := cronParser.Parse(expr)
	if err != nil {
		return nil, fmt.Errorf("cron %q: %v; %s", expr, err, how)
	}
	spec, ok := s.(*cron.SpecSchedule)
	if !ok {
		return nil, fmt.Errorf("cron %q: %s", expr, how)
	}
	spec.Location = loc
	cs := &cronSchedule{spec: spec, loc: loc, fixedHour: spec.Hour&(1<<63) == 0}
	if cs.next(never).IsZero() {
		return nil, fmt.Errorf("cron %q never comes (no such date?); %s", expr, how)
	}
	return cs, nil
}

// LoadZone loads an IANA zone name; "" and "UTC" are UTC. "Local" is refused: the server's
// own zone means nothing to the job's host.
func LoadZone(tz string) (*time.Location, error) {
	if tz == "" || tz == "UTC" {
		return time.UTC, nil
	}
	if tz == "Local" {
		return nil, errors.New(`tz "Local" is the server's zone, not the job's: give an IANA name such as "Europe/Berlin"`)
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("tz %q is not an IANA time zone name (e.g. \"Europe/Berlin\", \"America/New_York\", \"UTC\")", tz)
	}
	return loc, nil
}

// next is the first run strictly after t. Spring forward: a time inside the gap (02:30 on the
// day Berlin jumps from 02:00 to 03:00) does not exist, and that day has no run (robfig's
// rule; the evaluator then expects the next day's, so a daemon that skips it raises no false
// alarm and one that runs it at 03:00 is simply early). Fall back: a wall-clock time that
// comes twice (01:30 in New York's repeated hour) is one run, at its first occurrence, when
// the hour field names hours; "15 * * * *" runs in both hours, as cron daemons do.
func (c *cronSchedule) next(t time.Time) time.Time {
	n := c.nextRaw(t)
	for i := 0; c.fixedHour && i < 3 && !n.IsZero() && c.repeated(n); i++ {
		n = c.nextRaw(n)
	}
	return n
}

// nextRaw is robfig's Next, made cheap: it reads the wall clock dozens of times, and a zone's
// rule for future years is re-derived on every read (µs per call). Between two DST changes a
// zone is a fixed offset, so the search runs in that offset, and only an answer beyond the
// next change is searched again in the real zone.
func (c *cronSchedule) nextRaw(t time.Time) time.Time {
	if c.loc != time.UTC {
		lt := t.In(c.loc)
		name, off := lt.Zone()
		_, end := lt.ZoneBounds()
		f := c.fixed.Load()
		if f == nil || f.off != off || f.name != name {
			f = &fixedSpec{name: name, off: off, spec: *c.spec}
			f.spec.Location = time.FixedZone(name, off)
			c.fixed.Store(f) // schedules are shared; the latest offset asked for is kept
		}
		if n := f.spec.Next(t); !n.IsZero() && (end.IsZero() || n.Before(end)) {
			return n
		}
	}
	return c.spec.Next(t)
}

// repeated: the same wall-clock time already happened a little earlier (fall-back overlap).
func (c *cronSchedule) repeated(n time.Time) bool {
	_, after := n.In(c.loc).Zone()
	_, before := n.Add(-3 * time.Hour).In(c.loc).Zone()
	if before <= after {
		return false
	}
	earlier := n.Add(-time.Duration(before-after) * time.Second).In(c.loc)
	y1, m1, d1 := earlier.Date()
	h1, mi1, _ := earlier.Clock()
	l := n.In(c.loc)
	y2, m2, d2 := l.Date()
	h2, mi2, _ := l.Clock()
	return y1 == y2 && m1 == m2 && d1 == d2 && h1 == h2 && mi1 == mi2
}

// schedule returns the compiled cron, compiling it now if Validate was not called.
func (e Expectation) schedule() *cronSchedule {
	if e.sched != nil || e.Cron == "" {
		return e.sched
	}
	s, err := compileCron(e.Cron, e.TZ)
	if err != nil {
		return nil
	}
	return s
}

// NextAfter is the first due time strictly after t: for a cron schedule the next time it
// fires; for a period, t + Every (a period counts from the last run, so t is that run's
// start). Zero when the expectation is invalid.
func (e Expectation) NextAfter(t time.Time) time.Time {
	if e.Every > 0 {
		return t.Add(e.Every)
	}
	if s := e.schedule(); s != nil {
		return s.next(t).UTC()
	}
	return time.Time{}
}

// Location is the zone of a cron schedule (UTC for periods or an unknown name).
func (e Expectation) Location() *time.Location {
	if loc, err := LoadZone(e.TZ); err == nil {
		return loc
	}
	return time.UTC
}
