package main

import (
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/observable-code/observable/bench"
)

type report struct {
	o         options
	ran       time.Duration
	base, end sample
	smp       *sampler
	hostile   *hostile
	honest    []*honestClient
}

// fdBound is -max-fds, or what the server needs for the connections this
// program can hold at once (each churner, reader and held stream one; each
// honest client a stream and two pooled connections) over its count before
// the load, with room for the database's readers and sockets closing. A
// flooder holds one connection, but the server holds each it accepted
// until a handler finds it closed: what bounds those is the server's cap
// on one address's connections (every hostile client is 127.0.0.1).
func (r *report) fdBound() int {
	if r.o.maxFDs > 0 {
		return r.o.maxFDs
	}
	hostile := r.o.churners + r.o.flooders + r.o.readers + r.o.stuck
	if r.o.flooders > 0 {
		hostile = max(hostile, r.o.connsPerAddress)
	}
	return r.base.fds + hostile + 3*r.o.honest + 128
}

// print writes the table and reports whether every goal was met.
func (r *report) print(w io.Writer) bool {
	var requests int64
	errs := newTally()
	var posts, deliveries []time.Duration
	var samples []string
	for _, h := range r.honest {
		requests += h.requests.Load()
		for k, v := range h.errs.n {
			errs.n[k] += v
		}
		posts = append(posts, h.postLat...)
		deliveries = append(deliveries, h.deliver...)
		samples = append(samples, h.samples...)
	}
	nerr := errs.total()
	// The sampler's last reading is the settled one, after the load.
	r.smp.mu.Lock()
	n, rssMax, fdMax, streams := r.smp.n, r.smp.rssMax.rss, r.smp.fdMax, r.smp.streamsMax
	r.smp.mu.Unlock()
	hwm, aborted, bound := r.end.hwm, r.smp.aborted.Load(), r.fdBound()
	memOK := hwm <= int64(r.o.maxRSSMB)<<20 && !aborted
	fdOK := fdMax <= bound && r.end.sockets <= r.base.sockets
	h := r.hostile
	secs := r.ran.Seconds()

	row := func(a, b, c, d string) { fmt.Fprintf(w, "| %s | %s | %s | %s |\n", a, b, c, d) }
	fmt.Fprintf(w, "\nSoak: %.0f s; hostile from 127.0.0.1: %d churners, %d flooders, %d /jobs readers, %d resumed streams; %d honest clients (127.0.0.10…).\n\n",
		secs, r.o.churners, r.o.flooders, r.o.readers, r.o.stuck, r.o.honest)
	row("measure", "figure", "bound", "verdict")
	row("---", "---", "---", "---")
	row("server peak RSS (VmHWM)", fmt.Sprintf("%.0f MB", mb(hwm)), fmt.Sprintf("≤ %d MB", r.o.maxRSSMB), verdict(memOK))
	row(fmt.Sprintf("— VmRSS, %d samples 100 ms apart: before / peak / after the load", n),
		fmt.Sprintf("%.0f / %.0f / %.0f MB", mb(r.base.rss), mb(rssMax), mb(r.end.rss)), "", "")
	row("server open fds, same samples: before / peak / after the load (sockets after)",
		fmt.Sprintf("%d / %d / %d (%d)", r.base.fds, fdMax, r.end.fds, r.end.sockets),
		fmt.Sprintf("peak ≤ %d, sockets after ≤ %d", bound, r.base.sockets), verdict(fdOK))
	row("— the server's RLIMIT_NOFILE", r.smp.fdLimit, "", "")
	row("honest clients: requests / errors", fmt.Sprintf("%s / %s", thousands(requests), thousands(nerr)), "0 errors", verdict(nerr == 0))
	if nerr > 0 {
		row("— errors by kind", errs.String(), "", "")
	}
	ps, ds := bench.Summarize(posts), bench.Summarize(deliveries)
	row("— POST /events: p50 / p99 / max", fmt.Sprintf("%.1f / %.1f / %.1f ms", bench.Millis(ps.P50), bench.Millis(ps.P99), bench.Millis(ps.Max)), "", "")
	row("— POST sent → its event on the live stream: p50 / p99 / max", fmt.Sprintf("%.1f / %.1f / %.1f ms (%s events)", bench.Millis(ds.P50), bench.Millis(ds.P99), bench.Millis(ds.Max), thousands(int64(ds.N))), "", "")
	row("hostile stream churn: opens (a second)", fmt.Sprintf("%s (%.0f)", thousands(h.churnCodes.total()), float64(h.churnCodes.total())/secs), "", "")
	row("— answers", h.churnCodes.String(), "", "")
	if r.o.flooders > 0 {
		row(fmt.Sprintf("hostile connection flood (%d flooders): requests (a second)", r.o.flooders),
			fmt.Sprintf("%s (%.0f)", thousands(h.floodCodes.total()), float64(h.floodCodes.total())/secs), "", "")
		row("— answers", h.floodCodes.String(), "", "")
	}
	row("hostile GET /jobs, /jobs/{name}: reads; answers", fmt.Sprintf("%s; %s", thousands(h.jobCodes.total()), h.jobCodes.String()), "", "")
	row("— largest answer; read in all", fmt.Sprintf("%.1f MB; %.0f MB", mb(h.jobBytesMax.Load()), mb(h.jobBytes.Load())), "", "")
	row("hostile resumed streams (never read): attempts; answers", fmt.Sprintf("%s; %s", thousands(h.stuckCodes.total()), h.stuckCodes.String()), "", "")
	row("— held open by the client at once, at most", fmt.Sprint(h.heldMax.Load()), "", "")
	dropped, _ := bench.Metric(r.o.base+"/metrics", "observable_stream_dropped_total")
	row("— the server's /metrics: streams open at the peak (all clients); streams dropped (a full queue)",
		fmt.Sprintf("%.0f; %.0f", streams, dropped), "", "")
	setup := fmt.Sprintf("%s accepted (asked: %d + %d)", thousands(h.setupAccepted.Load()), r.o.jobs, r.o.bigEvents)
	if p := h.setupRefusal.Load(); p != nil {
		setup += "; refused: " + *p
	}
	row("setup: 64 KiB events", setup, "", "")
	if aborted {
		fmt.Fprintf(w, "\nThe hostile load was STOPPED EARLY: the server's RSS went past -abort-rss-mb %d.\n", r.o.abortRSSMB)
	}
	for _, s := range samples {
		fmt.Fprintf(w, "\nhonest error: %.500s", s)
	}
	ok := memOK && fdOK && nerr == 0
	fmt.Fprintf(w, "\nGoal (no honest error, memory and fds within bounds): %s\n", map[bool]string{true: "met", false: "MISSED"}[ok])
	return ok
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

// thousands renders 12345 as 12,345.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
