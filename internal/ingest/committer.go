// Package ingest commits posted events in groups: requests that arrive
// while a transaction is being written share the next one, so a thousand
// single-event posts cost a few commits (and fsyncs), not a thousand.
package ingest

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/store"
)

// ErrClosed is returned by Submit once the server is shutting down.
var ErrClosed error = &domain.Error{Code: domain.EShuttingDown,
	Message: "this server is shutting down; retry in a few seconds"}

// Options tune a Committer.
type Options struct {
	// MaxEvents caps the events of one transaction.
	MaxEvents int
	// Workers is how many transactions may be written at once: 1 for
	// SQLite (one writer), a few for PostgreSQL.
	Workers int
	// Timeout bounds one transaction.
	Timeout time.Duration
	// Linger is how long a commit waits for more requests when the one
	// before it was shared: under load the clients just answered send
	// again within a fraction of a millisecond, and a commit's cost is
	// mostly fixed. A lone request never waits. 0 means 200 µs.
	Linger time.Duration
	// Published is called after each commit, before the requests are
	// answered, with the appends that were stored (fan-out to streams).
	Published func(batch []*store.Append)
	// Committed reports each commit's size and duration (metrics).
	Committed func(events int, took time.Duration, err error)
}

// Committer batches appends from concurrent requests into transactions.
type Committer struct {
	st   store.Events
	opts Options
	reqs chan *request

	mu     sync.RWMutex
	closed bool
	wg     sync.WaitGroup
}

type request struct {
	a    *store.Append
	done chan error
}

// New starts a Committer writing to st.
func New(st store.Events, opts Options) *Committer {
	if opts.MaxEvents <= 0 {
		opts.MaxEvents = 5000
	}
	if opts.Workers <= 0 {
		opts.Workers = 1
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.Linger <= 0 {
		opts.Linger = 200 * time.Microsecond
	}
	c := &Committer{st: st, opts: opts, reqs: make(chan *request, 4096)}
	for i := 0; i < opts.Workers; i++ {
		c.wg.Add(1)
		go c.run()
	}
	return c
}

// Submit stores a's events durably and fills its results. It returns once
// they are committed, or with the error that refused them (nothing
// stored): the store's Append.Err for this request alone, or the error of
// the transaction that held it alone (or of an outage).
func (c *Committer) Submit(ctx context.Context, a *store.Append) error {
	req := &request{a: a, done: make(chan error, 1)}
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return ErrClosed
	}
	select {
	case c.reqs <- req:
	case <-ctx.Done():
		c.mu.RUnlock()
		return ctx.Err()
	}
	c.mu.RUnlock()
	// Once queued the request will be committed or refused: wait for the
	// outcome even if the client leaves, so that the answer is true.
	return <-req.done
}

// Close refuses new appends, commits those already queued, and returns
// when every worker has finished.
func (c *Committer) Close() {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		close(c.reqs)
	}
	c.mu.Unlock()
	c.wg.Wait()
}

func (c *Committer) run() {
	defer c.wg.Done()
	batch := make([]*request, 0, 64)
	appends := make([]*store.Append, 0, 64)
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	shared := false // the previous commit carried several requests
	for first := range c.reqs {
		batch = append(batch[:0], first)
		events := len(first.a.Events)
		var wait <-chan time.Time
		if shared {
			linger.Reset(c.opts.Linger)
			wait = linger.C
		}
		// next takes a queued request at once, or waits for one while the
		// linger lasts; nil when there is none (or the queue is closed).
		next := func() *request {
			select {
			case r := <-c.reqs:
				return r
			default:
			}
			if wait == nil {
				return nil
			}
			select {
			case r := <-c.reqs:
				return r
			case <-wait:
				wait = nil
				return nil
			}
		}
		for events < c.opts.MaxEvents {
			r := next()
			if r == nil {
				break
			}
			batch = append(batch, r)
			events += len(r.a.Events)
		}
		// Since Go 1.23 a stopped timer delivers nothing stale: no drain.
		linger.Stop()
		shared = len(batch) > 1
		appends = appends[:0]
		for _, r := range batch {
			appends = append(appends, r.a)
		}
		c.commit(batch, appends, events)
	}
}

// commit writes a group and answers its requests. A group that fails for
// a reason other than an outage is split in two and each half retried, so
// that one request the database refuses (a string it cannot store, a
// constraint) fails alone and the others of its group are stored: about
// 2·log2(n) transactions for one bad request among n, and only on failure.
func (c *Committer) commit(batch []*request, appends []*store.Append, events int) {
	err := c.write(appends, events)
	if err != nil && len(batch) > 1 && !outage(err) {
		half := len(batch) / 2
		c.commit(batch[:half], appends[:half], countEvents(appends[:half]))
		c.commit(batch[half:], appends[half:], countEvents(appends[half:]))
		return
	}
	if err == nil && c.opts.Published != nil {
		stored := appends
		for _, a := range appends {
			if a.Err != nil {
				stored = storedOnly(appends)
				break
			}
		}
		c.opts.Published(stored)
	}
	for _, r := range batch {
		if err != nil {
			r.done <- err
		} else {
			r.done <- r.a.Err
		}
	}
}

// write runs one transaction for appends.
func (c *Committer) write(appends []*store.Append, events int) error {
	for _, a := range appends {
		a.Err = nil // from an earlier try of a group that failed
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.Timeout)
	start := time.Now()
	err := c.st.AppendEvents(ctx, appends)
	cancel()
	if c.opts.Committed != nil {
		c.opts.Committed(events, time.Since(start), err)
	}
	return err
}

// outage reports whether err means the database cannot be written at all
// now (down, too slow, its disk full): every request fails with it, and
// retrying parts of the group would only fail again, or wait for more
// timeouts.
func outage(err error) bool {
	return errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, store.ErrDiskFull)
}

func countEvents(appends []*store.Append) int {
	n := 0
	for _, a := range appends {
		n += len(a.Events)
	}
	return n
}

// storedOnly leaves out the appends the store refused (Append.Err): they
// have nothing to publish.
func storedOnly(appends []*store.Append) []*store.Append {
	out := make([]*store.Append, 0, len(appends))
	for _, a := range appends {
		if a.Err == nil {
			out = append(out, a)
		}
	}
	return out
}
