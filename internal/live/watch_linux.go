//go:build linux

package live

import (
	"errors"
	"net"
	"sync"
	"syscall"
	"time"
)

// watcher notices that the peers of hijacked connections went away. An idle
// stream is never read, so without it a closed socket would be found only
// by the next heartbeat write, tens of seconds later: a client opening and
// closing streams in a loop would run the process out of descriptors. One
// goroutine serves every stream, so idle streams still cost none of their own.
//
// The connections are also in Go's own poller; a second epoll instance
// watching them only for the peer's hang-up does not disturb it.
type watcher struct {
	epfd int
	wake [2]int // a pipe that ends the wait on close

	mu sync.Mutex
	// regs maps a descriptor to its registration. A descriptor is reused as
	// soon as it is closed, so each registration carries an id (in the
	// event's Pad) and an event whose id is not the current one is stale.
	regs   map[int32]watchReg
	nextID int32
	closed bool
	done   chan struct{}
}

type watchReg struct {
	id     int32
	onHang func()
}

// watch is a connection's registration; remove must be called before the
// connection is closed (its descriptor may be reused at once).
type watch struct {
	w  *watcher
	rc syscall.RawConn
	fd int32
	id int32
}

func newWatcher() (*watcher, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	w := &watcher{epfd: epfd, regs: make(map[int32]watchReg), done: make(chan struct{})}
	if err := syscall.Pipe2(w.wake[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		syscall.Close(epfd)
		return nil, err
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(w.wake[0]), Pad: 0}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, w.wake[0], &ev); err != nil {
		w.closeFDs()
		return nil, err
	}
	go w.run()
	return w, nil
}

// tcpUserTimeout is TCP_USER_TIMEOUT (linux/tcp.h), absent from package syscall.
const tcpUserTimeout = 0x12

// add calls onHang (on a goroutine of its own) once the peer of conn has
// closed or reset its side. It returns nil when conn cannot be watched
// (not a socket): that stream is then found dead by its heartbeat only.
//
// A peer that vanished without a word (a phone that changed networks) is
// found when what was written to it (a heartbeat) stays unacknowledged for
// deadAfter: the kernel then fails the socket, which reports as a hang-up.
// Left to the kernel's retransmissions it would take some 15 minutes, while
// holding a place under the device's cap.
func (w *watcher) add(conn net.Conn, deadAfter time.Duration, onHang func()) *watch {
	rc := rawConn(conn)
	if rc == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.nextID++
	if w.nextID <= 0 { // 0 is the wake pipe's
		w.nextID = 1
	}
	wt := &watch{w: w, rc: rc, id: w.nextID}
	var regErr error
	err := rc.Control(func(fd uintptr) {
		wt.fd = int32(fd)
		if deadAfter > 0 { // best effort: not every socket is TCP
			_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpUserTimeout, int(deadAfter/time.Millisecond))
		}
		// RDHUP: the peer closed its side (FIN); HUP and ERR (a reset) are
		// always reported. One shot: the stream is closed at the first one.
		ev := syscall.EpollEvent{Events: syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: int32(fd), Pad: wt.id}
		regErr = syscall.EpollCtl(w.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
	})
	if err != nil || regErr != nil {
		return nil
	}
	w.regs[wt.fd] = watchReg{id: wt.id, onHang: onHang}
	return wt
}

// remove stops watching; call it before closing the connection.
func (wt *watch) remove() {
	if wt == nil {
		return
	}
	w := wt.w
	w.mu.Lock()
	defer w.mu.Unlock()
	if r, ok := w.regs[wt.fd]; ok && r.id == wt.id {
		delete(w.regs, wt.fd)
	}
	if w.closed {
		return
	}
	_ = wt.rc.Control(func(fd uintptr) {
		_ = syscall.EpollCtl(w.epfd, syscall.EPOLL_CTL_DEL, int(fd), nil)
	})
}

func (w *watcher) run() {
	defer close(w.done)
	events := make([]syscall.EpollEvent, 128)
	for {
		n, err := syscall.EpollWait(w.epfd, events, -1)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return
		}
		var hung []func()
		w.mu.Lock()
		stop := w.closed
		for _, ev := range events[:n] {
			if ev.Pad == 0 && ev.Fd == int32(w.wake[0]) {
				stop = true
				continue
			}
			if r, ok := w.regs[ev.Fd]; ok && r.id == ev.Pad {
				delete(w.regs, ev.Fd)
				hung = append(hung, r.onHang)
			}
		}
		w.mu.Unlock()
		for _, f := range hung {
			// Closing takes the broker's lock: never under the watcher's.
			go f()
		}
		if stop {
			return
		}
	}
}

// close stops the watcher; the streams it watched are closed by their owner.
func (w *watcher) close() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	w.mu.Unlock()
	syscall.Write(w.wake[1], []byte{1})
	<-w.done
	w.closeFDs()
}

func (w *watcher) closeFDs() {
	syscall.Close(w.wake[0])
	syscall.Close(w.wake[1])
	syscall.Close(w.epfd)
}

// rawConn is the socket under conn (under TLS too), or nil.
func rawConn(conn net.Conn) syscall.RawConn {
	if tc, ok := conn.(interface{ NetConn() net.Conn }); ok {
		conn = tc.NetConn()
	}
	return plainSocket(conn)
}
