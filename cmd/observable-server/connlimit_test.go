package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// connlimitSockets counts the sockets a process holds open.
func connlimitSockets(t *testing.T, pid int) int {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Skipf("no /proc to count the server's sockets in: %v", err)
	}
	n := 0
	for _, e := range ents {
		if target, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && strings.HasPrefix(target, "socket:") {
			n++
		}
	}
	return n
}

// connlimitClient makes requests from the loopback address from.
func connlimitClient(from string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 2 * time.Second}
	return &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
		DisableKeepAlives: true,
	}}
}

// connlimitClosedByServer reports whether the server has closed conn.
func connlimitClosedByServer(conn net.Conn) bool {
	conn.SetReadDeadline(time.Now().Add(time.Millisecond))
	buf := make([]byte, 512)
	for {
		if _, err := conn.Read(buf); err != nil {
			ne, ok := err.(net.Error)
			return !ok || !ne.Timeout()
		}
	}
}

// An address that opens sockets and sends nothing holds at most its cap of
// the server's descriptors; another address is still served, and the
// descriptors come back when the sockets close.
func TestConnlimitPerAddressCap(t *testing.T) {
	const limit, opened = 20, 40
	p := startServer(t, filepath.Join(t.TempDir(), "o.db"), freePort(t), "--max-conns-per-address", fmt.Sprint(limit))
	// startServer's readiness polls leave a kept-alive connection from
	// 127.0.0.1, which would hold one of the address's places until the
	// server's idle timeout: close it, so the count below is exact.
	pid := p.cmd.Process.Pid
	kept := connlimitSockets(t, pid)
	http.DefaultClient.CloseIdleConnections()
	for deadline := time.Now().Add(2 * time.Second); connlimitSockets(t, pid) >= kept && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
	}
	before := connlimitSockets(t, pid)

	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range opened {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+p.port, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	closed := map[int]bool{}
	for deadline := time.Now().Add(5 * time.Second); len(closed) < opened-limit; time.Sleep(20 * time.Millisecond) {
		for i, c := range conns {
			if !closed[i] && connlimitClosedByServer(c) {
				closed[i] = true
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server closed %d of %d silent connections from one address, want %d (cap %d); it holds %d sockets",
				len(closed), opened, opened-limit, limit, connlimitSockets(t, pid)-before)
		}
	}
	if held := connlimitSockets(t, pid) - before; held > limit+2 {
		t.Errorf("the server holds %d more sockets, want at most ~%d", held, limit)
	}

	if resp, err := connlimitClient("127.0.0.2").Get(p.url + "/healthz"); err != nil {
		t.Fatalf("another address was not served: %v", err)
	} else if resp.Body.Close(); resp.StatusCode != 200 {
		t.Fatalf("/healthz from another address: %d", resp.StatusCode)
	}
	if resp, err := connlimitClient("127.0.0.1").Get(p.url + "/healthz"); err == nil {
		if resp.Body.Close(); resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("/healthz from the address at its cap: %d, want 503 or a closed connection", resp.StatusCode)
		}
	}

	for _, c := range conns {
		c.Close()
	}
	conns = nil
	for deadline := time.Now().Add(5 * time.Second); connlimitSockets(t, pid) > before+1; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the server still holds %d more sockets after the client closed them all", connlimitSockets(t, pid)-before)
		}
	}
	if resp, err := connlimitClient("127.0.0.1").Get(p.url + "/healthz"); err != nil {
		t.Fatalf("the address is not served again after closing its connections: %v", err)
	} else if resp.Body.Close(); resp.StatusCode != 200 {
		t.Fatalf("/healthz after closing: %d", resp.StatusCode)
	}
}

// Past --max-conns the server stops accepting (the kernel's backlog holds
// the rest) instead of running out of descriptors, and accepts again as
// soon as connections close.
func TestConnlimitTotalCapWaitsInBacklog(t *testing.T) {
	const limit, opened = 30, 40
	p := startServer(t, filepath.Join(t.TempDir(), "o.db"), freePort(t), "--max-conns", fmt.Sprint(limit), "--max-conns-per-address", "0", "--max-streams", "20")
	pid := p.cmd.Process.Pid
	before := connlimitSockets(t, pid)
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range opened {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+p.port, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	// startServer's kept-alive /readyz connection may hold one of the places.
	for deadline := time.Now().Add(5 * time.Second); connlimitSockets(t, pid) < before+limit-1; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the server accepted %d connections, want %d", connlimitSockets(t, pid)-before, limit)
		}
	}
	answered := make(chan error, 1)
	go func() {
		resp, err := connlimitClient("127.0.0.2").Get(p.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != 200 {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
		answered <- err
	}()
	select {
	case err := <-answered:
		t.Fatalf("a connection past --max-conns was served at once (%v)", err)
	case <-time.After(300 * time.Millisecond):
	}
	if held := connlimitSockets(t, pid) - before; held > limit {
		t.Errorf("the server holds %d more sockets, want at most %d", held, limit)
	}
	for _, c := range conns[:opened-limit+5] {
		c.Close() // frees places: the ten in the backlog and /healthz get in
	}
	conns = conns[opened-limit+5:]
	select {
	case err := <-answered:
		if err != nil {
			t.Fatalf("/healthz after places were freed: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("/healthz still waits after connections closed")
	}
}

// A stream's connection, which the broker holds after the HTTP server let
// it go, gives its place under the cap back when it closes: round after
// round of streams from one address fit under a cap of a few.
func TestConnlimitStreamsGiveTheirPlaceBack(t *testing.T) {
	const perRound = 5
	p := launch(t, filepath.Join(t.TempDir(), "o.db"), "--max-conns-per-address", "8")
	awaitReady(t, 10*time.Second, p)
	key, _ := newSession(t, p)
	pid := p.cmd.Process.Pid
	before := connlimitSockets(t, pid)
	for round := range 4 {
		var streams []*sseStream
		for range perRound {
			streams = append(streams, openStream(t, p, key, -1))
		}
		for _, s := range streams {
			s.stop()
		}
		for deadline := time.Now().Add(5 * time.Second); connlimitSockets(t, pid) > before; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the server still holds %d more sockets after the streams closed", round, connlimitSockets(t, pid)-before)
			}
		}
	}
}
