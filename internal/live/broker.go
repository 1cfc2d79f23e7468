// Package live fans committed events out to Server-Sent Event streams and
// wakes requests that wait for a phone to pair.
//
// The broker speaks no HTTP: the transport (package api) authenticates and
// validates a request, calls Subscribe (which applies the caps and finds
// where the stream starts, answering coded errors), writes the response
// head, and hands the broker a Sink with Start.
//
// A stream costs no goroutine while it is idle: an HTTP/1.1 connection is
// taken over (hijacked) by the transport and kept by the broker, and a
// goroutine runs only while the stream has something to write. Each stream
// has a bounded queue: a slow reader never slows ingest or other streams; it
// is dropped and comes back with Last-Event-ID.
package live

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/store"
)

// Source reads events a stream has missed (a gap, a resume, another
// instance's commit) and the newest one, where a stream from now starts.
type Source interface {
	EventsAfter(ctx context.Context, sessionID, after int64, limit int) ([]domain.StoredEvent, error)
	ListEvents(ctx context.Context, sessionID int64, q store.EventQuery) ([]domain.StoredEvent, error)
	// DeviceByToken tells whether a device stream's credential still
	// stands (domain.ErrNotFound once the device was unpaired).
	DeviceByToken(ctx context.Context, tokenHash []byte) (domain.Device, error)
}

// Options tune a Broker.
type Options struct {
	// Buffer is how many frames may wait for a slow stream before it is dropped.
	Buffer int
	// QueueBytes is how many bytes may wait for a slow stream before it is
	// dropped (it resumes with Last-Event-ID).
	QueueBytes int
	// PageBytes is how many bytes of missed events a stream queues at a
	// time; it reads more once the client has taken them.
	PageBytes int
	// Limits caps the open streams.
	Limits Limits
	// Heartbeat is how often an idle stream gets a comment line.
	Heartbeat time.Duration
	// WriteTimeout bounds one write to a stream.
	WriteTimeout time.Duration
	// OnSubscribers reports the number of open streams when it changes.
	OnSubscribers func(n int)
	// OnDrop is called when a stream is dropped for being too slow.
	OnDrop func()
	Logger *slog.Logger
}

// Broker routes events and notices to the streams and waiters of a session.
type Broker struct {
	src  Source
	opts Options
	log  *slog.Logger

	mu      sync.RWMutex
	topics  map[int64]map[*Subscriber]struct{}
	waiters map[int64]map[chan struct{}]struct{}
	count   int
	closed  bool
	held    holdings
	recheck rechecks
	// revocations counts revocation notices, so that a stream authenticated
	// before one but registered after its check is checked too.
	revocations atomic.Uint64

	watcher *watcher

	stop chan struct{}
	done chan struct{}
}

// NewBroker starts a broker and its heartbeat.
func NewBroker(src Source, opts Options) *Broker {
	if opts.Buffer <= 0 {
		opts.Buffer = 1024
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 25 * time.Second
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 10 * time.Second
	}
	if opts.QueueBytes <= 0 {
		opts.QueueBytes = DefaultQueueBytes
	}
	if opts.PageBytes <= 0 {
		opts.PageBytes = DefaultPageBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	b := &Broker{
		src: src, opts: opts, log: opts.Logger,
		topics:  make(map[int64]map[*Subscriber]struct{}),
		waiters: make(map[int64]map[chan struct{}]struct{}),
		held:    newHoldings(),
		recheck: rechecks{wake: make(chan struct{}, 1), sessions: make(map[int64]bool)},
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	var err error
	if b.watcher, err = newWatcher(); err != nil {
		// Streams still end, at their next heartbeat.
		b.log.Warn("stream: cannot watch for closed connections; a closed stream is noticed at its next heartbeat only", "err", err)
	}
	go b.heartbeats()
	go b.runRechecks()
	return b
}

// Defaults of the byte budgets of a stream.
const (
	DefaultQueueBytes = 1 << 20
	DefaultPageBytes  = 256 << 10
)

// Publish offers events just committed by this instance to the session's
// streams. Events must be in seq order.
func (b *Broker) Publish(sessionID int64, events []domain.StoredEvent) {
	if len(events) == 0 {
		return
	}
	b.mu.RLock()
	subs := b.topics[sessionID]
	if len(subs) == 0 {
		b.mu.RUnlock()
		return
	}
	frames := make([]frame, len(events))
	for i := range events {
		frames[i] = frame{seq: events[i].Seq, data: encodeEvent(&events[i])}
	}
	direct := directStreams
	for s := range subs {
		if s.offer(frames, direct > 0) {
			direct--
		}
	}
	b.mu.RUnlock()
}

// Notice handles a notice from any instance (PostgreSQL NOTIFY included).
func (b *Broker) Notice(n domain.Notice) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	switch n.Kind {
	case domain.NoticeEvents:
		for s := range b.topics[n.SessionID] {
			s.behind(n.Seq)
		}
	case domain.NoticePaired:
		for ch := range b.waiters[n.SessionID] {
			wake(ch)
		}
	case domain.NoticeRevoked:
		b.revocations.Add(1)
		b.recheckLater(n.SessionID)
	case domain.NoticeResync:
		for _, subs := range b.topics {
			for s := range subs {
				s.behind(-1)
			}
		}
		// A revocation may have been among the notices missed.
		b.revocations.Add(1)
		b.recheckLater(0)
		for _, chans := range b.waiters {
			for ch := range chans {
				wake(ch)
			}
		}
	}
}

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// WaitPaired returns a channel that receives when a device of the session
// may have paired (callers recheck), and a function to stop waiting.
func (b *Broker) WaitPaired(sessionID int64) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	b.mu.Lock()
	if b.waiters[sessionID] == nil {
		b.waiters[sessionID] = make(map[chan struct{}]struct{})
	}
	b.waiters[sessionID][ch] = struct{}{}
	b.mu.Unlock()
	return ch, func() {
		b.mu.Lock()
		delete(b.waiters[sessionID], ch)
		if len(b.waiters[sessionID]) == 0 {
			delete(b.waiters, sessionID)
		}
		b.mu.Unlock()
	}
}

