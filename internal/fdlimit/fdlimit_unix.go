//go:build unix

package fdlimit

import (
	"fmt"
	"syscall"
)

// Raise sets the soft limit on open files to the hard limit and returns
// the soft limit in force afterwards. Go raises it by itself at start on
// some platforms and versions; doing it here makes the limit the server
// relies on explicit, whatever the toolchain does.
func Raise() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("read the open-files limit: %w", err)
	}
	if lim.Cur < lim.Max {
		raised := lim
		raised.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil {
			current.Store(uint64(lim.Cur))
			return uint64(lim.Cur), fmt.Errorf("raise the open-files limit from %d to %d: %w (raise it with ulimit -n or LimitNOFILE= in the service unit)", lim.Cur, lim.Max, err)
		}
		lim = raised
	}
	current.Store(uint64(lim.Cur))
	return uint64(lim.Cur), nil
}
