package api

import (
	"bufio"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

// An idle HTTP/1.1 stream costs no goroutine: the transport takes the
// connection over and hands it to the broker, whose handler returns.
func TestIdleStreamsHoldNoGoroutine(t *testing.T) {
	h := newHarness(t)
	s := h.newSession()
	const streams = 40
	before := runtime.NumGoroutine()
	addr := strings.TrimPrefix(h.http.URL, "http://")
	for i := 0; i < streams; i++ {
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write([]byte("GET /api/v1/events/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + s.key + "\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("stream %d: %v %v", i, err, resp)
		}
	}
	// The handlers return just after the head: wait for them to be gone.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine()-before >= streams/4 {
		if time.Now().After(deadline) {
			t.Fatalf("%d idle streams hold %d goroutines; want next to none", streams, runtime.NumGoroutine()-before)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A stream is registered just after its head is written: wait for all.
	for h.broker.Subscribers() != streams {
		if time.Now().After(deadline) {
			t.Fatalf("the broker holds %d streams, want %d", h.broker.Subscribers(), streams)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
