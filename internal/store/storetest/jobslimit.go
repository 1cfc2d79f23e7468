package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/store"
)

// The job list's bound: what GET /api/v1/jobs answers per job, at most,
// whatever the events carry (sqlstore.SummaryTextChars documents the sum).
const jobSummaryMaxBytes = 10 << 10

// summaryCut is how many characters of a long text a summary keeps.
const summaryCut = 256

func jobLimiter(t *testing.T, s store.Store) store.JobLimiter {
	t.Helper()
	l, ok := s.(store.JobLimiter)
	if !ok {
		t.Fatalf("%T does not implement store.JobLimiter: the server could not cap a session's jobs", s)
	}
	return l
}

// testJobSummaries: the list carries each last event without metadata and
// with long texts cut; Job has it in full.
func testJobSummaries(t *testing.T, s store.Store) {
	ctx := context.Background()
	sess := newSession(t, s)
	d := 12.5
	meta := json.RawMessage(`{"blob":"` + strings.Repeat("m", domain.MaxMetadataLen-20) + `"}`)
	long := strings.Repeat("é", 1000)
	full := domain.Event{ID: "run-1", Name: "heavy", Status: "failed", DurationMS: &d,
		Error:    &domain.ErrorInfo{Type: "ValueError", Message: long, Traceback: long},
		Metadata: meta, Source: json.RawMessage(`{"host":"box","pid":42}`)}
	bigSource := domain.Event{Name: "big_source", Status: "completed", Metadata: json.RawMessage(`{"a":1}`),
		Source: json.RawMessage(`{"host":"` + strings.Repeat("h", 1000) + `"}`)}
	a := appendEvents(t, s, sess.ID, full, bigSource)

	jobs, err := s.Jobs(ctx, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 2 || jobs[0].Name != "big_source" || jobs[1].Name != "heavy" {
		t.Fatalf("jobs = %+v; want big_source then heavy", jobs)
	}
	for _, j := range jobs {
		if j.Last.Metadata != nil {
			t.Errorf("job %s: the list carries metadata (%d bytes); summaries must not", j.Name, len(j.Last.Metadata))
		}
	}
	if jobs[0].Last.Source != nil {
		t.Errorf("a source of 1,000 bytes is in the list: %.40s…", jobs[0].Last.Source)
	}
	h := jobs[1].Last
	wantCut := strings.Repeat("é", summaryCut) + "…"
	if h.Error == nil || h.Error.Type != "ValueError" || h.Error.Message != wantCut || h.Error.Traceback != wantCut {
		t.Fatalf("heavy's error in the list = %+v; want the type whole, message and traceback cut to %d characters and …", h.Error, summaryCut)
	}
	if h.Seq != a.Stored[0].Seq || h.ID != "run-1" || h.Status != "failed" || h.DurationMS == nil || *h.DurationMS != d ||
		!h.Timestamp.Equal(a.Stored[0].Timestamp.Time) || !h.ReceivedAt.Equal(a.Stored[0].ReceivedAt.Time) ||
		string(h.Source) != `{"host":"box","pid":42}` {
		t.Fatalf("heavy's summary lost fields: %+v", h)
	}

	one, err := s.Job(ctx, sess.ID, "heavy")
	if err != nil {
		t.Fatal(err)
	}
	if one.Runs != 1 || one.Failures != 1 || one.P50MS == nil || *one.P50MS != d {
		t.Fatalf("Job(heavy) = runs %d failures %d p50 %v", one.Runs, one.Failures, deref(one.P50MS))
	}
	if !reflect.DeepEqual(one.Last, a.Stored[0]) {
		t.Fatalf("Job(heavy).Last is not the event in full:\n got %+v\nwant %+v", one.Last, a.Stored[0])
	}
	if _, err := s.Job(ctx, sess.ID, "nope"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("Job of an unknown name = %v, want ErrNotFound", err)
	}
	other := newSession(t, s)
	if _, err := s.Job(ctx, other.ID, "heavy"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("Job of another session's name = %v, want ErrNotFound", err)
	}
}

// testJobPercentilesWindow: p50 and p95 cover the last PercentileWindow
// runs with a duration, per job, in the one query.
func testJobPercentilesWindow(t *testing.T, s store.Store) {
	ctx := context.Background()
	sess := newSession(t, s)
	var events []domain.Event
	for i := 1; i <= 150; i++ {
		// Old runs are slow: a window of more than 100 would raise p95.
		ms := float64(i)
		if i <= 50 {
			ms = 100000
		}
		events = append(events, domain.Event{Name: "w", Status: "completed", DurationMS: &ms}, ev("w", "completed"))
		if i <= 3 {
			other := float64(i * 1000)
			events = append(events, domain.Event{Name: "x", Status: "completed", DurationMS: &other})
		}
	}
	// Durations come back exactly, however many digits they have.
	precise := 0.1 + 0.2
	events = append(events, domain.Event{Name: "precise", Status: "completed", DurationMS: &precise})
	appendEvents(t, s, sess.ID, events...)
	jobs, err := s.Jobs(ctx, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][2]any{}
	for _, j := range jobs {
		got[j.Name] = [2]any{deref(j.P50MS), deref(j.P95MS)}
	}
	// w's window is 51..150: nearest rank 50 → 100, rank 95 → 145.
	want := map[string][2]any{"w": {100.0, 145.0}, "x": {2000.0, 3000.0}, "precise": {precise, precise}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("percentiles = %v, want %v", got, want)
	}
	one, err := s.Job(ctx, sess.ID, "w")
	if err != nil || deref(one.P50MS) != 100.0 || deref(one.P95MS) != 145.0 {
		t.Fatalf("Job(w) percentiles = %v %v (%v), want 100 145", deref(one.P50MS), deref(one.P95MS), err)
	}
}

// testJobSummaryWorstCase: the largest summary the limits allow stays
// within jobSummaryMaxBytes of JSON.
func testJobSummaryWorstCase(t *testing.T, s store.Store) {
	ctx := context.Background()
	sess := newSession(t, s)
	// '<' is escaped to six bytes by encoding/json, as control characters are.
	worst := strings.Repeat("<", 100000)
	d := 1.7976931348623157e308
	source := `{"h":"` + strings.Repeat("<", summaryCut-8) + `"}`
	e := domain.Event{ID: strings.Repeat("<", domain.MaxIDLen), Name: strings.Repeat("<", domain.MaxNameLen),
		Status: strings.Repeat("z", domain.MaxStatusLen), DurationMS: &d,
		Error:    &domain.ErrorInfo{Type: worst, Message: worst, Traceback: worst},
		Metadata: json.RawMessage(`{"m":"` + strings.Repeat("<", domain.MaxMetadataLen-10) + `"}`),
		Source:   json.RawMessage(source)}
	if utf8.RuneCountInString(source) != summaryCut {
		t.Fatalf("test source is %d characters", utf8.RuneCountInString(source))
	}
	appendEvents(t, s, sess.ID, e)
	jobs, err := s.Jobs(ctx, sess.ID)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("Jobs = %d, %v", len(jobs), err)
	}
	if jobs[0].Last.Source == nil {
		t.Fatal("a source of the summary's size was left out")
	}
	b, _ := json.Marshal(jobs[0])
	if len(b) > jobSummaryMaxBytes {
		t.Fatalf("one job's summary is %d bytes of JSON; the documented bound is %d", len(b), jobSummaryMaxBytes)
	}
	t.Logf("worst-case job summary: %d bytes of JSON", len(b))
}

