package push

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/observable-code/observable/internal/store"
)

// worker is the state of one Run loop; only that loop touches it.
//
// Jobs are claimed only while a worker slot is free (Concurrency in all),
// and one push service gets at most PerHost slots. A job whose service is
// busy waits in memory for that service's next free slot, which is quick
// when it answers (a burst to FCM drains at its pace). When the service is
// stalled, its slots all held by requests older than stallAfter, its
// waiting jobs go back to the queue: they would otherwise keep the slots'
// share of claims, and other services' notifications, waiting.
type worker struct {
	s         *Service
	ctx       context.Context
	wg        sync.WaitGroup
	done      chan finished
	hosts     map[string]*hostState
	inflight  int
	waiting   int
	stallTime time.Duration
}

type hostState struct {
	started []time.Time // of the requests in flight
	waiting []store.PushJob
}

type finished struct {
	host    string
	started time.Time
}

func (s *Service) run(ctx context.Context) {
	w := &worker{
		s: s, ctx: ctx,
		// Buffered to Concurrency, so a finishing send never waits on the loop.
		done:  make(chan finished, s.opts.Concurrency),
		hosts: map[string]*hostState{},
		// A push service answers in well under a second; one whose every
		// slot has waited this long is treated as stalled.
		stallTime: min(s.opts.SendTimeout/2, 3*time.Second),
	}
	defer w.wg.Wait()
	tick := time.NewTicker(s.opts.PollInterval)
	defer tick.Stop()
	more := true
	for {
		if w.waiting > 0 {
			w.postponeStalled(time.Now())
		}
		if free := s.opts.Concurrency - w.inflight - w.waiting; more && free > 0 {
			jobs, err := s.store.ClaimPushJobs(ctx, time.Now(), s.lease, free)
			if err != nil && ctx.Err() == nil {
				s.log.Warn("push: cannot claim jobs; retrying at the next poll", "err", err)
			}
			// Jobs claimed as ctx ended are still started: deliver sees the
			// end and hands them back rather than leaving them leased.
			more = err == nil && len(jobs) == free
			now := time.Now()
			for _, job := range jobs {
				w.dispatch(job, now)
			}
		}
		// Jobs waiting on a service must be looked at again even when
		// nothing else happens, in case it stalls.
		var stallCheck <-chan time.Time
		if w.waiting > 0 {
			stallCheck = time.After(w.stallTime / 4)
		}
		select {
		case <-ctx.Done():
			w.releaseWaiting()
			return
		case <-s.wake:
			more = true
		case <-tick.C:
			more = true
		case f := <-w.done:
			w.finish(f)
		case <-stallCheck:
		}
	}
}

func (w *worker) host(name string) *hostState {
	h := w.hosts[name]
	if h == nil {
		h = &hostState{}
		w.hosts[name] = h
	}
	return h
}

func (w *worker) dispatch(job store.PushJob, now time.Time) {
	name := hostOf(job.Sub.Endpoint)
	h := w.host(name)
	switch {
	case len(h.started) < w.s.opts.PerHost:
		w.start(name, h, job, now)
	case w.stalled(h, now):
		w.s.postpone(w.ctx, job)
	default:
		h.waiting = append(h.waiting, job)
		w.waiting++
	}
}

func (w *worker) start(name string, h *hostState, job store.PushJob, now time.Time) {
	h.started = append(h.started, now)
	w.inflight++
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		w.s.deliver(w.ctx, job)
		w.done <- finished{host: name, started: now}
	}()
}

func (w *worker) finish(f finished) {
	w.inflight--
	h := w.hosts[f.host]
	if i := slices.Index(h.started, f.started); i >= 0 {
		h.started = slices.Delete(h.started, i, i+1)
	}
	if len(h.waiting) > 0 {
		next := h.waiting[0]
		h.waiting = h.waiting[1:]
		w.waiting--
		w.start(f.host, h, next, time.Now())
	}
	if len(h.started) == 0 && len(h.waiting) == 0 {
		delete(w.hosts, f.host)
	}
}

// stalled reports whether every slot of the host has been waiting on an
// answer longer than stallTime.
func (w *worker) stalled(h *hostState, now time.Time) bool {
	if len(h.started) < w.s.opts.PerHost {
		return false
	}
	return now.Sub(slices.MinFunc(h.started, func(a, b time.Time) int { return a.Compare(b) })) >= w.stallTime
}

func (w *worker) postponeStalled(now time.Time) {
	for _, h := range w.hosts {
		if len(h.waiting) == 0 || !w.stalled(h, now) {
			continue
		}
		for _, job := range h.waiting {
			w.s.postpone(w.ctx, job)
		}
		w.waiting -= len(h.waiting)
		h.waiting = nil
	}
}

// releaseWaiting hands jobs that never started back to the queue, so that
// another instance need not wait for their lease to end.
func (w *worker) releaseWaiting() {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), bookkeepingTimeout)
	defer cancel()
	for _, h := range w.hosts {
		for _, job := range h.waiting {
			w.s.release(ctx, job, w.s.log)
		}
	}
}
