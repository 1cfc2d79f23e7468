//go:build unix

package live

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/domain"
)

// directSubscriber is the one stream of the fixture's session, once it is
// idle: registered, its first read of the store done, nothing queued.
func directSubscriber(t *testing.T, f *fixture) *Subscriber {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		f.broker.mu.RLock()
		var s *Subscriber
		for s = range f.broker.topics[f.sess.ID] {
		}
		f.broker.mu.RUnlock()
		if s == nil {
			continue
		}
		s.mu.Lock()
		idle := !s.running && !s.gap && len(s.queue) == 0
		s.mu.Unlock()
		if idle {
			return s
		}
	}
	t.Fatal("no idle stream within 5 s")
	return nil
}

// The frame of a commit leaves before Publish returns: no goroutine of
// the stream's is left to start (and to wait for a core).
func TestDirectWriteBeforePublishReturns(t *testing.T) {
	f := newFixture(t, Options{})
	ch, stop := ids(t, f.http.URL)
	defer stop()
	s := directSubscriber(t, f)
	if s.direct == nil {
		t.Fatal("a stream over plain TCP is not written directly")
	}
	for i := 1; i <= 3; i++ {
		f.commit(t, true, domain.Event{Name: "a", Status: "completed"})
		s.mu.Lock()
		running, queued := s.running, len(s.queue)
		s.mu.Unlock()
		if running || queued != 0 {
			t.Fatalf("event %d: after Publish the stream has a writer running (%v) or %d frames queued", i, running, queued)
		}
		expect(t, ch, strconv.Itoa(i))
	}
}

// A socket that takes part of a frame: the rest is written by the
// stream's goroutine, ahead of the frames offered meanwhile, so that the
// client reads every frame whole and in order.
func TestDirectWriteRestOfAFullSocket(t *testing.T) {
	f := newFixture(t, Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	// Small buffers (larger than loopback's 64 KiB segments, or TCP crawls),
	// so that a few frames fill them: a frame is then cut part way.
	_ = server.(*net.TCPConn).SetWriteBuffer(64 << 10)
	_ = client.(*net.TCPConn).SetReadBuffer(128 << 10)
	sub, err := f.broker.Subscribe(context.Background(), StreamRequest{SessionID: f.sess.ID, After: -1})
	if err != nil {
		t.Fatal(err)
	}
	sub.Start(ConnSink(server), server)
	directSubscriber(t, f)

	const n = 50
	pad := `{"pad":"` + strings.Repeat("x", 15000) + `"}` // a frame under directBytes
	for i := 0; i < n; i++ {
		// The client reads nothing yet: the buffers fill, and a frame
		// is cut where the socket stops taking it.
		f.commit(t, true, domain.Event{Name: "big", Status: "completed", Metadata: []byte(pad)})
	}
	_ = client.SetReadDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(client)
	if preamble, err := readFrame(r); err != nil || !strings.HasPrefix(preamble, "retry:") {
		t.Fatalf("preamble %q, %v", preamble, err)
	}
	for i := 1; i <= n; i++ {
		fr, err := readFrame(r)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		lines := strings.Split(fr, "\n")
		if len(lines) != 3 || lines[0] != fmt.Sprintf("id: %d", i) || lines[1] != "event: event" || !strings.HasPrefix(lines[2], "data: ") {
			t.Fatalf("frame %d is not whole: %.120q", i, fr)
		}
		var ev domain.StoredEvent
		if err := json.Unmarshal([]byte(lines[2][len("data: "):]), &ev); err != nil || ev.Seq != int64(i) || len(ev.Metadata) != len(pad) {
			t.Fatalf("frame %d: data of seq %d, %d bytes of metadata, %v", i, ev.Seq, len(ev.Metadata), err)
		}
	}
}

// readFrame reads up to a blank line, without the final newlines.
func readFrame(r *bufio.Reader) (string, error) {
	var b strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return b.String(), err
		}
		if line == "\n" {
			return strings.TrimSuffix(b.String(), "\n"), nil
		}
		b.WriteString(line)
	}
}

// A TLS connection's bytes go through TLS: never to its socket directly.
func TestDirectWriteNotUnderTLS(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if plainSocket(tls.Client(a, &tls.Config{InsecureSkipVerify: true})) != nil {
		t.Fatal("a TLS connection offers its socket for direct writes")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if plainSocket(tls.Client(c, &tls.Config{InsecureSkipVerify: true})) != nil {
		t.Fatal("a TLS connection over TCP offers its socket for direct writes")
	}
	if plainSocket(c) == nil {
		t.Fatal("a plain TCP connection offers no socket")
	}
}
