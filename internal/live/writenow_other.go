//go:build !unix

package live

import (
	"errors"
	"net"
	"syscall"
)

// plainSocket offers no descriptor here: streams are written by their
// goroutine only.
func plainSocket(net.Conn) syscall.RawConn { return nil }

func writeNow(syscall.RawConn, []byte) (int, error) {
	return 0, errors.New("no direct writes on this system")
}
