package main

// An outage of the shared PostgreSQL costs instances 503s, never an
// acknowledged event (issue 6); the other scale-out tests are in
// scaleout_test.go.

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/pgtest"
)

// TestScaleOutSurvivesPostgresOutage stops PostgreSQL under a steady load of
// posts on two instances and starts it again: while it is away the
// instances answer 503 with Retry-After (never a 500, never a hang); they
// recover by themselves; every acknowledged event is stored exactly once.
func TestScaleOutSurvivesPostgresOutage(t *testing.T) {
	pg, err := pgtest.StartServer() // private: this test stops it
	if err != nil {
		t.Fatalf("PostgreSQL could not start: %v", err)
	}
	t.Cleanup(func() { pg.Close() })
	db, err := pgtest.Create(context.Background(), pg.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	a, b := twoInstances(t, db)
	procs := []*serverProc{a, b}
	key, _ := newSession(t, a)

	var (
		mu        sync.Mutex
		acked     = map[string]bool{}
		abandoned []string
		unavail   atomic.Int64 // 503 answers
		slowest   atomic.Int64 // nanoseconds
		stop      atomic.Bool
		wg        sync.WaitGroup
	)
	// Each worker posts an event until it is acknowledged, retrying a 503
	// with the same client id as the SDK does, so that every event tried
	// ends up acknowledged and a commit whose answer was lost is not stored twice.
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			giveUp := time.Now().Add(50 * time.Second)
			for i := 0; !stop.Load(); i++ {
				id := fmt.Sprintf("o%d-%d", w, i)
				for try := 0; ; try++ {
					p := procs[(w+i+try)%2]
					r := callAPI("POST", p.url+"/api/v1/events", key, fmt.Sprintf(`{"id":%q,"name":"steady","status":"completed"}`, id))
					raiseMax(&slowest, int64(r.took))
					if r.status == http.StatusAccepted {
						mu.Lock()
						acked[id] = true
						mu.Unlock()
						break
					}
					if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
						t.Errorf("post %s to %s: %d %v %s (want 202, or 503 with Retry-After)", id, p.url, r.status, r.err, r.body)
						return
					}
					unavail.Add(1)
					if time.Now().After(giveUp) {
						mu.Lock()
						abandoned = append(abandoned, id)
						mu.Unlock()
						return
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		}(w)
	}
	ackedNow := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	stopLoad := func() { stop.Store(true); wg.Wait() }
	defer stopLoad()

	// waitFor polls cond until it holds, failing after within.
	waitFor := func(within time.Duration, what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(within); !cond(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("not within %v: %s", within, what)
			}
		}
	}
	waitFor(10*time.Second, "20 events acknowledged before the outage", func() bool { return ackedNow() >= 20 })
	before := ackedNow()
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	for _, p := range procs {
		var r apiReply
		waitFor(5*time.Second, p.url+"/readyz failing with PostgreSQL down", func() bool {
			r = callAPI("GET", p.url+"/readyz", "", "")
			return r.status != http.StatusOK
		})
		if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" || r.took > 3*time.Second {
			t.Errorf("%s/readyz with PostgreSQL down: %d %v after %v; want 503 with Retry-After", p.url, r.status, r.err, r.took)
		}
	}
	// The outage lasts until the load has met it for a while: many posts
	// refused, each with a 503 rather than a hang.
	refusedAtDown := unavail.Load()
	waitFor(20*time.Second, "100 posts refused with 503 during the outage", func() bool { return unavail.Load() >= refusedAtDown+100 })
	duringOutage := ackedNow()
	refused := unavail.Load()
	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	up := time.Now()
	awaitReady(t, 15*time.Second, a, b)
	for ackedNow() < duringOutage+100 {
		if time.Since(up) > 15*time.Second {
			t.Fatalf("posts do not succeed again 15 s after PostgreSQL returned (%d acknowledged)", ackedNow())
		}
		time.Sleep(20 * time.Millisecond)
	}
	recovered := time.Since(up)
	stopLoad()

	t.Logf("acknowledged %d before the outage, %d by its end, %d in all; %d answers 503 while down (%v); "+
		"posts succeed again %v after PostgreSQL returned; slowest request %v",
		before, duringOutage, len(acked), refused, up.Sub(down).Round(time.Millisecond), recovered.Round(time.Millisecond), time.Duration(slowest.Load()))
	if before < 20 || refused == 0 {
		t.Fatalf("the load did not cover the outage: %d acknowledged before it, %d refused during it", before, refused)
	}
	if s := time.Duration(slowest.Load()); s > 5*time.Second {
		t.Errorf("a request took %v: requests must fail fast while the database is away", s)
	}
	if len(abandoned) > 0 {
		t.Errorf("events never acknowledged in 50 s: %v", abandoned)
	}
	stored := a.storedIDs(key)
	for id := range acked {
		if stored[id] != 1 {
			t.Errorf("acknowledged event %s is stored %d times", id, stored[id])
		}
	}
	for id, n := range stored {
		if !acked[id] || n != 1 {
			t.Errorf("event %s stored %d times, acknowledged: %v", id, n, acked[id])
		}
	}

	// Streams across instances work again: B's listener reconnected.
	s := openStream(t, b, key, -1)
	postEvent(t, a, key, "after-outage", "steady", "completed")
	if f := s.next(t, 10*time.Second); f.id != "after-outage" {
		t.Fatalf("after the outage B streamed %q", f.id)
	}
}

// raiseMax sets v to x if x is larger.
func raiseMax(v *atomic.Int64, x int64) {
	for old := v.Load(); x > old && !v.CompareAndSwap(old, x); old = v.Load() {
	}
}
