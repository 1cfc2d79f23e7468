// Command latency times events from POST to SSE: it keeps one stream open,
// posts events one after another, and for each measures from just before
// the POST is sent to when the event's frame has been read from the stream.
// The next event is posted once both the 202 and the frame are in.
//
// It prints one line: LATENCY n=… p50_ms=… p90_ms=… p99_ms=… max_ms=…
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
	base := flag.String("url", "http://127.0.0.1:18080", "server (or bare relay) base URL the events are posted to")
	streamBase := flag.String("stream-url", "", "server whose stream is read, when another instance than -url (default: -url)")
	keys := flag.String("keys", "", "file of session keys (the first is used)")
	n := flag.Int("n", 2000, "events to time")
	warmup := flag.Int("warmup", 200, "events posted first and not timed")
	flag.Parse()
	if *streamBase == "" {
		*streamBase = *base
	}
	if err := run(*base, *streamBase, *keys, *n, *warmup); err != nil {
		fmt.Fprintf(os.Stderr, "latency: %v\n", err)
		os.Exit(1)
	}
}

func run(base, streamBase, keyFile string, n, warmup int) error {
	key := "none" // the bare relay checks no key
	if keyFile != "" {
		keys, err := bench.ReadKeys(keyFile)
		if err != nil {
			return err
		}
		key = keys[0]
	}
	s, err := bench.OpenStream(streamBase, key, 5*time.Second)
	if err != nil {
		return err
	}
	defer s.Close()
	arrivals := make(chan arrival, 16)
	go read(s, arrivals)

	client := &http.Client{Timeout: 10 * time.Second}
	prefix := fmt.Sprintf("lat-%d-%d-", os.Getpid(), time.Now().UnixNano())
	if err := awaitSubscribed(client, base, key, prefix, arrivals); err != nil {
		return err
	}
	took := make([]time.Duration, 0, n)
	for i := 0; i < warmup+n; i++ {
		id := prefix + strconv.Itoa(i)
		start := time.Now()
		if err := bench.PostEvents(client, base, key, bench.Event(id, "latency_probe")); err != nil {
			return err
		}
		at, err := await(arrivals, id, 5*time.Second)
		if err != nil {
			return fmt.Errorf("event %d: %w", i, err)
		}
		if i >= warmup {
			took = append(took, at.Sub(start))
		}
	}
	sum := bench.Summarize(took)
	fmt.Printf("LATENCY n=%d p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f\n",
		sum.N, bench.Millis(sum.P50), bench.Millis(sum.P90), bench.Millis(sum.P99), bench.Millis(sum.Max))
	return nil
}

// awaitSubscribed posts until an event comes back: a stream's first frame
// can be read a moment before the server has subscribed it.
func awaitSubscribed(c *http.Client, base, key, prefix string, arrivals <-chan arrival) error {
	for try := 0; try < 20; try++ {
		id := prefix + "ready-" + strconv.Itoa(try)
		if err := bench.PostEvents(c, base, key, bench.Event(id, "latency_probe")); err != nil {
			return err
		}
		if _, err := await(arrivals, id, 500*time.Millisecond); err == nil {
			return nil
		}
	}
	return errors.New("no posted event came back on the stream in 10 s")
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
			return time.Time{}, fmt.Errorf("its frame did not arrive within %v", timeout)
		}
	}
}

// read reports each event frame with the client id it carries; the time is
// taken when the frame was read, before decoding it.
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
