package live

import (
	"context"
	"sync"
	"time"
)

// fetchPage is how many missed events one store read brings.
const fetchPage = 500

var heartbeatFrame = []byte(": ping\n\n")

type frame struct {
	seq  int64 // 0 for comments
	data []byte
}

// sink is where a stream's bytes go: a hijacked connection, or a held
// ResponseWriter when the connection cannot be taken over (HTTP/2).
type sink interface {
	write(frames [][]byte, deadline time.Time) error
	close()
}

// Subscriber is one open stream of one session.
type Subscriber struct {
	b       *Broker
	session int64
	out     sink

	mu sync.Mutex
	// last is the newest seq queued or written: the stream's position.
	last  int64
	queue []frame
	// gap is set when the store holds events the stream lacks (a missed
	// publish, a resume, another instance's commit).
	gap bool
	// gapGen counts gaps, so that a fill knows if one opened meanwhile.
	gapGen    uint64
	running   bool
	closed    bool
	lastWrite time.Time
	done      chan struct{}
}

// offer queues frames that follow the stream's position; anything else
// means a gap, filled from the store.
func (s *Subscriber) offer(frames []frame) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	for _, f := range frames {
		if f.seq <= s.last {
			continue
		}
		if s.gap || f.seq != s.last+1 {
			s.markGap()
			break
		}
		s.queue = append(s.queue, f)
		s.last = f.seq
	}
	if len(s.queue) > s.b.opts.Buffer {
		s.dropLocked()
		return
	}
	s.kickLocked()
}

// behind says the store holds events up to seq (-1: maybe some, unknown).
func (s *Subscriber) behind(seq int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || (seq >= 0 && seq <= s.last) {
		return
	}
	s.markGap()
	s.kickLocked()
}

func (s *Subscriber) markGap() {
	s.gap = true
	s.gapGen++
}

func (s *Subscriber) heartbeat(now time.Time, every time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.running || now.Sub(s.lastWrite) < every {
		return
	}
	s.queue = append(s.queue, frame{data: heartbeatFrame})
	s.kickLocked()
}

// kickLocked starts the stream's writer unless it runs: a goroutine lives
// only while there is something to write.
func (s *Subscriber) kickLocked() {
	if s.running || s.closed || (len(s.queue) == 0 && !s.gap) {
		return
	}
	s.running = true
	go s.flush()
}

func (s *Subscriber) flush() {
	for {
		s.mu.Lock()
		if s.closed {
			s.running = false
			s.mu.Unlock()
			return
		}
		if len(s.queue) == 0 && s.gap {
			from, gen := s.last, s.gapGen
			s.mu.Unlock()
			if !s.fill(from, gen) {
				return
			}
			continue
		}
		if len(s.queue) == 0 {
			s.running = false
			s.mu.Unlock()
			return
		}
		batch := make([][]byte, len(s.queue))
		for i, f := range s.queue {
			batch[i] = f.data
		}
		s.queue = s.queue[:0]
		s.mu.Unlock()

		err := s.out.write(batch, time.Now().Add(s.b.opts.WriteTimeout))
		s.mu.Lock()
		s.lastWrite = time.Now()
		s.mu.Unlock()
		if err != nil {
			s.Close()
			return
		}
	}
}

// fill reads one page of missed events from the store after from and
// queues them. It reports false when the stream was closed.
func (s *Subscriber) fill(from int64, gen uint64) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	events, err := s.b.src.EventsAfter(ctx, s.session, from, fetchPage)
	cancel()
	if err != nil {
		// The client reconnects with Last-Event-ID, perhaps to a healthier instance.
		s.b.log.Warn("stream: read missed events", "session", s.session, "err", err)
		s.Close()
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		s.running = false
		return false
	}
	for i := range events {
		if events[i].Seq > s.last {
			s.queue = append(s.queue, frame{seq: events[i].Seq, data: encodeEvent(&events[i])})
			s.last = events[i].Seq
		}
	}
	// A short page read everything committed when it ran; a gap opened
	// meanwhile needs another read.
	if len(events) < fetchPage && s.gapGen == gen {
		s.gap = false
	}
	return true
}

func (s *Subscriber) dropLocked() {
	if s.b.opts.OnDrop != nil {
		s.b.opts.OnDrop()
	}
	go s.Close()
}

// Done is closed when the stream ends.
func (s *Subscriber) Done() <-chan struct{} { return s.done }

// Close ends the stream.
func (s *Subscriber) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.queue = nil
	s.mu.Unlock()
	s.b.remove(s)
	s.out.close()
	close(s.done)
}
