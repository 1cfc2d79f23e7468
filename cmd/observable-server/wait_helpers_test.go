package main

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

// posters are clients posting events in a loop while a test interrupts the
// server (SIGKILL, SIGTERM): they record every event the server
// acknowledged, so that the test can check each was stored once.
type posters struct {
	mu    sync.Mutex
	acked map[string]bool
	stop  chan struct{}
	wg    sync.WaitGroup
}

// startPosters starts n clients; client w's i-th post is body(w, i), which
// also names the ids it carries. Each stops after maxEach posts, when the
// listener closes, or at halt. With strict, an answer other than 202 or 503
// fails the test (an honest post during shutdown must get one of those).
func startPosters(t *testing.T, url, key string, n, maxEach int, strict bool, body func(w, i int) ([]string, string)) *posters {
	ps := &posters{acked: map[string]bool{}, stop: make(chan struct{})}
	for w := 0; w < n; w++ {
		ps.wg.Add(1)
		go func(w int) {
			defer ps.wg.Done()
			client := &http.Client{Timeout: 5 * time.Second}
			for i := 0; i < maxEach; i++ {
				select {
				case <-ps.stop:
					return
				default:
				}
				ids, b := body(w, i)
				status, err := post(client, url, key, b)
				if err != nil {
					return // the listener closed
				}
				switch {
				case status == http.StatusAccepted:
					ps.mu.Lock()
					for _, id := range ids {
						ps.acked[id] = true
					}
					ps.mu.Unlock()
				case strict && status != http.StatusServiceUnavailable:
					t.Errorf("an honest post answered %d", status)
					return
				}
			}
		}(w)
	}
	return ps
}

// oneEvent is a posters body of one completed event with a unique id.
func oneEvent(prefix string) func(w, i int) ([]string, string) {
	return func(w, i int) ([]string, string) {
		id := fmt.Sprintf("%s%d-%d", prefix, w, i)
		return []string{id}, fmt.Sprintf(`{"id":%q,"name":"n","status":"completed"}`, id)
	}
}

// wait waits until n events were acknowledged.
func (ps *posters) wait(t *testing.T, n int) {
	t.Helper()
	mainWaitAcked(t, &ps.mu, ps.acked, n)
}

// halt stops the clients and returns what was acknowledged.
func (ps *posters) halt() map[string]bool {
	select {
	case <-ps.stop:
	default:
		close(ps.stop)
	}
	ps.wg.Wait()
	return ps.acked
}

// mainWaitAcked waits until acked holds at least n entries: a test that
// interrupts a load waits for the load, not for a guessed time.
func mainWaitAcked(t *testing.T, mu *sync.Mutex, acked map[string]bool, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		got := len(acked)
		mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d acknowledgements within 10 s", got, n)
		}
	}
}
