package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/store"
)

func testAppendSeqAndDefaults(t *testing.T, s store.Store) {
	sess := newSession(t, s)
	a := appendEvents(t, s, sess.ID, ev("a", "completed"), ev("b", "failed"))
	if got := seqs(a.Stored); !slices.Equal(got, []int64{1, 2}) {
		t.Fatalf("first seqs = %v, want [1 2]", got)
	}
	if !a.Stored[0].Timestamp.Equal(base) || !a.Stored[0].ReceivedAt.Equal(base) {
		t.Fatalf("absent timestamp should default to the receive time: %+v", a.Stored[0])
	}
	when := domain.NewTime(base.Add(-time.Hour))
	b := appendEvents(t, s, sess.ID, domain.Event{Name: "c", Status: "completed", Timestamp: when})
	if b.Stored[0].Seq != 3 || !b.Stored[0].Timestamp.Equal(when.Time) {
		t.Fatalf("third event = %+v; want seq 3 and its own timestamp", b.Stored[0])
	}
	other := newSession(t, s)
	c := appendEvents(t, s, other.ID, ev("x", "completed"))
	if c.Stored[0].Seq != 1 {
		t.Fatalf("a second session's first seq = %d, want 1 (seqs are per session)", c.Stored[0].Seq)
	}
}

func testAppendRoundTrip(t *testing.T, s store.Store) {
	ctx := context.Background()
	sess := newSession(t, s)
	d0, d1 := 0.0, 1234.567
	in := []domain.Event{
		{ID: "client-1", Name: "nightly_sync", Status: "failed", DurationMS: &d1,
			Timestamp: domain.NewTime(base.Add(-time.Second)),
			Error:     &domain.ErrorInfo{Type: "KeyError", Message: "'customer_id'", Traceback: "Traceback…\n  line 3"},
			Metadata:  json.RawMessage(`{"records":500,"nested":{"a":[1,2,null]},"html":"<b>x</b>","uni":"héllo ✓"}`),
			Source:    json.RawMessage(`{"host":"box","pid":42}`)},
		{Name: "zero", Status: "completed", DurationMS: &d0},
		{Name: "bare", Status: "custom_state_1"},
		{Name: "empty message", Status: "failed", Error: &domain.ErrorInfo{Type: "builtins.ValueError", Message: ""}},
	}
	a := appendEvents(t, s, sess.ID, in...)
	for i, want := range in {
		got, err := s.Event(ctx, sess.ID, a.Stored[i].Seq)
		if err != nil {
			t.Fatal(err)
		}
		if want.Timestamp.IsZero() {
			want.Timestamp = domain.NewTime(base)
		}
		if !reflect.DeepEqual(got.Event, want) {
			t.Errorf("event %d round trip:\n got %+v\nwant %+v", i, got.Event, want)
		}
		if string(got.Metadata) != string(want.Metadata) {
			t.Errorf("event %d metadata = %s, want %s", i, got.Metadata, want.Metadata)
		}
	}
	if _, err := s.Event(ctx, sess.ID, 99); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("Event(missing) error = %v, want ErrNotFound", err)
	}
}

func testAppendDuplicates(t *testing.T, s store.Store) {
	ctx := context.Background()
	sess := newSession(t, s)
	first := appendEvents(t, s, sess.ID, domain.Event{ID: "a", Name: "n", Status: "completed"}, domain.Event{ID: "a", Name: "n", Status: "completed"},
		domain.Event{ID: "b", Name: "n", Status: "completed"}, ev("no-id", "completed"))
	if len(first.Stored) != 3 || first.Duplicates != 1 {
		t.Fatalf("same id twice in one request: stored %d dup %d, want 3 and 1", len(first.Stored), first.Duplicates)
	}
	// Two requests in one group commit, and a later retry.
	r1 := &store.Append{SessionID: sess.ID, Events: []domain.Event{{ID: "c", Name: "n", Status: "completed"}}, ReceivedAt: base}
	r2 := &store.Append{SessionID: sess.ID, Events: []domain.Event{{ID: "c", Name: "n", Status: "completed"}, {ID: "a", Name: "n", Status: "completed"}}, ReceivedAt: base}
	if err := s.AppendEvents(ctx, []*store.Append{r1, r2}); err != nil {
		t.Fatal(err)
	}
	if len(r1.Stored) != 1 || r2.Duplicates != 2 || len(r2.Stored) != 0 {
		t.Fatalf("group commit: r1 stored %d, r2 stored %d dup %d; want 1, 0, 2", len(r1.Stored), len(r2.Stored), r2.Duplicates)
	}
	retry := appendEvents(t, s, sess.ID, domain.Event{ID: "c", Name: "n", Status: "completed"}, domain.Event{ID: "d", Name: "n", Status: "completed"})
	if retry.Duplicates != 1 || len(retry.Stored) != 1 || retry.Stored[0].Seq != 5 {
		t.Fatalf("retry: %+v; want one duplicate and d stored as seq 5 (no gap for duplicates)", retry)
	}
	// The same client id in another session is not a duplicate.
	other := newSession(t, s)
	if o := appendEvents(t, s, other.ID, domain.Event{ID: "a", Name: "n", Status: "completed"}); o.Duplicates != 0 {
		t.Fatal("a client id of one session made another session's event a duplicate")
	}
	all, _ := s.ListEvents(ctx, sess.ID, store.EventQuery{Limit: 100})
	if len(all) != 5 {
		t.Fatalf("session holds %d events, want 5", len(all))
	}
}

func testAppendConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	sessions := []domain.Session{newSession(t, s), newSession(t, s)}
	const workers, perWorker = 8, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < perWorker; i++ {
				batch := []*store.Append{
					{SessionID: sessions[0].ID, Events: []domain.Event{{ID: fmt.Sprintf("%d-%d", w, i), Name: "n", Status: "completed"}}, ReceivedAt: base},
					{SessionID: sessions[1].ID, Events: []domain.Event{ev("m", "failed"), ev("m", "completed")}, ReceivedAt: base},
				}
				if i%2 == 1 { // the other order must not deadlock
					batch[0], batch[1] = batch[1], batch[0]
				}
				if err := s.AppendEvents(ctx, batch); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i, want := range []int{workers * perWorker, workers * perWorker * 2} {
		got, err := s.EventsAfter(ctx, sessions[i].ID, 0, 10000)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != want {
			t.Fatalf("session %d holds %d events, want %d", i, len(got), want)
		}
		for j, e := range got {
			if e.Seq != int64(j+1) {
				t.Fatalf("session %d: seq %d at position %d; seqs must be 1…n without gaps", i, e.Seq, j)
			}
		}
	}
}

func testListEvents(t *testing.T, s store.Store) {
	ctx := context.Background()
	sess := newSession(t, s)
	for i := 0; i < 10; i++ {
		status := "completed"
		if i%3 == 0 {
			status = "failed"
		}
		appendEvents(t, s, sess.ID, ev(fmt.Sprintf("job%d", i%2), status))
	}
	cases := []struct {
		name string
		q    store.EventQuery
		want []int64
	}{
		{"newest first", store.EventQuery{Limit: 3}, []int64{10, 9, 8}},
		{"before", store.EventQuery{Limit: 3, Before: 8}, []int64{7, 6, 5}},
		{"before the first", store.EventQuery{Limit: 3, Before: 1}, []int64{}},
		{"by name", store.EventQuery{Limit: 50, Name: "job1"}, []int64{10, 8, 6, 4, 2}},
		{"by status", store.EventQuery{Limit: 50, Status: "failed"}, []int64{10, 7, 4, 1}},
		{"by both", store.EventQuery{Limit: 50, Name: "job0", Status: "failed"}, []int64{7, 1}},
		{"unknown name", store.EventQuery{Limit: 50, Name: "nope"}, []int64{}},
	}
	for _, c := range cases {
		got, err := s.ListEvents(ctx, sess.ID, c.q)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(seqs(got), c.want) {
			t.Errorf("%s: seqs %v, want %v", c.name, seqs(got), c.want)
		}
	}
	after, err := s.EventsAfter(ctx, sess.ID, 7, 2)
	if err != nil || !slices.Equal(seqs(after), []int64{8, 9}) {
		t.Fatalf("EventsAfter(7, 2) = %v, %v; want [8 9]", seqs(after), err)
	}
}

func testSessionIsolation(t *testing.T, s store.Store) {
	ctx := context.Background()
	a, b := newSession(t, s), newSession(t, s)
	appendEvents(t, s, a.ID, ev("secret_job", "failed"), ev("secret_job", "completed"))
	if got, _ := s.ListEvents(ctx, b.ID, store.EventQuery{Limit: 50}); len(got) != 0 {
		t.Fatalf("session b lists a's events: %v", seqs(got))
	}
	if got, _ := s.EventsAfter(ctx, b.ID, 0, 50); len(got) != 0 {
		t.Fatalf("session b streams a's events: %v", seqs(got))
	}
	if _, err := s.Event(ctx, b.ID, 1); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("session b reads a's event 1: %v", err)
	}
	if jobs, _ := s.Jobs(ctx, b.ID); len(jobs) != 0 {
		t.Fatalf("session b sees a's jobs: %+v", jobs)
	}
	if st, _ := s.SessionStatus(ctx, b.ID); st.EventCount != 0 {
		t.Fatalf("session b counts a's events: %+v", st)
	}
}

