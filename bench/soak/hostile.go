package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// hostile holds the hostile clients' sessions and what they were answered.
type hostile struct {
	base, addr                string
	http                      *http.Client
	jobsKey, bigKey, churnKey string

	churnCodes, floodCodes, jobCodes, stuckCodes *tally
	setupAccepted                                atomic.Int64
	setupRefusal                                 atomic.Pointer[string]
	jobBytesMax, jobBytes                        atomic.Int64
	held, heldMax                                atomic.Int64
}

// churn opens a stream, reads its answer's head and closes it, in a loop:
// it holds no stream open, but a server that notices a closed socket only
// when it next writes to it keeps a descriptor for each one. Without wait
// (-flooders) it closes before the answer: a connection flood.
func (h *hostile) churn(ctx context.Context, wait bool) {
	codes := h.churnCodes
	if !wait {
		codes = h.floodCodes
	}
	for ctx.Err() == nil {
		label, conn := h.openStream(h.churnKey, false, wait)
		codes.add(label)
		if conn != nil {
			conn.Close()
		} else if strings.Contains(label, "error") {
			sleep(ctx, 10*time.Millisecond) // do not spin on a server that is down
		}
	}
}

// readJobs calls GET /api/v1/jobs over and over on the session of many
// jobs with 64 KiB metadata, a third of the time asking for a huge page,
// and a third GET /api/v1/jobs/{name} of a job of many 64 KiB events.
func (h *hostile) readJobs(ctx context.Context, i int) {
	for n := 0; ctx.Err() == nil; n++ {
		url, key := h.base+"/api/v1/jobs", h.jobsKey
		switch (n + i) % 3 {
		case 1:
			url += "?limit=1000000"
		case 2:
			url, key = fmt.Sprintf("%s/big-%d", url, n%5), h.bigKey
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := h.http.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				h.jobCodes.add("error: " + errKind(err))
				sleep(ctx, 10*time.Millisecond)
			}
			continue
		}
		size, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil && ctx.Err() != nil {
			continue
		}
		h.jobCodes.add(fmt.Sprint(resp.StatusCode))
		h.jobBytes.Add(size)
		atomicMax(&h.jobBytesMax, size)
	}
}

// hold opens a stream resumed from the first event, on one of the two
// sessions of 64 KiB events, and never reads it. It looks every half second
// whether the server closed it (a stream that does not read may be
// dropped) and then opens another; past a cap it retries after a second.
func (h *hostile) hold(ctx context.Context, i int) {
	key := h.bigKey
	if i%2 == 1 {
		key = h.jobsKey
	}
	for ctx.Err() == nil {
		label, conn := h.openStream(key, true, true)
		h.stuckCodes.add(label)
		if conn == nil {
			sleep(ctx, time.Second)
			continue
		}
		atomicMax(&h.heldMax, h.held.Add(1))
		for ctx.Err() == nil && !peerClosed(conn) {
			sleep(ctx, 500*time.Millisecond)
		}
		h.held.Add(-1)
		if ctx.Err() == nil {
			h.stuckCodes.add("closed by the server while held")
		}
		conn.Close()
	}
}

func (h *hostile) close() { h.http.CloseIdleConnections() }

// openStream sends GET /api/v1/events/stream on a connection of its own
// from 127.0.0.1 and, if wait, reads the answer's head, nothing more. It
// returns a label for the answer and, on a 200, the open connection.
func (h *hostile) openStream(key string, fromStart, wait bool) (string, net.Conn) {
	conn, err := net.DialTimeout("tcp", h.addr, 5*time.Second)
	if err != nil {
		return "dial error: " + errKind(err), nil
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	head := "GET /api/v1/events/stream HTTP/1.1\r\nHost: " + h.addr + "\r\nAuthorization: Bearer " + key +
		"\r\nAccept: text/event-stream\r\n"
	if fromStart {
		head += "Last-Event-ID: 0\r\n"
	}
	if _, err := io.WriteString(conn, head+"\r\n"); err != nil {
		conn.Close()
		return "write error: " + errKind(err), nil
	}
	if !wait {
		conn.Close()
		return "closed before the answer", nil
	}
	// A small buffer: what it reads past the head is all the stream ever gets read.
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 512), nil)
	if err != nil {
		conn.Close()
		return "read error: " + errKind(err), nil
	}
	label := fmt.Sprint(resp.StatusCode)
	if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
		label += " without Retry-After"
	}
	if resp.StatusCode != http.StatusOK {
		conn.Close()
		return label, nil
	}
	conn.SetDeadline(time.Time{})
	return label, conn
}

// tally counts answers by label.
type tally struct {
	mu sync.Mutex
	n  map[string]int64
}

func newTally() *tally { return &tally{n: map[string]int64{}} }

func (t *tally) add(label string) {
	t.mu.Lock()
	t.n[label]++
	t.mu.Unlock()
}

func (t *tally) total() (n int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, v := range t.n {
		n += v
	}
	return n
}

// String lists the counts, largest first: "200: 9,120; 503: 88".
func (t *tally) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	labels := make([]string, 0, len(t.n))
	for l := range t.n {
		labels = append(labels, l)
	}
	slices.SortFunc(labels, func(a, b string) int { return int(t.n[b] - t.n[a]) })
	parts := make([]string, len(labels))
	for i, l := range labels {
		parts[i] = l + ": " + thousands(t.n[l])
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "; ")
}

// errKind shortens a network error to what matters in a count.
func errKind(err error) string {
	s := err.Error()
	for _, k := range []string{"timeout", "refused", "reset", "too many open files", "cannot assign", "EOF", "broken pipe"} {
		if strings.Contains(s, k) {
			return k
		}
	}
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:] // without the addresses and ports
	}
	return s
}

func atomicMax(v *atomic.Int64, n int64) {
	for old := v.Load(); n > old && !v.CompareAndSwap(old, n); old = v.Load() {
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
