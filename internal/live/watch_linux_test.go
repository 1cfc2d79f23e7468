//go:build linux

package live

import (
	"net"
	"sync"
	"testing"
	"time"
)

// Peers that hang up are reported, only they, while descriptors are
// reused from round to round.
func TestWatcherReportsHangUpsAcrossReusedDescriptors(t *testing.T) {
	w, err := newWatcher()
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const pairs = 10
	for round := 0; round < 20; round++ {
		var mu sync.Mutex
		hung := map[int]int{}
		clients := make([]net.Conn, pairs)
		watches := make([]*watch, pairs)
		servers := make([]net.Conn, pairs)
		for i := range pairs {
			if clients[i], err = net.Dial("tcp", l.Addr().String()); err != nil {
				t.Fatal(err)
			}
			if servers[i], err = l.Accept(); err != nil {
				t.Fatal(err)
			}
			watches[i] = w.add(servers[i], time.Minute, func() { mu.Lock(); hung[i]++; mu.Unlock() })
			if watches[i] == nil {
				t.Fatal("a TCP connection could not be watched")
			}
		}
		for i := 0; i < pairs; i += 2 {
			clients[i].Close()
		}
		for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(time.Millisecond) {
			mu.Lock()
			n := len(hung)
			mu.Unlock()
			if n >= pairs/2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: %d of %d hang-ups reported", round, n, pairs/2)
			}
		}
		time.Sleep(10 * time.Millisecond) // room for a wrong report
		mu.Lock()
		for i, n := range hung {
			if i%2 == 1 || n != 1 {
				t.Fatalf("round %d: connection %d reported %d times (only even ones hung up, once)", round, i, n)
			}
		}
		mu.Unlock()
		for i := range pairs {
			watches[i].remove()
			servers[i].Close()
			clients[i].Close()
		}
	}
}
