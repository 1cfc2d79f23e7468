//go:build unix

package live

import (
	"net"
	"syscall"
)

// plainSocket is the descriptor a stream's bytes may be written to
// directly, or nil. conn is not unwrapped: a TLS connection offers none,
// as its bytes must go through TLS.
func plainSocket(conn net.Conn) syscall.RawConn {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// writeNow writes what the socket takes at once and never waits for room:
// n is 0 when its buffer is full.
func writeNow(rc syscall.RawConn, p []byte) (n int, err error) {
	cerr := rc.Write(func(fd uintptr) bool {
		for {
			n, err = syscall.Write(int(fd), p)
			if err != syscall.EINTR {
				return true
			}
		}
	})
	if cerr != nil {
		return 0, cerr
	}
	if err == syscall.EAGAIN {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return n, nil
}