// Subscribers is the number of open streams.
func (b *Broker) Subscribers() int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.count
}

// add registers an open stream. The gauge is reported under the lock, so
// that reports from concurrent opens and closes cannot land out of order.
func (b *Broker) add(s *Subscriber) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	// A stream whose peer left before it was registered stays out.
	s.mu.Lock()
	gone := s.closed
	s.mu.Unlock()
	if b.closed || gone {
		return false
	}
	if b.topics[s.session] == nil {
		b.topics[s.session] = make(map[*Subscriber]struct{})
	}
	b.topics[s.session][s] = struct{}{}
	b.count++
	if b.opts.OnSubscribers != nil {
		b.opts.OnSubscribers(b.count)
	}
	return true
}

// remove unregisters a stream and gives back its places under the caps.
func (b *Broker) remove(s *Subscriber) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.releaseLocked(s)
	subs, ok := b.topics[s.session]
	if _, present := subs[s]; !ok || !present {
		return
	}
	delete(subs, s)
	if len(subs) == 0 {
		delete(b.topics, s.session)
	}
	b.count--
	if b.opts.OnSubscribers != nil {
		b.opts.OnSubscribers(b.count)
	}
}

// Close ends every stream (they resume elsewhere or after a restart) and
// stops the heartbeat.
func (b *Broker) Close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	var all []*Subscriber
	for _, subs := range b.topics {
		for s := range subs {
			all = append(all, s)
		}
	}
	b.mu.Unlock()
	close(b.stop)
	<-b.done
	for _, s := range all {
		s.Close()
	}
	if b.watcher != nil {
		b.watcher.close()
	}
}

// heartbeats sends a comment to every stream that wrote nothing for a
// heartbeat interval, so proxies keep it open and dead peers are found.
func (b *Broker) heartbeats() {
	defer close(b.done)
	every := b.opts.Heartbeat
	tick := time.NewTicker(every / 5)
	defer tick.Stop()
	for {
		select {
		case <-b.stop:
			return
		case now := <-tick.C:
			b.mu.RLock()
			for _, subs := range b.topics {
				for s := range subs {
					s.heartbeat(now, every, every/5)
				}
			}
			b.mu.RUnlock()
		}
	}
}

// encodeEvent renders one SSE frame; JSON never holds a raw newline.
func encodeEvent(e *domain.StoredEvent) []byte {
	data, err := json.Marshal(e)
	if err != nil { // only json.RawMessage fields could fail, and they were validated
		data = []byte(`{"seq":` + strconv.FormatInt(e.Seq, 10) + `}`)
	}
	buf := make([]byte, 0, len(data)+40)
	buf = append(buf, "id: "...)
	buf = strconv.AppendInt(buf, e.Seq, 10)
	buf = append(buf, "\nevent: event\ndata: "...)
	buf = append(buf, data...)
	return append(buf, "\n\n"...)
}
