//go:build unix

package live

import "syscall"

// DefaultMaxStreams is the cap on open streams that fits the process's
// descriptor limit (which Go raises to the hard limit at start): each
// stream holds one, and a tenth, at least 256, stays for the database,
// the listener, files and requests.
func DefaultMaxStreams() int {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 1000
	}
	return streamsForFDs(uint64(r.Cur))
}
