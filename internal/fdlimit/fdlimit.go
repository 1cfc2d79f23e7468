// Package fdlimit raises and reports the process's limit on open files
// (RLIMIT_NOFILE). Every stream holds a socket, so the soft limit, often
// 1024, is what the stream caps have to stay under.
package fdlimit

import "sync/atomic"

// current is the soft limit as last read or set; 0 until Raise runs.
var current atomic.Uint64

// Current returns the soft limit on open files that Raise left in place,
// or 0 when it is unknown (Raise has not run, or the platform has none).
func Current() uint64 { return current.Load() }
