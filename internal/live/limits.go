package live

import (
	"fmt"
)

// Limits caps the streams open at once; 0 turns a cap off. Past one, a
// stream is refused with 503 and Retry-After: each costs a descriptor, and
// a free session must not be able to take them all.
type Limits struct {
	Total      int // the whole instance
	PerSession int
	PerDevice  int
	PerAddr    int // per client address (an IPv6 client by its /64)
}

// limitRetry is the Retry-After of a refused stream, in seconds.
const limitRetry = 10

// holdings counts the streams that hold places under the caps: from before
// the connection is taken over until the stream is closed.
type holdings struct {
	total     int
	perSess   map[int64]int
	perDevice map[string]int
	perAddr   map[string]int
}

func newHoldings() holdings {
	return holdings{perSess: map[int64]int{}, perDevice: map[string]int{}, perAddr: map[string]int{}}
}

// limitError is a refused stream: which cap, and what to do.
type limitError struct{ message string }

func (e *limitError) Error() string { return e.message }

// reserve takes the stream's places under the caps, or says which is full.
func (b *Broker) reserve(s *Subscriber) *limitError {
	lim := b.opts.Limits
	b.mu.Lock()
	defer b.mu.Unlock()
	h := &b.held
	switch {
	case lim.Total > 0 && h.total >= lim.Total:
		return &limitError{fmt.Sprintf("this server has as many event streams open as it allows (%d, --max-streams); retry later, or use another instance", lim.Total)}
	case lim.PerSession > 0 && h.perSess[s.session] >= lim.PerSession:
		return &limitError{fmt.Sprintf("this session already has %d event streams open, the most allowed (--max-streams-per-session); close some (other tabs of the app, other followers) and retry", lim.PerSession)}
	case lim.PerDevice > 0 && s.device != "" && h.perDevice[s.device] >= lim.PerDevice:
		return &limitError{fmt.Sprintf("this device already has %d event streams open, the most allowed (--max-streams-per-device); close other tabs of the app and retry", lim.PerDevice)}
	case lim.PerAddr > 0 && s.addr != "" && h.perAddr[s.addr] >= lim.PerAddr:
		return &limitError{fmt.Sprintf("your address already has %d event streams open, the most allowed (--max-streams-per-address); close some and retry", lim.PerAddr)}
	}
	h.total++
	h.perSess[s.session]++
	if s.device != "" {
		h.perDevice[s.device]++
	}
	if s.addr != "" {
		h.perAddr[s.addr]++
	}
	s.reserved = true
	return nil
}

// releaseLocked gives back what reserve took, once.
func (b *Broker) releaseLocked(s *Subscriber) {
	if !s.reserved {
		return
	}
	s.reserved = false
	h := &b.held
	h.total--
	decr(h.perSess, s.session)
	if s.device != "" {
		decr(h.perDevice, s.device)
	}
	if s.addr != "" {
		decr(h.perAddr, s.addr)
	}
}

func decr[K comparable](m map[K]int, k K) {
	if m[k] <= 1 {
		delete(m, k)
	} else {
		m[k]--
	}
}

// release gives back the places of a stream that never opened.
func (b *Broker) release(s *Subscriber) {
	b.mu.Lock()
	b.releaseLocked(s)
	b.mu.Unlock()
}

// streamsForFDs leaves a tenth of the descriptors, at least 256, to
// everything but streams.
func streamsForFDs(fds uint64) int {
	const most = 1 << 30
	fds = min(fds, most)
	spare := max(fds/10, 256)
	if fds <= spare+16 {
		return 16
	}
	return int(fds - spare)
}