// testJobLimit: past the limit, a request bringing a new name is refused
// whole, alone in its commit; events of existing jobs always pass.
func testJobLimit(t *testing.T, s store.Store) {
	ctx := context.Background()
	jobLimiter(t, s).SetMaxJobsPerSession(3)
	sess := newSession(t, s)
	appendEvents(t, s, sess.ID, ev("a", "completed"), ev("b", "completed"))
	commit := func(appends ...*store.Append) {
		t.Helper()
		if err := s.AppendEvents(ctx, appends); err != nil {
			t.Fatalf("AppendEvents: %v (a refused request must not fail the commit)", err)
		}
	}
	req := func(sessionID int64, events ...domain.Event) *store.Append {
		return &store.Append{SessionID: sessionID, Events: events, ReceivedAt: base}
	}
	other := newSession(t, s)
	// One commit: a new name within the limit, then one past it, then
	// existing jobs and another session.
	within := req(sess.ID, ev("c", "completed"), ev("a", "failed"))
	past := req(sess.ID, domain.Event{ID: "past-1", Name: "d", Status: "failed"}, ev("a", "completed"))
	existing := req(sess.ID, ev("b", "failed"), ev("c", "completed"))
	elsewhere := req(other.ID, ev("d", "completed"))
	commit(within, past, existing, elsewhere)
	for name, a := range map[string]*store.Append{"within": within, "existing": existing, "elsewhere": elsewhere} {
		if a.Err != nil {
			t.Errorf("%s request refused: %v", name, a.Err)
		}
	}
	if !errors.Is(past.Err, store.ErrTooManyJobs) {
		t.Fatalf("the request with a 4th name: Err = %v, want ErrTooManyJobs", past.Err)
	}
	if msg := past.Err.Error(); !strings.Contains(msg, "3") || !strings.Contains(msg, "--max-jobs-per-session") {
		t.Errorf("the refusal does not name the limit and its flag: %q", msg)
	}
	if len(past.Stored) != 0 || past.Duplicates != 0 || past.Pushes != 0 {
		t.Errorf("the refused request reports stored events: %+v", past)
	}
	if got := seqs(within.Stored); !slices.Equal(got, []int64{3, 4}) {
		t.Errorf("within: seqs %v, want [3 4]", got)
	}
	if got := seqs(existing.Stored); !slices.Equal(got, []int64{5, 6}) {
		t.Errorf("existing: seqs %v, want [5 6] (no gap where the refused request was)", got)
	}
	if got := seqs(elsewhere.Stored); !slices.Equal(got, []int64{1}) {
		t.Errorf("another session: seqs %v, want [1]", got)
	}
	all, err := s.ListEvents(ctx, sess.ID, store.EventQuery{Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 6 || slices.ContainsFunc(all, func(e domain.StoredEvent) bool { return e.Name == "d" || e.ID == "past-1" }) {
		t.Fatalf("stored events = %+v; want the 6 of the accepted requests, nothing of the refused one", all)
	}
	jobs, err := s.Jobs(ctx, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, j := range jobs {
		names = append(names, j.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"a", "b", "c"}) {
		t.Fatalf("jobs = %v, want [a b c]", names)
	}
	for _, j := range jobs {
		if j.Name == "a" && (j.Runs != 2 || j.Failures != 1) {
			t.Errorf("a: runs %d failures %d; the refused request's run of a was counted", j.Runs, j.Failures)
		}
	}
	// Alone, a new name is refused too, and the id it carried stays free.
	alone := req(sess.ID, domain.Event{ID: "past-1", Name: "e", Status: "completed"})
	commit(alone)
	if !errors.Is(alone.Err, store.ErrTooManyJobs) {
		t.Fatalf("a 4th name alone: Err = %v", alone.Err)
	}
	again := appendEvents(t, s, sess.ID, domain.Event{ID: "past-1", Name: "a", Status: "completed"})
	if again.Err != nil || again.Duplicates != 0 || !slices.Equal(seqs(again.Stored), []int64{7}) {
		t.Fatalf("an existing job's event after refusals = %+v, want seq 7, no duplicate", again)
	}
	// 0 lifts the limit.
	jobLimiter(t, s).SetMaxJobsPerSession(0)
	if a := appendEvents(t, s, sess.ID, ev("f", "completed")); a.Err != nil || len(a.Stored) != 1 {
		t.Fatalf("with no limit: %+v", a)
	}
}

// testJobLimitLowered: a session with more jobs than a lowered limit still
// posts to them, gets no new one, and lists only the most recent.
func testJobLimitLowered(t *testing.T, s store.Store) {
	ctx := context.Background()
	sess := newSession(t, s)
	for i := 0; i < 5; i++ {
		appendEvents(t, s, sess.ID, ev(fmt.Sprintf("j%d", i), "completed"))
	}
	jobLimiter(t, s).SetMaxJobsPerSession(2)
	if a := appendEvents(t, s, sess.ID, ev("j0", "completed")); a.Err != nil {
		t.Fatalf("an existing job over a lowered limit: %v", a.Err)
	}
	a := &store.Append{SessionID: sess.ID, Events: []domain.Event{ev("new", "completed")}, ReceivedAt: base}
	if err := s.AppendEvents(ctx, []*store.Append{a}); err != nil || !errors.Is(a.Err, store.ErrTooManyJobs) {
		t.Fatalf("a new name over a lowered limit: %v, Err %v", err, a.Err)
	}
	jobs, err := s.Jobs(ctx, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 2 || jobs[0].Name != "j0" || jobs[1].Name != "j4" {
		t.Fatalf("jobs = %+v; want the 2 most recent, j0 and j4", jobs)
	}
}
