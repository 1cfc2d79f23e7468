// Command soak runs hostile clients against a running server while honest
// clients use it, and reports what that cost the server (issue 9).
//
// For -duration, all at once: stream churners open and close
// GET /api/v1/events/stream as fast as they can (-flooders: without even
// waiting for the answer); job readers call GET /api/v1/jobs on a session
// of many jobs whose events carry 64 KiB of metadata; resumed streams open with Last-Event-ID: 0 on sessions of large
// events and never read. Honest clients, each on a session and a loopback
// address of its own (127.0.0.10, .11, …), post single events and batches,
// read them back, follow them on a live stream and check every answer.
//
// The hostile clients all come from 127.0.0.1, so that the server's
// per-address caps meet them and not the honest clients. Their answers are
// counted by code: a 503 past a cap is the server defending itself, not an
// error. The server's memory (VmRSS, VmHWM) and open descriptors are read
// from /proc/<pid> every 100 ms.
//
// It prints a markdown table and exits 1 when an honest client saw an error
// or the server went past a bound (-max-rss-mb, -max-fds), 2 when it could
// not run. bench/soak/run.sh starts a server and runs it;
// docs/benchmarks/soak.md has the figures.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

type options struct {
	base                        string
	pid                         int
	duration                    time.Duration
	churners, flooders          int
	readers, stuck              int
	honest                      int
	jobs, bigEvents             int
	maxRSSMB, abortRSSMB        int
	maxFDs, connsPerAddress     int
	honestPause, deliverTimeout time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.base, "url", "http://127.0.0.1:18450", "base URL of the server, on 127.0.0.1")
	flag.IntVar(&o.pid, "pid", 0, "process id of the server, to read its memory and descriptors")
	flag.DurationVar(&o.duration, "duration", 60*time.Second, "how long the hostile and honest clients run (1s to 10m)")
	flag.IntVar(&o.churners, "churners", 4, "goroutines opening streams and closing them once answered")
	flag.IntVar(&o.flooders, "flooders", 2, "goroutines sending stream requests and closing before the answer: a connection flood, which the server's --max-conns-per-address bounds (docs/benchmarks/soak.md)")
	flag.IntVar(&o.readers, "job-readers", 8, "goroutines reading GET /api/v1/jobs")
	flag.IntVar(&o.stuck, "stuck-streams", 100, "resumed streams (Last-Event-ID: 0) that never read")
	flag.IntVar(&o.honest, "honest", 4, "honest clients, each with a session, an address and a live stream")
	flag.IntVar(&o.jobs, "jobs", 300, "job names in the session that /jobs is read from, one 64 KiB event each")
	flag.IntVar(&o.bigEvents, "big-events", 500, "64 KiB events in the second session the resumed streams read")
	flag.IntVar(&o.maxRSSMB, "max-rss-mb", 512, "bound on the server's peak resident memory (VmHWM)")
	flag.IntVar(&o.abortRSSMB, "abort-rss-mb", 2048, "stop the hostile load early past this RSS, to spare a shared machine")
	flag.IntVar(&o.maxFDs, "max-fds", 0, "bound on the server's open descriptors (0: its count before the load + the connections this program can hold, or with -flooders the server's cap on them, + 128)")
	flag.IntVar(&o.connsPerAddress, "conns-per-address", 512, "the server's --max-conns-per-address (its default 512; 0: off): with -flooders, the most connections it holds for 127.0.0.1, so the descriptor bound")
	flag.DurationVar(&o.honestPause, "honest-pause", 25*time.Millisecond, "pause between an honest client's rounds (keeps it under --session-rate)")
	flag.DurationVar(&o.deliverTimeout, "deliver-timeout", 10*time.Second, "how long an honest event may take to reach its live stream")
	flag.Parse()
	if err := o.check(); err != nil {
		fmt.Fprintf(os.Stderr, "soak: %v\n", err)
		os.Exit(2)
	}
	ok, err := run(o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "soak: %v\n", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

func (o options) check() error {
	switch {
	case !strings.HasPrefix(o.base, "http://127.0.0.1:"):
		// Honest clients come from 127.0.0.10 and up: only a loopback server sees them apart.
		return fmt.Errorf("-url %q: the soak runs against a server on http://127.0.0.1:PORT only", o.base)
	case o.pid <= 0:
		return errors.New("give the server's process id with -pid (bench/soak/run.sh does)")
	case o.duration < time.Second || o.duration > 10*time.Minute:
		return fmt.Errorf("-duration %v: give 1s to 10m", o.duration)
	case o.churners < 0 || o.flooders < 0 || o.readers < 0 || o.stuck < 0 || o.honest < 1 || o.honest > 200:
		return errors.New("-churners, -flooders, -job-readers and -stuck-streams must be ≥ 0, -honest 1 to 200")
	case o.connsPerAddress < 0:
		return errors.New("-conns-per-address must be ≥ 0 (0: the server has no such cap)")
	case o.jobs < 1 || o.bigEvents < 0 || o.jobs+o.bigEvents > 5000:
		return errors.New("-jobs must be ≥ 1 and -jobs + -big-events at most 5000 (each is a 64 KiB event)")
	}
	if _, err := readStatus(o.pid); err != nil {
		return fmt.Errorf("%w (is -pid the server's?)", err)
	}
	return nil
}

// run sets the sessions up, runs every client for o.duration, and reports.
func run(o options) (bool, error) {
	hostile, err := setup(o)
	if err != nil {
		return false, err
	}
	honest := make([]*honestClient, o.honest)
	for i := range honest {
		if honest[i], err = newHonest(o, i); err != nil {
			return false, err
		}
	}

	// The honest clients stop starting rounds after o.duration and finish
	// the one they are in, judged under the same load, before the hostile
	// clients stop. abort stops everything at once.
	smp := newSampler(o.pid, o.base)
	base := smp.sampleNow()
	abortCtx, abort := context.WithCancel(context.Background())
	defer abort()
	hostileCtx, stopHostile := context.WithCancel(abortCtx)
	honestCtx, stopHonest := context.WithTimeout(abortCtx, o.duration)
	defer stopHonest()
	go smp.run(hostileCtx, int64(o.abortRSSMB)<<20, abort)

	var hostileWG, honestWG sync.WaitGroup
	start := func(wg *sync.WaitGroup, n int, f func(int)) {
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() { defer wg.Done(); f(i) }()
		}
	}
	began := time.Now()
	start(&hostileWG, o.churners, func(int) { hostile.churn(hostileCtx, true) })
	start(&hostileWG, o.flooders, func(int) { hostile.churn(hostileCtx, false) })
	start(&hostileWG, o.readers, func(i int) { hostile.readJobs(hostileCtx, i) })
	start(&hostileWG, o.stuck, func(i int) { hostile.hold(hostileCtx, i) })
	start(&honestWG, o.honest, func(i int) { honest[i].run(honestCtx, abortCtx) })
	honestWG.Wait()
	stopHostile()
	ran := time.Since(began)
	hostileWG.Wait()
	hostile.close()

	// With every client gone the server's sockets must come back down: one
	// it has not noticed closed is still counted here. (Its files may stay:
	// the database keeps the readers the load opened.)
	settled := smp.settle(base, 5*time.Second)
	r := report{o: o, ran: ran, base: base, end: settled, smp: smp, hostile: hostile, honest: honest}
	return r.print(os.Stdout), nil
}
