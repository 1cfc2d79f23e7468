// Package retention deletes what the server no longer needs to keep:
// events past the retention period and expired pairings.
package retention

import (
	"context"
	"log/slog"
	"time"
)

const (
	// pruneChunk bounds one delete, so pruning never holds the write lock long.
	pruneChunk = 5000
	// chunkPause lets ingest in between chunks.
	chunkPause = 50 * time.Millisecond
	// DefaultEvery is how often a Pruner runs when Every is unset.
	DefaultEvery = 10 * time.Minute
	// expiredPairingsKept is how long an expired pairing is kept, so that a
	// phone opening a stale link is told "expired" rather than "unknown".
	expiredPairingsKept = 24 * time.Hour
)

// Store is what pruning needs of the database.
type Store interface {
	// PruneEvents deletes up to limit events received before cutoff,
	// keeping job summaries consistent, and returns how many it deleted.
	PruneEvents(ctx context.Context, cutoff time.Time, limit int) (int64, error)
	// PrunePairings deletes pairings that expired before cutoff.
	PrunePairings(ctx context.Context, cutoff time.Time) (int64, error)
}

// Pruner runs in the background of every instance; deletes are idempotent,
// so instances sharing a database need no coordination.
type Pruner struct {
	Store     Store
	Retention time.Duration // 0 keeps events forever
	Every     time.Duration
	Log       *slog.Logger
	OnPruned  func(n int64)
	Now       func() time.Time
}

// Run prunes now and then every p.Every until ctx ends.
func (p *Pruner) Run(ctx context.Context) {
	if p.Every <= 0 {
		p.Every = DefaultEvery
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	tick := time.NewTicker(p.Every)
	defer tick.Stop()
	for {
		if err := p.Once(ctx); err != nil && ctx.Err() == nil {
			p.Log.Warn("retention: prune", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Once deletes everything that is due.
func (p *Pruner) Once(ctx context.Context) error {
	now := p.Now()
	if _, err := p.Store.PrunePairings(ctx, now.Add(-expiredPairingsKept)); err != nil {
		return err
	}
	if p.Retention <= 0 {
		return nil
	}
	cutoff := now.Add(-p.Retention)
	for {
		n, err := p.Store.PruneEvents(ctx, cutoff, pruneChunk)
		if err != nil {
			return err
		}
		if n > 0 && p.OnPruned != nil {
			p.OnPruned(n)
		}
		if n < pruneChunk {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(chunkPause):
		}
	}
}
