package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/store"
)

// chanClaim leases every due channel job at now.
func chanClaim(t *testing.T, s store.Store, now time.Time) []store.ChannelJob {
	t.Helper()
	jobs, err := s.ClaimChannelJobs(context.Background(), now, time.Minute, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return jobs
}

// chanKinds claims and completes every due job, and returns their kinds
// by channel.
func chanKinds(t *testing.T, s store.Store, now time.Time) map[string][]string {
	t.Helper()
	got := map[string][]string{}
	for _, j := range chanClaim(t, s, now) {
		got[j.Channel.ID] = append(got[j.Channel.ID], j.Kind)
		if err := s.CompleteChannelJob(context.Background(), j.ID, j.Channel.ID); err != nil {
			t.Fatal(err)
		}
	}
	return got
}

// testChannelAlertRules: channels get exactly what a phone with the same
// rule gets (domain.AlertFor), unverified and off channels nothing.
func testChannelAlertRules(t *testing.T, s store.Store) {
	ctx := context.Background()
	sess := newSession(t, s)
	failures := chanNew(t, s, sess.ID, domain.ChannelSlack, domain.NotifyFailures)
	all := chanNew(t, s, sess.ID, domain.ChannelWebhook, domain.NotifyAll)
	off := chanNew(t, s, sess.ID, domain.ChannelNtfy, domain.NotifyOff)
	muting := chanNew(t, s, sess.ID, domain.ChannelDiscord, domain.NotifyAll, "sync")
	email := chanEmail(t, s, sess.ID, "t", base)
	// A phone with the rule "all": the channel of that rule must match it.
	phone, _ := pair(t, s, sess.ID, false)
	subscribe(t, s, phone, "https://push.example/"+phone.ID)
	if err := s.UpdateDevice(ctx, phone.ID, domain.DeviceSettings{Name: "p", Notify: domain.NotifyAll, Muted: []string{}}); err != nil {
		t.Fatal(err)
	}

	a := appendEvents(t, s, sess.ID, ev("sync", "completed"), ev("sync", "failed"), ev("sync", "failed"), ev("sync", "completed"), ev("other", "started"))
	got := chanKinds(t, s, base)
	want := map[string][]string{
		failures.ID: {"failed", "recovered"},
		all.ID:      {"event", "failed", "recovered", "event"},
		muting.ID:   {"event"},
		email.ID:    {domain.ChannelKindConfirm}, // nothing but its confirmation
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("channels got %v; want %v (off: %s)", got, want, off.ID)
	}
	if a.Channels != 7 || a.Pushes != 4 {
		t.Errorf("Append counts %d channel messages, %d pushes; want 7, 4", a.Channels, a.Pushes)
	}
	var phoneKinds []string
	for _, j := range claimAll(t, s, base) {
		phoneKinds = append(phoneKinds, j.Kind)
	}
	if fmt.Sprint(phoneKinds) != fmt.Sprint(want[all.ID]) {
		t.Fatalf("the phone got %v, the channel of the same rule %v", phoneKinds, want[all.ID])
	}
	// Across commits, one batch holding several sessions: each its own.
	other := newSession(t, s)
	otherCh := chanNew(t, s, other.ID, domain.ChannelSlack, domain.NotifyFailures)
	batch := []*store.Append{
		{SessionID: sess.ID, Events: []domain.Event{ev("nightly", "failed")}, ReceivedAt: base},
		{SessionID: other.ID, Events: []domain.Event{ev("nightly", "completed"), ev("nightly", "failed")}, ReceivedAt: base},
	}
	if err := s.AppendEvents(ctx, batch); err != nil {
		t.Fatal(err)
	}
	got = chanKinds(t, s, base)
	want = map[string][]string{failures.ID: {"failed"}, all.ID: {"failed"}, muting.ID: {"failed"}, otherCh.ID: {"failed"}}
	if fmt.Sprint(got) != fmt.Sprint(want) || batch[0].Channels != 3 || batch[1].Channels != 1 {
		t.Fatalf("a batch of two sessions queued %v (%d, %d); want %v (3, 1)", got, batch[0].Channels, batch[1].Channels, want)
	}
}

// testChannelIncidents: one alert per incident and one recovery, with the
// incident in the claim; the evaluator's missed alerts reach channels too.
func testChannelIncidents(t *testing.T, s store.Store) {
	ctx := context.Background()
	e := newIncidentsEnv(t, s)
	ch := chanNew(t, s, e.session, domain.ChannelSlack, domain.NotifyFailures)
	claim := func(what string, kinds ...string) []store.ChannelJob {
		t.Helper()
		jobs := chanClaim(t, s, e.now.Add(time.Hour))
		got := []string{}
		for _, j := range jobs {
			got = append(got, j.Kind)
			if err := s.CompleteChannelJob(ctx, j.ID, ch.ID); err != nil {
				t.Fatal(err)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(append([]string{}, kinds...)) {
			t.Fatalf("%s: channel got %v; want %v", what, got, kinds)
		}
		return jobs
	}
	e.post(ev("sync", "failed"))
	opened := claim("first failure", "failed")
	in := opened[0].Incident
	if in == nil || in.ID == 0 || in.Kind != "failed" || in.ClosedAt != nil || !in.OpenedAt.Equal(e.now) {
		t.Fatalf("the opening alert's incident %+v; want an open failed incident with its id", in)
	}
	for i := 0; i < 3; i++ {
		e.now = e.now.Add(time.Minute)
		e.post(ev("sync", "failed"))
	}
	claim("failures folded into the incident")
	e.now = e.now.Add(time.Hour)
	e.post(ev("sync", "completed"))
	rec := claim("recovery", "recovered")[0]
	if rec.Incident == nil || rec.Incident.ID != in.ID || rec.Incident.ClosedAt == nil || rec.Incident.Runs != 4 {
		t.Fatalf("the recovery's incident %+v; want incident %d closed, 4 runs", rec.Incident, in.ID)
	}
	e.want("the phone alongside", "failed", "recovered")

	// The evaluator: a run missed past its grace.
	e.post(incidentsDeclared("hourly", "completed", `{"every_s":3600,"grace_s":300}`))
	last := e.job("hourly").Last.Seq
	up := e.now
	e.now = e.now.Add(time.Hour + 6*time.Minute)
	_, alerts, err := s.EvaluateJobs(ctx, e.now, up, 100)
	if err != nil || alerts != 2 {
		t.Fatalf("EvaluateJobs: %d alerts, %v; want 2 (the phone and the channel)", alerts, err)
	}
	missed := claim("missed", "missed")[0]
	if missed.Seq != last || missed.Event == nil || missed.Event.Name != "hourly" || missed.Incident == nil || missed.Incident.Kind != "missed" ||
		!missed.QueuedAt.Equal(e.now) {
		t.Fatalf("the missed alert %+v (event %+v, incident %+v); want the job's last run and a missed incident", missed, missed.Event, missed.Incident)
	}
	e.post(ev("hourly", "completed"))
	claim("the run came", "recovered")
}

// testChannelQueueLeases: claims lease, retries wait, an expired lease
// hands the job out again; a claim carries the channel, event and incident.
func testChannelQueueLeases(t *testing.T, s store.Store) {
	ctx := context.Background()
	sess := newSession(t, s)
	ch := chanNew(t, s, sess.ID, domain.ChannelNtfy, domain.NotifyFailures, "quiet")
	dur := 3200.0
	ts := domain.NewTime(base.Add(-time.Minute))
	failed := domain.Event{Name: "nightly", Status: domain.StatusFailed, DurationMS: &dur, Timestamp: ts,
		Error: &domain.ErrorInfo{Type: "KeyError", Message: "'customer_id'", Traceback: "Traceback ..."}, Metadata: []byte(`{"host":"a"}`)}
	a := appendEvents(t, s, sess.ID, failed, ev("b", "failed"))
	jobs := chanClaim(t, s, base)
	if len(jobs) != 2 || jobs[0].Attempts != 1 || jobs[0].ID >= jobs[1].ID {
		t.Fatalf("claimed %+v; want 2 jobs, oldest first, on their first attempt", jobs)
	}
	j, e := jobs[0], jobs[0].Event
	c := j.Channel
	if c.ID != ch.ID || c.SessionID != sess.ID || c.Type != domain.ChannelNtfy || c.Notify != domain.NotifyFailures || !c.Verified ||
		string(c.Sealed) != string(ch.Sealed) || c.Shown["url"] != ch.Shown["url"] || len(c.Muted) != 1 || !c.CreatedAt.Equal(base) {
		t.Errorf("claimed channel %+v; want %+v", c, ch)
	}
	if j.Seq != a.Stored[0].Seq || j.Kind != "failed" || !j.QueuedAt.Equal(base) || e == nil || e.Name != "nightly" || e.Status != domain.StatusFailed ||
		e.DurationMS == nil || *e.DurationMS != dur || !e.Timestamp.Equal(ts.Time) || !e.ReceivedAt.Equal(base) ||
		e.Error == nil || e.Error.Type != "KeyError" || e.Error.Message != "'customer_id'" || e.Error.Traceback != "" || e.Metadata != nil {
		t.Errorf("claimed job %+v, event %+v; want the event as a message shows it", j, e)
	}
	if j.Incident == nil || j.Incident.Kind != "failed" || j.Incident.ID == 0 {
		t.Errorf("claimed incident %+v", j.Incident)
	}
	if again := chanClaim(t, s, base.Add(30*time.Second)); len(again) != 0 {
		t.Fatalf("leased jobs were handed out again: %+v", again)
	}
	if err := s.CompleteChannelJob(ctx, jobs[1].ID, ch.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.RetryChannelJob(ctx, j.ID, base.Add(5*time.Minute), "503 from ntfy"); err != nil {
		t.Fatal(err)
	}
	if early := chanClaim(t, s, base.Add(4*time.Minute)); len(early) != 0 {
		t.Fatalf("a job was retried before its time: %+v", early)
	}
	late := chanClaim(t, s, base.Add(5*time.Minute))
	if len(late) != 1 || late[0].ID != j.ID || late[0].Attempts != 2 {
		t.Fatalf("retry = %+v; want job %d on attempt 2", late, j.ID)
	}
	if again := chanClaim(t, s, base.Add(7*time.Minute)); len(again) != 1 || again[0].Attempts != 3 {
		t.Fatalf("after the lease ran out: %+v; want the job again", again)
	}
	// A job put back untried (its destination's turn had not come) keeps
	// its tries: waiting is not failing.
	if err := s.PostponeChannelJob(ctx, j.ID, base.Add(7*time.Minute+time.Second)); err != nil {
		t.Fatal(err)
	}
	if again := chanClaim(t, s, base.Add(7*time.Minute+time.Second)); len(again) != 1 || again[0].Attempts != 3 {
		t.Fatalf("after a postponement: %+v; want the job on attempt 3 again", again)
	}
	// A pruned event comes back as none; a test names no event and is
	// queued whatever the channel's rule.
	if err := s.RetryChannelJob(ctx, j.ID, base, "again"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PruneEvents(ctx, base.Add(time.Millisecond), 1000); err != nil {
		t.Fatal(err)
	}
	off := domain.NotifyOff
	if _, err := s.UpdateChannel(ctx, sess.ID, ch.ID, domain.ChannelPatch{Notify: &off}); err != nil {
		t.Fatal(err)
	}
	if err := s.QueueChannelMessage(ctx, sess.ID, ch.ID, domain.ChannelKindTest, base.Add(8*time.Minute)); err != nil {
		t.Fatal(err)
	}
	rest := chanClaim(t, s, base.Add(8*time.Minute))
	if len(rest) != 2 || rest[0].ID != j.ID || rest[0].Event != nil || rest[0].Incident == nil ||
		rest[1].Kind != domain.ChannelKindTest || rest[1].Seq != 0 || rest[1].Event != nil || rest[1].Incident != nil || rest[1].Channel.Notify != off {
		t.Fatalf("after retention and a test: %+v; want job %d without its event, then the test", rest, j.ID)
	}
}

func testChannelConcurrentClaims(t *testing.T, s store.Store) {
	sess := newSession(t, s)
	chanNew(t, s, sess.ID, domain.ChannelWebhook, domain.NotifyFailures)
	claimConcurrently(t, s, sess.ID, func() ([]int64, error) {
		jobs, err := s.ClaimChannelJobs(context.Background(), base, time.Minute, 7)
		ids := make([]int64, len(jobs))
		for i, j := range jobs {
			ids[i] = j.ID
		}
		return ids, err
	})
}
