package jobs

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// jobsFakeStore hands out due jobs in batches and records the clock it saw.
type jobsFakeStore struct {
	mu    sync.Mutex
	due   int
	nows  []time.Time
	ups   []time.Time
	fail  error
	calls int
}

func (s *jobsFakeStore) EvaluateJobs(_ context.Context, now, up time.Time, limit int) (int, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.fail != nil {
		return 0, 0, s.fail
	}
	s.nows, s.ups = append(s.nows, now), append(s.ups, up)
	n := min(s.due, limit)
	s.due -= n
	return n, n, nil
}

func TestStepTakesEveryDueJobInBatches(t *testing.T) {
	clock := time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC)
	start := clock
	s := &jobsFakeStore{due: 25}
	wakes := 0
	e := New(s, Options{Batch: 10, Now: func() time.Time { return clock }, Wake: func() { wakes++ }})
	clock = clock.Add(time.Hour)
	jobs, alerts, err := e.Step(context.Background())
	if err != nil || jobs != 25 || alerts != 25 {
		t.Fatalf("Step = %d, %d, %v; want 25 jobs and alerts", jobs, alerts, err)
	}
	if s.calls != 3 || wakes != 3 {
		t.Fatalf("%d store calls, %d wakes; want 3 batches of at most 10, each waking the push worker", s.calls, wakes)
	}
	for i := range s.nows {
		if !s.nows[i].Equal(clock) || !s.ups[i].Equal(start) {
			t.Fatalf("call %d: now %v up %v; want the injected clock's now and the evaluator's start", i, s.nows[i], s.ups[i])
		}
	}
	if jobs, _, _ := e.Step(context.Background()); jobs != 0 || s.calls != 4 {
		t.Fatalf("a step with nothing due: %d jobs, %d calls; want 0 and one query", jobs, s.calls)
	}
}

func TestRunRetriesAfterAFailure(t *testing.T) {
	s := &jobsFakeStore{fail: errors.New("database away")}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	e := New(s, Options{Tick: time.Millisecond})
	go func() { e.Run(ctx); close(done) }()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		s.mu.Lock()
		calls := s.calls
		s.mu.Unlock()
		if calls >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the evaluator did not retry after a failing step")
		}
	}
	cancel()
	<-done
}
