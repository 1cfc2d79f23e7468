// Command idle-streams measures what idle SSE streams cost a server: it
// reads the server's resident memory (VmRSS of /proc/<pid>/status), opens
// -n streams spread over the sessions of -keys, lets them sit idle for
// -settle, and reads it again. Then it posts one event to each session and
// counts the streams that receive it, so that the streams measured are
// known to be live.
//
// It prints one line: IDLE streams=… rss_before_mb=… rss_after_mb=… …
package main

import (
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/observable-code/observable/bench"
)

type options struct {
	base, keyFile   string
	pid, n, dialers int
	settle          time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.base, "url", "http://127.0.0.1:18080", "server (or bare relay) base URL")
	flag.StringVar(&o.keyFile, "keys", "", "file of session keys; streams are spread over them")
	flag.IntVar(&o.pid, "pid", 0, "process id of the server, to read its memory")
	flag.IntVar(&o.n, "n", 10000, "streams to open")
	flag.IntVar(&o.dialers, "dialers", 32, "streams opened at once")
	flag.DurationVar(&o.settle, "settle", 5*time.Second, "idle time before memory is read")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintf(os.Stderr, "idle-streams: %v\n", err)
		os.Exit(1)
	}
}

func run(o options) error {
	if o.pid <= 0 {
		return errors.New("give the server's process id with -pid")
	}
	keys, err := bench.ReadKeys(o.keyFile)
	if err != nil {
		return err
	}
	before, err := bench.RSS(o.pid)
	if err != nil {
		return err
	}
	goBefore, hasMetrics := bench.Metric(o.base+"/metrics", "go_goroutines")

	start := time.Now()
	streams, err := open(o, keys)
	defer func() {
		for _, s := range streams {
			s.Close()
		}
	}()
	if err != nil {
		return err
	}
	opened := time.Since(start)
	time.Sleep(o.settle)
	after, err := bench.RSS(o.pid)
	if err != nil {
		return err
	}
	goAfter, _ := bench.Metric(o.base+"/metrics", "go_goroutines")
	delivered, err := deliver(o.base, keys, streams)
	if err != nil {
		return err
	}
	goroutines := "n/a"
	if hasMetrics {
		goroutines = fmt.Sprintf("%.0f->%.0f", goBefore, goAfter)
	}
	fmt.Printf("IDLE streams=%d rss_before_mb=%.1f rss_after_mb=%.1f per_stream_kb=%.1f goroutines=%s delivered=%d open_s=%.1f\n",
		len(streams), mb(before), mb(after), float64(after-before)/1024/float64(len(streams)),
		goroutines, delivered, opened.Seconds())
	return nil
}

// open opens o.n streams, session keys in turn, o.dialers at a time.
func open(o options, keys []string) ([]*bench.Stream, error) {
	streams := make([]*bench.Stream, o.n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, o.dialers)
	for w := 0; w < o.dialers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < o.n; i = int(next.Add(1) - 1) {
				s, err := bench.OpenStream(o.base, keys[i%len(keys)], 30*time.Second)
				if err != nil {
					errs <- fmt.Errorf("stream %d: %w (is ulimit -n high enough on both sides?)", i, err)
					next.Store(int64(o.n)) // stop the others
					return
				}
				streams[i] = s
			}
		}()
	}
	wg.Wait()
	close(errs)
	var kept []*bench.Stream
	for _, s := range streams {
		if s != nil {
			kept = append(kept, s)
		}
	}
	return kept, <-errs
}

// deliver posts one event to every session and counts the streams that
// receive an event frame within 30 s.
func deliver(base string, keys []string, streams []*bench.Stream) (int, error) {
	c := &http.Client{Timeout: 30 * time.Second}
	for i, key := range keys {
		if err := bench.PostEvents(c, base, key, bench.Event("idle-check-"+strconv.Itoa(i), "idle_check")); err != nil {
			return 0, err
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	var got atomic.Int64
	var wg sync.WaitGroup
	for _, s := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.SetReadDeadline(deadline)
			for {
				f, err := s.Next()
				if err != nil {
					return
				}
				if len(f.Data) > 0 {
					got.Add(1)
					return
				}
			}
		}()
	}
	wg.Wait()
	return int(got.Load()), nil
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }
