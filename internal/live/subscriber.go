package live

import (
	"context"
	"sync"
	"time"
)

// fetchPage is the most missed events one store read brings; firstPage is
// what a stream reads before it knows how large its session's events are,
// so that a resume over 64 KiB events does not hold 500 of them at once.
const (
	fetchPage = 500
	firstPage = 16
)

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
	// device is the id of the device whose token opened the stream ("" for
	// the session key), tokenHash that token's hash: revocation rechecks it.
	device    string
	tokenHash []byte
	addr      string
	// reserved says the stream holds its places under the broker's caps.
	reserved bool
	out      sink
	// direct is out when it can be written without waiting (offer).
	direct *connSink
	watch  *watch

	mu sync.Mutex
	// last is the newest seq queued or written: the stream's position.
	last  int64
	queue []frame
	// queued is the bytes of queue; eventSize the mean size of the events
	// the last fill read, to size the next read.
	queued    int
	eventSize int
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

// A stream with nothing pending is written by the committing goroutine
// itself, as far as its socket takes the frames at once: started on a
// goroutine of its own, the write waited for a core behind the requests
// the commit answers (30-60 µs of POST → stream at the median, measured
// side by side, and more in the tail). The budget bounds what a commit
// spends on its streams' writes.
const (
	directStreams = 4        // streams of one publish written directly
	directBytes   = 16 << 10 // most bytes written directly to one stream
)

// offer queues frames that follow the stream's position; anything else
// means a gap, filled from the store. With direct, frames a stream can
// take at once are written before offer returns (and it reports true).
func (s *Subscriber) offer(frames []frame, direct bool) (wrote bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	idle := !s.running && len(s.queue) == 0 && !s.gap
	for _, f := range frames {
		if f.seq <= s.last {
			continue
		}
		if s.gap || f.seq != s.last+1 {
			s.markGap()
			break
		}
		s.queue = append(s.queue, f)
		s.queued += len(f.data)
		s.last = f.seq
	}
	// Bounded by bytes as well as frames; one frame always fits.
	if len(s.queue) > s.b.opts.Buffer || (len(s.queue) > 1 && s.queued > s.b.opts.QueueBytes) {
		s.dropLocked()
		return false
	}
	if direct && idle && s.direct != nil && !s.gap && len(s.queue) > 0 && s.queued <= directBytes {
		s.writeNowLocked()
		wrote = true
	}
	s.kickLocked()
	return wrote
}

// writeNowLocked writes the queue without waiting for the socket to take
// it; what it does not take stays queued for the stream's goroutine.
func (s *Subscriber) writeNowLocked() {
	buf := s.queue[0].data
	if len(s.queue) > 1 {
		buf = make([]byte, 0, s.queued)
		for _, f := range s.queue {
			buf = append(buf, f.data...)
		}
	}
	s.queue, s.queued = nil, 0
	s.running = true // the stream's one writer, meanwhile
	s.mu.Unlock()
	n, err := s.direct.tryWrite(buf, time.Now().Add(s.b.opts.WriteTimeout))
	s.mu.Lock()
	s.running = false
	if s.closed {
		return
	}
	if err != nil {
		// Not here: Close takes the broker's lock, which Publish holds.
		go s.Close()
		return
	}
	if n > 0 {
		s.lastWrite = time.Now()
	}
	if n < len(buf) {
		// First in line: frames offered meanwhile come after it.
		s.queue = append([]frame{{data: buf[n:]}}, s.queue...)
		s.queued += len(buf) - n
	}
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

// heartbeatDue says whether a stream idle for idle needs a heartbeat, when
// the broker looks every tick: sending once idle reaches every-tick keeps
// the longest silence within every, the interval operators configure (the
// contract promises 30 s at most).
func heartbeatDue(idle, every, tick time.Duration) bool {
	return idle >= every-tick
}

func (s *Subscriber) heartbeat(now time.Time, every, tick time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.running || !heartbeatDue(now.Sub(s.lastWrite), every, tick) {
		return
	}
	s.queue = append(s.queue, frame{data: heartbeatFrame})
	s.queued += len(heartbeatFrame)
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
		// A fresh queue: reusing the old array would keep the bytes of its
		// frames (up to QueueBytes) alive after they are written.
		s.queue, s.queued = nil, 0
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
// queues them, up to PageBytes: the next page is read only once the client
// has taken this one, so a stream that never reads holds one page, not its
// session's history. It reports false when the stream was closed.
func (s *Subscriber) fill(from int64, gen uint64) bool {
	s.mu.Lock()
	limit := firstPage
	if s.eventSize > 0 {
		limit = min(max(s.b.opts.PageBytes/s.eventSize+1, 1), fetchPage)
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	events, err := s.b.src.EventsAfter(ctx, s.session, from, limit)
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
	read, n, complete := 0, 0, len(events) < limit
	for i := range events {
		if s.queued >= s.b.opts.PageBytes {
			complete = false // the rest is read again once this is written
			break
		}
		if events[i].Seq > s.last {
			data := encodeEvent(&events[i])
			read, n = read+len(data), n+1
			s.queue = append(s.queue, frame{seq: events[i].Seq, data: data})
			s.queued += len(data)
			s.last = events[i].Seq
		}
	}
	if n > 0 {
		s.eventSize = max(read/n, 1)
	}
	// A short page read everything committed when it ran; a gap opened
	// meanwhile needs another read.
	if complete && s.gapGen == gen {
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
	s.queue, s.queued = nil, 0
	wt := s.watch
	s.mu.Unlock()
	s.b.remove(s)
	// Before the close: the descriptor may be reused at once.
	wt.remove()
	if s.out != nil {
		s.out.close()
	}
	close(s.done)
}
