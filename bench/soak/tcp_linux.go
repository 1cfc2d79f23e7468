package main

import (
	"net"
	"syscall"
)

// peerClosed reports whether the server has closed conn, without reading
// from it: the socket's TCP state (the first byte of TCP_INFO) has left
// ESTABLISHED, e.g. CLOSE_WAIT once the server's FIN arrived.
func peerClosed(conn net.Conn) bool {
	raw, err := conn.(*net.TCPConn).SyscallConn()
	if err != nil {
		return true
	}
	state := -1
	raw.Control(func(fd uintptr) {
		if v, err := syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_INFO); err == nil {
			state = v & 0xff
		}
	})
	const established = 1
	return state != established
}
