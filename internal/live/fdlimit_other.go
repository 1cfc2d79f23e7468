//go:build !unix

package live

// DefaultMaxStreams is the cap on open streams when the descriptor limit
// cannot be read.
func DefaultMaxStreams() int { return 10000 }
