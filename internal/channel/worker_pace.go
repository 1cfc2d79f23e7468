package channel

import (
	"math"
	"time"
)

// pacer spaces the sends to one destination: a token bucket per host
// (HostRate a second, as many in a burst), and for Slack one per webhook URL
// as well (SlackRate, one at a time: Slack's documented limit is one message
// a second per webhook, with short bursts tolerated but not promised).
//
// It keeps the time each bucket is next full enough (the generic cell rate
// algorithm), so a reservation is one comparison; buckets that have refilled
// are dropped, which keeps the map as small as the destinations in use.
// Only the worker's loop calls it.
type pacer struct {
	host, slack bucketKind
	next        map[string]time.Time // bucket key → its theoretical arrival time
}

type bucketKind struct {
	interval time.Duration // between two sends at the sustained rate
	burst    time.Duration // how far ahead of now a bucket may run: (burst-1) intervals
}

func newPacer(hostRate, slackRate float64) *pacer {
	kind := func(rate float64, burst int) bucketKind {
		iv := time.Duration(float64(time.Second) / rate)
		return bucketKind{interval: iv, burst: time.Duration(burst-1) * iv}
	}
	return &pacer{
		host:  kind(hostRate, max(1, int(math.Ceil(hostRate)))),
		slack: kind(slackRate, 1),
		next:  map[string]time.Time{},
	}
}

// reserve takes one send from the host's bucket (and the Slack URL's, when
// slackURL is set) and says how long from now it must wait.
func (p *pacer) reserve(host, slackURL string, now time.Time) time.Duration {
	p.forget(now)
	wait := p.take("h "+host, p.host, now)
	if slackURL != "" {
		wait = max(wait, p.take("s "+slackURL, p.slack, now))
	}
	return wait
}

func (p *pacer) take(key string, k bucketKind, now time.Time) time.Duration {
	tat := p.next[key]
	if tat.Before(now) {
		tat = now
	}
	// The send may go at tat less the burst allowance, not before now.
	at := tat.Add(-k.burst)
	if at.Before(now) {
		at = now
	}
	p.next[key] = tat.Add(k.interval)
	return at.Sub(now)
}

// forget drops the buckets that are full again, once the map grows.
func (p *pacer) forget(now time.Time) {
	if len(p.next) < 256 {
		return
	}
	for key, tat := range p.next {
		if !tat.After(now) {
			delete(p.next, key)
		}
	}
}
