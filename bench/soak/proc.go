package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/observable-code/observable/bench"
)

// sample is the server's memory and descriptors at one moment.
type sample struct {
	rss, hwm     int64 // bytes: VmRSS, VmHWM
	fds, sockets int
}

// sampler reads /proc/<pid> every 100 ms and keeps the peaks.
type sampler struct {
	pid     int
	fdLimit string
	aborted atomic.Bool

	mu           sync.Mutex
	n            int
	rssMax, last sample
	fdMax        int
	// streamsMax is the peak of the server's own count of open streams,
	// read from /metrics every half second (-1: it has no such metric).
	metrics    string
	streamsMax float64
}

func newSampler(pid int, base string) *sampler {
	return &sampler{pid: pid, fdLimit: openFilesLimit(pid), metrics: base + "/metrics", streamsMax: -1}
}

// run samples until ctx ends; past abortRSS it calls abort, so that a
// server whose memory runs away does not take a shared machine with it.
func (s *sampler) run(ctx context.Context, abortRSS int64, abort func()) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for tick := 0; ; tick++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if v := s.sampleNow(); v.rss > abortRSS && !s.aborted.Swap(true) {
			abort()
		}
		if tick%5 == 0 {
			if n, ok := bench.Metric(s.metrics, "observable_stream_subscribers"); ok {
				s.mu.Lock()
				s.streamsMax = max(s.streamsMax, n)
				s.mu.Unlock()
			}
		}
	}
}

func (s *sampler) sampleNow() sample {
	var v sample
	if st, err := readStatus(s.pid); err == nil {
		v.rss, v.hwm = st["VmRSS"], st["VmHWM"]
	}
	v.fds, v.sockets = countFDs(s.pid)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	if v.rss > s.rssMax.rss {
		s.rssMax = v
	}
	s.fdMax = max(s.fdMax, v.fds)
	s.last = v
	return v
}

// settle waits up to d for the server's sockets to come back to base's
// and returns the last sample.
func (s *sampler) settle(base sample, d time.Duration) sample {
	deadline := time.Now().Add(d)
	for {
		v := s.sampleNow()
		if v.sockets <= base.sockets || time.Now().After(deadline) {
			return v
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// readStatus reads the kB fields of /proc/<pid>/status, in bytes.
func readStatus(pid int) (map[string]int64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return nil, fmt.Errorf("read the server's memory: %w", err)
	}
	defer f.Close()
	m := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if v, isKB := strings.CutSuffix(strings.TrimSpace(v), " kB"); ok && isKB {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				m[k] = n << 10
			}
		}
	}
	if m["VmRSS"] == 0 {
		return nil, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
	}
	return m, sc.Err()
}

// countFDs counts the entries of /proc/<pid>/fd, and those that are
// sockets (-1, 0 when unreadable).
func countFDs(pid int) (fds, sockets int) {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd/"
	d, err := os.Open(dir)
	if err != nil {
		return -1, 0
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return -1, 0
	}
	for _, n := range names {
		if target, err := os.Readlink(dir + n); err == nil && strings.HasPrefix(target, "socket:") {
			sockets++
		}
	}
	return len(names), sockets
}

// openFilesLimit is the process's soft and hard RLIMIT_NOFILE, as
// /proc/<pid>/limits shows them.
func openFilesLimit(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/limits")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Max open files"); ok {
			f := strings.Fields(rest)
			if len(f) >= 2 {
				return f[0] + " soft, " + f[1] + " hard"
			}
		}
	}
	return "unknown"
}
