//go:build !linux

package live

import (
	"net"
	"time"
)

// watcher notices that the peers of hijacked connections went away. Without
// epoll it spends one goroutine per stream, blocked in a Read: an idle
// stream is never read otherwise, so a closed socket would be found only by
// the next heartbeat write, tens of seconds later.
type watcher struct{}

type watch struct{}

func newWatcher() (*watcher, error) { return &watcher{}, nil }

// add calls onHang once conn's peer closed or reset it. What the client
// sends on a stream is discarded: the request was its last word.
func (w *watcher) add(conn net.Conn, _ time.Duration, onHang func()) *watch {
	go func() {
		buf := make([]byte, 512)
		for {
			_ = conn.SetReadDeadline(time.Time{})
			if _, err := conn.Read(buf); err != nil {
				onHang()
				return
			}
		}
	}()
	return &watch{}
}

// remove has nothing to do: closing the connection ends the Read.
func (wt *watch) remove() {}

func (w *watcher) close() {}