func testSessionStatusCounts(t *testing.T, s store.Store) {
	ctx := context.Background()
	sess := newSession(t, s)
	appendEvents(t, s, sess.ID, ev("a", "completed"), ev("b", "completed"))
	later := &store.Append{SessionID: sess.ID, Events: []domain.Event{ev("c", "completed")}, ReceivedAt: base.Add(time.Hour)}
	if err := s.AppendEvents(ctx, []*store.Append{later}); err != nil {
		t.Fatal(err)
	}
	st, err := s.SessionStatus(ctx, sess.ID)
	if err != nil || st.EventCount != 3 || !st.LastEventAt.Equal(base.Add(time.Hour)) {
		t.Fatalf("status = %+v, %v; want 3 events, last at %v", st, err, base.Add(time.Hour))
	}
}

func testJobs(t *testing.T, s store.Store) {
	ctx := context.Background()
	sess := newSession(t, s)
	dur := func(ms float64) *float64 { return &ms }
	var events []domain.Event
	for i := 1; i <= 20; i++ {
		status := "completed"
		if i%5 == 0 {
			status = "failed"
		}
		events = append(events, domain.Event{Name: "etl", Status: status, DurationMS: dur(float64(i * 10))})
	}
	events = append(events, domain.Event{Name: "no_durations", Status: "completed"})
	appendEvents(t, s, sess.ID, events...)
	jobs, err := s.Jobs(ctx, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 2 || jobs[0].Name != "no_durations" || jobs[1].Name != "etl" {
		t.Fatalf("jobs = %+v; want no_durations (most recent) then etl", jobs)
	}
	etl := jobs[1]
	if etl.Runs != 20 || etl.Failures != 4 || etl.Last.Seq != 20 || etl.Last.Status != "failed" {
		t.Fatalf("etl = runs %d failures %d last %+v", etl.Runs, etl.Failures, etl.Last)
	}
	if etl.P50MS == nil || *etl.P50MS != 100 || etl.P95MS == nil || *etl.P95MS != 190 {
		t.Fatalf("etl percentiles = %v %v; want 100 and 190", deref(etl.P50MS), deref(etl.P95MS))
	}
	if jobs[0].P50MS != nil || jobs[0].P95MS != nil {
		t.Fatal("a job without durations has percentiles")
	}
	appendEvents(t, s, sess.ID, domain.Event{Name: "etl", Status: "completed"})
	jobs, _ = s.Jobs(ctx, sess.ID)
	if jobs[0].Name != "etl" || jobs[0].Runs != 21 || jobs[0].Last.Seq != 22 {
		t.Fatalf("after one more etl run: %+v", jobs[0])
	}
}

func deref(f *float64) any {
	if f == nil {
		return nil
	}
	return *f
}

func testPruneEvents(t *testing.T, s store.Store) {
	ctx := context.Background()
	sess := newSession(t, s)
	at := func(d time.Duration, events ...domain.Event) {
		a := &store.Append{SessionID: sess.ID, Events: events, ReceivedAt: base.Add(d)}
		if err := s.AppendEvents(ctx, []*store.Append{a}); err != nil {
			t.Fatal(err)
		}
	}
	at(0, ev("old_only", "failed"), ev("mixed", "failed"), ev("mixed", "completed"))
	at(48*time.Hour, ev("mixed", "failed"))
	n, err := s.PruneEvents(ctx, base.Add(24*time.Hour), 1000)
	if err != nil || n != 3 {
		t.Fatalf("PruneEvents = %d, %v; want 3", n, err)
	}
	jobs, err := s.Jobs(ctx, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 1 || jobs[0].Name != "mixed" || jobs[0].Runs != 1 || jobs[0].Failures != 1 {
		t.Fatalf("jobs after prune = %+v; want only mixed with 1 run, 1 failure", jobs)
	}
	left, _ := s.EventsAfter(ctx, sess.ID, 0, 10)
	if !slices.Equal(seqs(left), []int64{4}) {
		t.Fatalf("events left = %v, want [4]", seqs(left))
	}
	at(48*time.Hour, ev("mixed", "completed"))
	if left, _ := s.EventsAfter(ctx, sess.ID, 4, 10); !slices.Equal(seqs(left), []int64{5}) {
		t.Fatalf("seqs after prune = %v, want [5] (seqs never go back)", seqs(left))
	}
	if n, _ := s.PruneEvents(ctx, base.Add(24*time.Hour), 1000); n != 0 {
		t.Fatalf("a second prune deleted %d", n)
	}
}

// testPruneEventsInChunks prunes old events of several sessions, written
// interleaved, a few at a time as retention does: each chunk takes the
// oldest, none takes a young event, and the chunks end when the old ones do.
func testPruneEventsInChunks(t *testing.T, s store.Store) {
	ctx := context.Background()
	sessions := []domain.Session{newSession(t, s), newSession(t, s), newSession(t, s)}
	for i := range 7 { // 21 old events, arrival order round-robin over the sessions
		for _, sess := range sessions {
			a := &store.Append{SessionID: sess.ID, Events: []domain.Event{ev("chunked", "completed")}, ReceivedAt: base.Add(time.Duration(i) * time.Minute)}
			if err := s.AppendEvents(ctx, []*store.Append{a}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, sess := range sessions {
		a := &store.Append{SessionID: sess.ID, Events: []domain.Event{ev("chunked", "completed")}, ReceivedAt: base.Add(48 * time.Hour)}
		if err := s.AppendEvents(ctx, []*store.Append{a}); err != nil {
			t.Fatal(err)
		}
	}
	var chunks []int64
	for range 10 {
		n, err := s.PruneEvents(ctx, base.Add(24*time.Hour), 5)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		chunks = append(chunks, n)
	}
	if !slices.Equal(chunks, []int64{5, 5, 5, 5, 1}) {
		t.Fatalf("chunks pruned = %v, want [5 5 5 5 1]", chunks)
	}
	for _, sess := range sessions {
		left, err := s.EventsAfter(ctx, sess.ID, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(seqs(left), []int64{8}) {
			t.Fatalf("session %d: events left = %v, want [8] (the young one)", sess.ID, seqs(left))
		}
	}
}

// testPruneDuringAppend runs retention beside multi-session group commits,
// with job names in varying order: neither may fail (no deadlocks).
func testPruneDuringAppend(t *testing.T, s store.Store) {
	ctx := context.Background()
	sessions := []domain.Session{newSession(t, s), newSession(t, s), newSession(t, s)}
	names := []string{"alpha", "beta", "gamma", "delta"}
	// A fixed amount of work, not a duration: each appender commits
	// appendRounds groups while the pruners run, and the pruners stop when
	// the appenders are done.
	const appendRounds = 60
	stop := make(chan struct{})
	errs := make(chan error, 16)
	var appenders, pruners sync.WaitGroup
	for w := 0; w < 4; w++ {
		appenders.Add(1)
		go func(w int) {
			defer appenders.Done()
			for i := 0; i < appendRounds; i++ {
				var batch []*store.Append
				for j := range sessions {
					sess := sessions[(w+j+i)%len(sessions)]
					var events []domain.Event
					for k := range names {
						events = append(events, ev(names[(w+k+i)%len(names)], "failed"))
					}
					// Old enough to be pruned at once, so both run on the same rows.
					batch = append(batch, &store.Append{SessionID: sess.ID, Events: events, ReceivedAt: base.Add(-time.Hour)})
				}
				if err := s.AppendEvents(ctx, batch); err != nil {
					errs <- fmt.Errorf("append: %w", err)
					return
				}
			}
		}(w)
	}
	for p := 0; p < 2; p++ {
		pruners.Add(1)
		go func() {
			defer pruners.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.PruneEvents(ctx, base, 7); err != nil {
					errs <- fmt.Errorf("prune: %w", err)
					return
				}
			}
		}()
	}
	appenders.Wait()
	close(stop)
	pruners.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Whatever remains, the job counts match the events left.
	for _, sess := range sessions {
		jobs, err := s.Jobs(ctx, sess.ID)
		if err != nil {
			t.Fatal(err)
		}
		left, _ := s.EventsAfter(ctx, sess.ID, 0, 1_000_000)
		count := map[string]int64{}
		for _, e := range left {
			count[e.Name]++
		}
		for _, j := range jobs {
			if j.Runs != count[j.Name] || j.Failures != count[j.Name] {
				t.Fatalf("job %s: runs %d failures %d, but %d events are left", j.Name, j.Runs, j.Failures, count[j.Name])
			}
		}
	}
}
