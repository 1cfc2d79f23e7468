package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/observable-code/observable/bench"
)

// honestClient is a user of its own session, from a loopback address of
// its own, who posts, reads back and follows its events on a live stream,
// and checks every answer against the contract.
type honestClient struct {
	o        options
	name, ip string
	key      string
	http     *http.Client

	requests atomic.Int64
	errs     *tally
	mu       sync.Mutex
	samples  []string             // the first few errors, in full
	seen     map[string]time.Time // client id → when its frame arrived
	arrived  chan struct{}        // a frame arrived
	lastSeq  int64                // on the live stream
	postLat  []time.Duration      // only run's goroutine touches these
	deliver  []time.Duration
}

func newHonest(o options, i int) (*honestClient, error) {
	h := &honestClient{o: o, name: fmt.Sprintf("honest-%d", i), ip: fmt.Sprintf("127.0.0.%d", 10+i),
		errs: newTally(), seen: map[string]time.Time{}, arrived: make(chan struct{}, 1)}
	h.http = clientFrom(h.ip, 2, 10*time.Second)
	key, err := bench.CreateSession(h.http, o.base)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", h.name, err)
	}
	h.key = key
	return h, nil
}

// fail counts an error, unless ctx ended: requests cut short by the end
// of the soak are not the server's doing.
func (h *honestClient) fail(ctx context.Context, kind, format string, args ...any) {
	if ctx.Err() != nil {
		return
	}
	h.errs.add(kind)
	h.mu.Lock()
	if len(h.samples) < 5 {
		h.samples = append(h.samples, kind+": "+fmt.Sprintf(format, args...))
	}
	h.mu.Unlock()
}

// run does rounds until loop ends; each request is bounded by the client's
// timeout and cut short only when hard ends.
func (h *honestClient) run(loop, hard context.Context) {
	streamCtx, stopStream := context.WithCancel(hard)
	tried, followed := make(chan struct{}), make(chan struct{})
	go func() { defer close(followed); h.follow(streamCtx, tried) }()
	defer func() {
		stopStream()
		<-followed
		h.http.CloseIdleConnections()
	}()
	select {
	case <-tried:
	case <-hard.Done():
		return
	}
	for round := 0; loop.Err() == nil; round++ {
		h.round(hard, round)
		sleep(loop, h.o.honestPause)
	}
}

// round posts one event and a batch of ten, reads them back, waits for them
// on the live stream, and asks /healthz.
func (h *honestClient) round(ctx context.Context, round int) {
	ids := make([]string, 11)
	var batch strings.Builder
	batch.WriteString(`{"events":[`)
	for j := range ids {
		ids[j] = fmt.Sprintf("%s-%d-%d", h.name, round, j)
		if j > 1 {
			batch.WriteByte(',')
		}
		if j > 0 {
			fmt.Fprintf(&batch, `{"id":%q,"name":"batch-%d","status":"failed","duration_ms":%d,`+
				`"error":{"type":"KeyError","message":"'customer_id'"},"metadata":{"round":%d,"rows":[1,2,3]}}`, ids[j], j, j, round)
		}
	}
	batch.WriteString(`]}`)
	single := fmt.Sprintf(`{"id":%q,"name":"nightly_sync","status":"completed","duration_ms":%d,"source":{"host":"soak"}}`, ids[0], round)

	var sent [2]time.Time // when each POST went out: the single, the batch
	for k, p := range []struct {
		body string
		n    int
	}{{single, 1}, {batch.String(), 10}} {
		sent[k] = time.Now()
		h.requests.Add(1)
		code, answer, accepted, err := post(ctx, h.http, h.o.base, h.key, p.body)
		switch {
		case err != nil:
			h.fail(ctx, "POST /events: "+errKind(err), "%v", err)
			return
		case code != http.StatusAccepted || accepted != p.n:
			h.fail(ctx, fmt.Sprintf("POST /events: %d", code), "accepted %d of %d: %.300s", accepted, p.n, answer)
			return
		}
		h.postLat = append(h.postLat, time.Since(sent[k]))
	}
	h.readBack(ctx, ids)
	h.awaitDelivery(ctx, ids, sent)
	h.requests.Add(1)
	if code, _, err := h.get(ctx, "/healthz"); err != nil || code != http.StatusOK {
		h.fail(ctx, "GET /healthz", "%d %v", code, err)
	}
}

