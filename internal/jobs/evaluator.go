// Package jobs runs the evaluator of the job model (issue 11, docs/jobs.md):
// it looks at the jobs whose next deadline has passed — a run was due and
// has not come (missed), a run started and has not ended in time (overdue) —
// opens their incidents and queues one alert each through the push queue.
// Failed, slow and fast runs are judged in the commit that stores them; the
// evaluator only handles what silence means. The store finds what is due
// from an index of next deadlines, so a tick costs the same at 10 jobs or
// 100,000. The clock is injectable: tests drive simulated time.
package jobs

import (
	"context"
	"log/slog"
	"time"
)

// Store is what the evaluator needs of the store (store.JobModel's part).
type Store interface {
	EvaluateJobs(ctx context.Context, now, up time.Time, limit int) (jobs, alerts int, err error)
}

// Options tune the evaluator; zero values take the defaults.
type Options struct {
	// Tick is how often it looks for due jobs (default 1 s: the evaluator
	// works to the second; expectations to the minute).
	Tick time.Duration
	// Batch is how many due jobs one transaction takes (default 500).
	Batch int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Wake is called after alerts were queued (the push worker's Wake).
	Wake   func()
	Logger *slog.Logger
}

// Evaluator judges due jobs, in a loop (Run) or one step at a time (Step).
type Evaluator struct {
	store Store
	opts  Options
	up    time.Time
}

// New makes an evaluator; up is now: what came due before it (while this
// server was down) is given its grace again.
func New(s Store, opts Options) *Evaluator {
	if opts.Tick <= 0 {
		opts.Tick = time.Second
	}
	if opts.Batch <= 0 {
		opts.Batch = 500
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Evaluator{store: s, opts: opts, up: opts.Now()}
}

// Step evaluates every job due at the clock's now, in batches, and returns
// how many jobs it looked at and how many alerts it queued.
func (e *Evaluator) Step(ctx context.Context) (jobs, alerts int, err error) {
	now := e.opts.Now()
	for {
		n, a, err := e.store.EvaluateJobs(ctx, now, e.up, e.opts.Batch)
		jobs, alerts = jobs+n, alerts+a
		if err != nil {
			return jobs, alerts, err
		}
		if a > 0 && e.opts.Wake != nil {
			e.opts.Wake()
		}
		if n < e.opts.Batch {
			return jobs, alerts, nil
		}
	}
}

// Run steps every Tick until ctx ends. A failing step (the database away) is
// logged and tried again at the next tick: nothing is lost, the jobs stay due.
func (e *Evaluator) Run(ctx context.Context) {
	t := time.NewTicker(e.opts.Tick)
	defer t.Stop()
	failing := false
	for {
		_, _, err := e.Step(ctx)
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			e.opts.Logger.Warn("jobs: cannot evaluate due jobs; retrying every tick", "err", err)
			failing = true
		case err == nil && failing:
			e.opts.Logger.Info("jobs: evaluating due jobs again")
			failing = false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
