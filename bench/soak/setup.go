package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/observable-code/observable/bench"
)

// bigMeta is metadata of exactly 64 KiB serialized, the contract's limit.
var bigMeta = `{"blob":"` + strings.Repeat("x", 64<<10-len(`{"blob":""}`)) + `"}`

// bigBatch is how many 64 KiB events go in one POST: well under the
// default --max-body-bytes of 1 MiB.
const bigBatch = 12

// clientFrom is an HTTP client whose connections come from the loopback
// address ip, so that the server's per-address limits tell clients apart.
func clientFrom(ip string, conns int, timeout time.Duration) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		DialContext:         d.DialContext,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     30 * time.Second,
	}}
}

// post sends a body of events and returns the answer's code, its body and
// the number of events accepted.
func post(ctx context.Context, c *http.Client, base, key, body string) (int, []byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/events", strings.NewReader(body))
	if err != nil {
		return 0, nil, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, 0, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return resp.StatusCode, nil, 0, fmt.Errorf("read answer: %w", err)
	}
	var a struct{ Accepted, Duplicates int }
	if resp.StatusCode == http.StatusAccepted {
		if err := json.Unmarshal(answer, &a); err != nil {
			return resp.StatusCode, answer, 0, fmt.Errorf("202 with a body that is not the contract's: %.200s", answer)
		}
	}
	return resp.StatusCode, answer, a.Accepted, nil
}

// setup makes the hostile clients' three sessions from 127.0.0.1 and fills
// two of them with 64 KiB events: one event for each of o.jobs job names,
// and o.bigEvents events over a few names.
func setup(o options) (*hostile, error) {
	h := &hostile{base: o.base, addr: strings.TrimPrefix(o.base, "http://"), http: clientFrom("127.0.0.1", o.readers, 60*time.Second),
		churnCodes: newTally(), floodCodes: newTally(), jobCodes: newTally(), stuckCodes: newTally()}
	for _, k := range []*string{&h.jobsKey, &h.bigKey, &h.churnKey} {
		key, err := bench.CreateSession(h.http, o.base)
		if err != nil {
			return nil, err
		}
		*k = key
	}
	ctx := context.Background()
	// A cap on jobs per session may refuse part of them: that is counted
	// and the rest of the soak runs with the jobs the server took.
	for i := 0; i < o.jobs; i += bigBatch {
		code, err := h.postBig(ctx, h.jobsKey, i, min(bigBatch, o.jobs-i), func(n int) string { return fmt.Sprintf("job-%04d", n) })
		if err != nil {
			return nil, err
		}
		if code != http.StatusAccepted {
			break
		}
	}
	for i := 0; i < o.bigEvents; i += bigBatch {
		code, err := h.postBig(ctx, h.bigKey, i, min(bigBatch, o.bigEvents-i), func(n int) string { return fmt.Sprintf("big-%d", n%5) })
		if err != nil {
			return nil, err
		}
		if code != http.StatusAccepted {
			return nil, fmt.Errorf("posting the large events of the resume session answered %d; see the server's log", code)
		}
	}
	return h, nil
}

// postBig posts n 64 KiB events numbered from first, named by name.
func (h *hostile) postBig(ctx context.Context, key string, first, n int, name func(int) string) (int, error) {
	var b bytes.Buffer
	b.WriteString(`{"events":[`)
	for i := first; i < first+n; i++ {
		if i > first {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"s%d","name":%q,"status":"completed","duration_ms":%d,"metadata":%s}`, i, name(i), 100+i%50, bigMeta)
	}
	b.WriteString(`]}`)
	code, answer, accepted, err := post(ctx, h.http, h.base, key, b.String())
	if err != nil {
		return code, fmt.Errorf("set up large events: %w", err)
	}
	if code == http.StatusAccepted {
		h.setupAccepted.Add(int64(accepted))
	} else if h.setupRefusal.Load() == nil {
		msg := fmt.Sprintf("%d %.160s…", code, bytes.TrimSpace(answer))
		h.setupRefusal.Store(&msg)
	}
	return code, nil
}