// readBack checks GET /api/v1/events: newest first, and this round's events in it.
func (h *honestClient) readBack(ctx context.Context, ids []string) {
	h.requests.Add(1)
	code, body, err := h.get(ctx, "/api/v1/events?limit=50")
	if err != nil || code != http.StatusOK {
		h.fail(ctx, fmt.Sprintf("GET /events: %d", code), "%v %.300s", err, body)
		return
	}
	var page struct {
		Events []struct {
			Seq int64  `json:"seq"`
			ID  string `json:"id"`
		} `json:"events"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		h.fail(ctx, "GET /events: not JSON", "%v", err)
		return
	}
	got := map[string]bool{}
	for k, e := range page.Events {
		if k > 0 && e.Seq >= page.Events[k-1].Seq {
			h.fail(ctx, "GET /events: not newest first", "seq %d after %d", e.Seq, page.Events[k-1].Seq)
			return
		}
		got[e.ID] = true
	}
	for _, id := range ids {
		if !got[id] {
			h.fail(ctx, "GET /events: an accepted event is missing", "%s not among the newest %d", id, len(page.Events))
			return
		}
	}
}

// awaitDelivery waits until every id has arrived on the live stream, and
// records how long after its POST went out each did.
func (h *honestClient) awaitDelivery(ctx context.Context, ids []string, sent [2]time.Time) {
	deadline := time.NewTimer(h.o.deliverTimeout)
	defer deadline.Stop()
	for j, id := range ids {
		for {
			h.mu.Lock()
			at, ok := h.seen[id]
			delete(h.seen, id)
			h.mu.Unlock()
			if ok {
				h.deliver = append(h.deliver, at.Sub(sent[min(j, 1)]))
				break
			}
			select {
			case <-h.arrived:
			case <-ctx.Done():
				return
			case <-deadline.C:
				h.fail(ctx, "live stream: an accepted event did not arrive", "%s not on the stream after %v", id, h.o.deliverTimeout)
				return
			}
		}
	}
}

func (h *honestClient) get(ctx context.Context, path string) (int, []byte, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.o.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+h.key)
	resp, err := h.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	return resp.StatusCode, body, err
}

// follow keeps one live stream open, from 127.0.0.x like the client's
// other requests, and records each event's arrival; tried is closed once
// the first stream is open or has failed. A stream the server closes is an
// error (this client reads promptly); it resumes after the last seq seen.
func (h *honestClient) follow(ctx context.Context, tried chan struct{}) {
	var once sync.Once
	done := func() { once.Do(func() { close(tried) }) }
	defer done()
	for ctx.Err() == nil {
		h.requests.Add(1)
		err := h.stream(ctx, done)
		h.fail(ctx, "live stream: "+errKind(err), "%v", err)
		done()
		sleep(ctx, 100*time.Millisecond)
	}
}

func (h *honestClient) stream(ctx context.Context, opened func()) error {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(h.ip)}, Timeout: 5 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", strings.TrimPrefix(h.o.base, "http://"))
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	req, _ := http.NewRequest(http.MethodGet, h.o.base+"/api/v1/events/stream", nil)
	req.Header.Set("Authorization", "Bearer "+h.key)
	if h.lastSeq > 0 {
		req.Header.Set("Last-Event-ID", fmt.Sprint(h.lastSeq))
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if err := req.Write(conn); err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return fmt.Errorf("answered %s (%s): %s", resp.Status, resp.Header.Get("Content-Type"), b)
	}
	// Heartbeats come at least every 30 s; a longer silence is an error.
	body := bufio.NewReader(resp.Body)
	opened()
	for {
		conn.SetReadDeadline(time.Now().Add(35 * time.Second))
		line, err := body.ReadBytes('\n')
		if err != nil {
			return err
		}
		// The server writes each event on one data line; the id, event
		// and comment lines carry nothing to check.
		data, ok := bytes.CutPrefix(line, []byte("data:"))
		if !ok {
			continue
		}
		var e struct {
			Seq int64  `json:"seq"`
			ID  string `json:"id"`
		}
		if err := json.Unmarshal(data, &e); err != nil {
			return fmt.Errorf("a data line that is not one event's JSON: %v", err)
		}
		if e.Seq <= h.lastSeq {
			return fmt.Errorf("seq %d after %d: the stream went back", e.Seq, h.lastSeq)
		}
		h.lastSeq = e.Seq
		h.mu.Lock()
		h.seen[e.ID] = time.Now()
		h.mu.Unlock()
		select {
		case h.arrived <- struct{}{}:
		default:
		}
	}
}
