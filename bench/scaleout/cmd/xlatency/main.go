// Command xlatency times events from a POST on one server instance to their
// frame on a stream held by another instance of the same PostgreSQL
// database: the path LISTEN/NOTIFY adds to bench/cmd/latency's. It posts
// events one after another; each is timed from just before its POST is sent
// to when its frame has been read, and the next is posted once both the 202
// and the frame are in.
//
// It prints one line: XLATENCY n=… p50_ms=… p90_ms=… p99_ms=… max_ms=…
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/observable-code/observable/bench"
)

type arrival struct {
	id string
	at time.Time
}

func main() {
	postURL := flag.String("post", "http://127.0.0.1:18400", "instance the events are posted to")
	streamURL := flag.String("stream", "http://127.0.0.1:18402", "instance whose stream receives them")
	keys := flag.String("keys", "", "file of session keys (the first is used)")
	n := flag.Int("n", 2000, "events to time")
	warmup := flag.Int("warmup", 200, "events posted first and not timed")
	flag.Parse()
	if err := run(*postURL, *streamURL, *keys, *n, *warmup); err != nil {
		fmt.Fprintf(os.Stderr, "xlatency: %v\n", err)
		os.Exit(1)
	}
}

func run(postURL, streamURL, keyFile string, n, warmup int) error {
	keys, err := bench.ReadKeys(keyFile)
	if err != nil {
		return err
	}
	key := keys[0]
	s, err := bench.OpenStream(streamURL, key, 5*time.Second)
	if err != nil {
		return err
	}
	defer s.Close()
	arrivals := make(chan arrival, 16)
	go read(s, arrivals)

	client := &http.Client{Timeout: 10 * time.Second}
	prefix := fmt.Sprintf("xlat-%d-%d-", os.Getpid(), time.Now().UnixNano())
	// The stream instance's listener may still be connecting: the warm-up
	// waits as long as it takes (it resyncs when it does).
	took := make([]time.Duration, 0, n)
	for i := 0; i < warmup+n; i++ {
		id := prefix + strconv.Itoa(i)
		start := time.Now()
		if err := bench.PostEvents(client, postURL, key, bench.Event(id, "latency_probe")); err != nil {
			return err
		}
		limit := 5 * time.Second
		if i == 0 {
			limit = 30 * time.Second
		}
		at, err := await(arrivals, id, limit)
		if err != nil {
			return fmt.Errorf("event %d: %w", i, err)
		}
		if i >= warmup {
			took = append(took, at.Sub(start))
		}
	}
	sum := bench.Summarize(took)
	fmt.Printf("XLATENCY n=%d p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f\n",
		sum.N, bench.Millis(sum.P50), bench.Millis(sum.P90), bench.Millis(sum.P99), bench.Millis(sum.Max))
	return nil
}

// await returns when the frame of event id arrived, skipping others.
func await(arrivals <-chan arrival, id string, timeout time.Duration) (time.Time, error) {
	deadline := time.After(timeout)
	for {
		select {
		case a, ok := <-arrivals:
			if !ok {
				return time.Time{}, errors.New("the stream ended")
			}
			if a.id == id {
				return a.at, nil
			}
		case <-deadline:
			return time.Time{}, fmt.Errorf("its frame did not arrive on the other instance within %v", timeout)
		}
	}
}

// read reports each event frame with its client id; the time is taken when
// the frame was read, before decoding it.
func read(s *bench.Stream, arrivals chan<- arrival) {
	defer close(arrivals)
	for {
		f, err := s.Next()
		if err != nil {
			return
		}
		if len(f.Data) == 0 {
			continue
		}
		var ev struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(f.Data, &ev) == nil {
			arrivals <- arrival{id: ev.ID, at: f.At}
		}
	}
}
