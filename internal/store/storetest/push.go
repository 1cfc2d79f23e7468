package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/store"
)

func subscribe(t *testing.T, s store.Store, d domain.Device, endpoint string) {
	t.Helper()
	if err := s.SetPush(context.Background(), d.ID, &domain.PushSubscription{Endpoint: endpoint, P256dh: "key", Auth: "auth"}); err != nil {
		t.Fatal(err)
	}
}

// claimAll leases every due job at now.
func claimAll(t *testing.T, s store.Store, now time.Time) []store.PushJob {
	t.Helper()
	jobs, err := s.ClaimPushJobs(context.Background(), now, time.Minute, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return jobs
}

func testPushRules(t *testing.T, s store.Store) {
	ctx := context.Background()
	sess := newSession(t, s)
	failures, _ := pair(t, s, sess.ID, false)
	all, _ := pair(t, s, sess.ID, false)
	off, _ := pair(t, s, sess.ID, false)
	muting, _ := pair(t, s, sess.ID, false)
	pair(t, s, sess.ID, false) // a device without a subscription: never notified
	for _, d := range []domain.Device{failures, all, off, muting} {
		subscribe(t, s, d, "https://push.example/"+d.ID)
	}
	set := func(d domain.Device, notify string, muted ...string) {
		if err := s.UpdateDevice(ctx, d.ID, domain.DeviceSettings{Name: d.Name, Notify: notify, Muted: append([]string{}, muted...)}); err != nil {
			t.Fatal(err)
		}
	}
	set(all, domain.NotifyAll)
	set(off, domain.NotifyOff)
	set(muting, domain.NotifyAll, "sync")

	appendEvents(t, s, sess.ID, ev("sync", "completed"), ev("sync", "failed"), ev("sync", "failed"), ev("sync", "completed"), ev("other", "started"))
	got := map[string][]string{}
	for _, j := range claimAll(t, s, base) {
		got[j.DeviceID] = append(got[j.DeviceID], j.Kind)
		if j.SessionID != sess.ID || j.Sub.Endpoint != "https://push.example/"+j.DeviceID {
			t.Errorf("job %+v lacks its session or subscription", j)
		}
	}
	want := map[string][]string{
		// The second failure is folded into the incident the first opened (issue 11).
		failures.ID: {"failed", "recovered"},
		all.ID:      {"event", "failed", "recovered", "event"},
		muting.ID:   {"event"},
	}
	if len(got) != len(want) {
		t.Fatalf("notified devices = %v, want %v", got, want)
	}
	for id, kinds := range want {
		if len(got[id]) != len(kinds) {
			t.Fatalf("device %s got %v, want %v", id, got[id], kinds)
		}
		for i := range kinds {
			if got[id][i] != kinds[i] {
				t.Fatalf("device %s got %v, want %v", id, got[id], kinds)
			}
		}
	}
	// A recovery across batches reads the job's previous status.
	appendEvents(t, s, sess.ID, ev("nightly", "failed"))
	appendEvents(t, s, sess.ID, ev("nightly", "completed"))
	var kinds []string
	for _, j := range claimAll(t, s, base) {
		if j.DeviceID == failures.ID {
			kinds = append(kinds, j.Kind)
		}
	}
	if len(kinds) != 2 || kinds[0] != "failed" || kinds[1] != "recovered" {
		t.Fatalf("failures-only device across batches got %v, want [failed recovered]", kinds)
	}
}

func testPushQueueLeases(t *testing.T, s store.Store) {
	ctx := context.Background()
	sess := newSession(t, s)
	d, _ := pair(t, s, sess.ID, false)
	subscribe(t, s, d, "https://push.example/1")
	appendEvents(t, s, sess.ID, ev("a", "failed"), ev("b", "failed"))
	jobs := claimAll(t, s, base)
	if len(jobs) != 2 || jobs[0].Attempts != 1 {
		t.Fatalf("claimed %+v; want 2 jobs on their first attempt", jobs)
	}
	if again := claimAll(t, s, base.Add(30*time.Second)); len(again) != 0 {
		t.Fatalf("leased jobs were handed out again: %+v", again)
	}
	if err := s.CompletePushJob(ctx, jobs[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := s.RetryPushJob(ctx, jobs[1].ID, base.Add(5*time.Minute), "503 from push service"); err != nil {
		t.Fatal(err)
	}
	if early := claimAll(t, s, base.Add(4*time.Minute)); len(early) != 0 {
		t.Fatalf("a job was retried before its time: %+v", early)
	}
	late := claimAll(t, s, base.Add(5*time.Minute))
	if len(late) != 1 || late[0].ID != jobs[1].ID || late[0].Attempts != 2 {
		t.Fatalf("retry = %+v; want job %d on attempt 2", late, jobs[1].ID)
	}
	// An expired lease (a crashed worker) makes the job due again.
	if again := claimAll(t, s, base.Add(7*time.Minute)); len(again) != 1 {
		t.Fatalf("after the lease ran out: %+v, want the job again", again)
	}
	t.Run("CarriesEvent", func(t *testing.T) { testPushClaimCarriesEvent(t, s) })
}

// A claim hands out what delivery needs, so that the worker reads nothing
// more per job: the subscription, and the event as a message shows it.
func testPushClaimCarriesEvent(t *testing.T, s store.Store) {
	sess := newSession(t, s)
	d, _ := pair(t, s, sess.ID, false)
	subscribe(t, s, d, "https://push.example/carries")
	dur := 3200.0
	failed := domain.Event{Name: "nightly", Status: domain.StatusFailed, DurationMS: &dur,
		Error:    &domain.ErrorInfo{Type: "KeyError", Message: "'customer_id'", Traceback: "Traceback (most recent call last): ..."},
		Metadata: []byte(`{"host":"a"}`)}
	a := appendEvents(t, s, sess.ID, failed)
	jobs := claimAll(t, s, base)
	if len(jobs) != 1 || jobs[0].Event == nil {
		t.Fatalf("claimed %+v; want one job with its event", jobs)
	}
	j, e := jobs[0], jobs[0].Event
	if j.Sub != (domain.PushSubscription{Endpoint: "https://push.example/carries", P256dh: "key", Auth: "auth"}) {
		t.Errorf("claimed subscription %+v", j.Sub)
	}
	if e.Seq != a.Stored[0].Seq || e.Name != "nightly" || e.Status != domain.StatusFailed || e.DurationMS == nil || *e.DurationMS != dur ||
		e.Error == nil || e.Error.Type != "KeyError" || e.Error.Message != "'customer_id'" || !e.ReceivedAt.Equal(base) {
		t.Errorf("claimed event %+v (error %+v); want the stored one's name, status, duration, error and receipt time", e, e.Error)
	}
	if err := s.RetryPushJob(context.Background(), j.ID, base, "again"); err != nil {
		t.Fatal(err)
	}
	// An event pruned while its job waited comes back as none.
	if _, err := s.PruneEvents(context.Background(), base.Add(time.Millisecond), 1000); err != nil {
		t.Fatal(err)
	}
	again := claimAll(t, s, base)
	if len(again) != 1 || again[0].ID != j.ID || again[0].Event != nil {
		t.Fatalf("after retention: %+v; want job %d with no event", again, j.ID)
	}
}

func testPushQueueConcurrentClaims(t *testing.T, s store.Store) {
	sess := newSession(t, s)
	d, _ := pair(t, s, sess.ID, false)
	subscribe(t, s, d, "https://push.example/1")
	claimConcurrently(t, s, sess.ID, func() ([]int64, error) {
		jobs, err := s.ClaimPushJobs(context.Background(), base, time.Minute, 7)
		ids := make([]int64, len(jobs))
		for i, j := range jobs {
			ids[i] = j.ID
		}
		return ids, err
	})
}

// claimConcurrently queues 60 alerts in session (failures of 60 jobs: one
// incident, one alert each) and has 4 workers claim them, 7 at a time,
// until claim finds none; every job must go to exactly one of them.
func claimConcurrently(t *testing.T, s store.Store, session int64, claim func() ([]int64, error)) {
	t.Helper()
	var events []domain.Event
	for i := 0; i < 60; i++ {
		events = append(events, ev(fmt.Sprintf("job%d", i), "failed"))
	}
	appendEvents(t, s, session, events...)
	var mu sync.Mutex
	seen := map[int64]int{}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				ids, err := claim()
				if err != nil {
					t.Error(err)
					return
				}
				if len(ids) == 0 {
					return
				}
				mu.Lock()
				for _, id := range ids {
					seen[id]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != 60 {
		t.Fatalf("claimed %d distinct jobs, want 60", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("job %d was claimed %d times", id, n)
		}
	}
}

func testPushDropEndpoint(t *testing.T, s store.Store) {
	ctx := context.Background()
	sess := newSession(t, s)
	d, tok := pair(t, s, sess.ID, false)
	subscribe(t, s, d, "https://push.example/old")
	appendEvents(t, s, sess.ID, ev("a", "failed"))
	// A stale endpoint does not remove a newer subscription.
	subscribe(t, s, d, "https://push.example/new")
	if err := s.DropPushEndpoint(ctx, d.ID, "https://push.example/old"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.DeviceByToken(ctx, hash(tok)); err != nil || !got.HasPush {
		t.Fatalf("dropping a stale endpoint removed the current subscription (%v)", err)
	}
	if err := s.DropPushEndpoint(ctx, d.ID, "https://push.example/new"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.DeviceByToken(ctx, hash(tok)); err != nil || got.HasPush {
		t.Fatalf("the gone endpoint is still the device's subscription (%v)", err)
	}
	if jobs := claimAll(t, s, base); len(jobs) != 0 {
		t.Fatalf("jobs for a gone endpoint remain: %+v", jobs)
	}
}

func testSettingsOnce(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.Setting(ctx, "vapid"); err == nil {
		t.Fatal("an unset setting was found")
	}
	first, err := s.SetSettingOnce(ctx, "vapid", "one")
	if err != nil || first != "one" {
		t.Fatalf("first SetSettingOnce = %q, %v", first, err)
	}
	second, err := s.SetSettingOnce(ctx, "vapid", "two")
	if err != nil || second != "one" {
		t.Fatalf("second SetSettingOnce = %q, %v; want the first value to win", second, err)
	}
	if v, err := s.Setting(ctx, "vapid"); err != nil || v != "one" {
		t.Fatalf("Setting = %q, %v", v, err)
	}
}
