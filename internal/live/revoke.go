package live

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/observable-code/observable/internal/domain"
)

// rechecks is the revocation checks waiting to run: the sessions whose
// devices changed, or all of them after a listener outage. Requests made
// while one check runs are merged into the next.
type rechecks struct {
	mu       sync.Mutex
	sessions map[int64]bool
	all      bool
	wake     chan struct{}
}

// recheckLater asks for the device streams of sessionID (0: of every
// session) to be checked against the store; a stream whose device was
// unpaired is closed. It never blocks: Notice runs on the listener's goroutine.
func (b *Broker) recheckLater(sessionID int64) {
	r := &b.recheck
	r.mu.Lock()
	if sessionID == 0 {
		r.all = true
	} else {
		r.sessions[sessionID] = true
	}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Revocations is a count to read before a stream's credential is checked
// and to pass in StreamRequest.Revocations.
func (b *Broker) Revocations() uint64 { return b.revocations.Load() }

func (b *Broker) runRechecks() {
	for {
		select {
		case <-b.stop:
			return
		case <-b.recheck.wake:
		}
		r := &b.recheck
		r.mu.Lock()
		all, sessions := r.all, r.sessions
		r.all, r.sessions = false, make(map[int64]bool)
		r.mu.Unlock()
		b.closeRevoked(b.deviceStreams(all, sessions))
	}
}

// deviceStreams lists the streams opened with a device token, of the
// sessions given or of all.
func (b *Broker) deviceStreams(all bool, sessions map[int64]bool) []*Subscriber {
	b.mu.RLock()
	defer b.mu.RUnlock()
	var out []*Subscriber
	for id, subs := range b.topics {
		if !all && !sessions[id] {
			continue
		}
		for s := range subs {
			if s.device != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// closeRevoked closes the streams whose device no longer stands, one store
// read per device. A store that cannot answer leaves the streams open: the
// next resync (the listener reconnecting) checks them again.
func (b *Broker) closeRevoked(subs []*Subscriber) {
	gone := make(map[string]bool)
	for _, s := range subs {
		revoked, known := gone[s.device]
		if !known {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			d, err := b.src.DeviceByToken(ctx, s.tokenHash)
			cancel()
			switch {
			case errors.Is(err, domain.ErrNotFound):
				revoked = true
			case err != nil:
				b.log.Warn("stream: check whether a device is still paired", "session", s.session, "err", err)
				continue
			default:
				revoked = d.ID != s.device
			}
			gone[s.device] = revoked
		}
		if revoked {
			s.Close()
		}
	}
}
