package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/store"
)

// chanFail queues a test for ch at at, claims it and gives it up.
func chanFail(t *testing.T, s store.Store, ch domain.Channel, at time.Time, why string) bool {
	t.Helper()
	ctx := context.Background()
	if err := s.QueueChannelMessage(ctx, ch.SessionID, ch.ID, domain.ChannelKindTest, at); err != nil {
		t.Fatal(err)
	}
	jobs := chanClaim(t, s, at)
	i := slices.IndexFunc(jobs, func(j store.ChannelJob) bool { return j.Channel.ID == ch.ID })
	if i < 0 {
		t.Fatalf("no job of %s to fail in %+v", ch.ID, jobs)
	}
	off, err := s.FailChannelJob(ctx, jobs[i].ID, ch.ID, why, at)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs { // the others' jobs, due again at once
		if j.ID == jobs[i].ID {
			continue
		}
		if err := s.RetryChannelJob(ctx, j.ID, at, ""); err != nil {
			t.Fatal(err)
		}
	}
	return off
}

// testChannelAutoOff: five give-ups in a row spanning an hour turn a channel
// off and queue a channel_off push to the phones; a delivery in between
// starts the count again; turning it on again resets it.
func testChannelAutoOff(t *testing.T, s store.Store) {
	ctx := context.Background()
	sess := newSession(t, s)
	phone, _ := pair(t, s, sess.ID, false)
	subscribe(t, s, phone, "https://push.example/"+phone.ID)
	pair(t, s, sess.ID, false) // no subscription: no push
	ch := chanNew(t, s, sess.ID, domain.ChannelSlack, domain.NotifyFailures)
	quick := chanNew(t, s, sess.ID, domain.ChannelDiscord, domain.NotifyFailures)

	// Five failures within ten minutes are not enough: they must span an hour.
	for i := 0; i < 5; i++ {
		if chanFail(t, s, quick, base.Add(time.Duration(i)*2*time.Minute), "Discord answered 500") {
			t.Fatalf("failure %d within minutes turned the channel off", i+1)
		}
	}
	if q := chanGet(t, s, sess.ID, quick.ID); q.Failures != 5 || q.LastError == nil || q.LastError.Message != "Discord answered 500" ||
		!q.LastError.At.Equal(base.Add(8*time.Minute)) || q.Notify != domain.NotifyFailures {
		t.Fatalf("after 5 quick failures %+v (last error %+v)", q, q.LastError)
	}
	// A delivery resets the count and the last error.
	if err := s.QueueChannelMessage(ctx, sess.ID, quick.ID, domain.ChannelKindTest, base.Add(9*time.Minute)); err != nil {
		t.Fatal(err)
	}
	for _, j := range chanClaim(t, s, base.Add(9*time.Minute)) {
		if err := s.CompleteChannelJob(ctx, j.ID, j.Channel.ID); err != nil {
			t.Fatal(err)
		}
	}
	if q := chanGet(t, s, sess.ID, quick.ID); q.Failures != 0 || q.LastError != nil {
		t.Fatalf("after a delivery %+v; want no failures, no last error", q)
	}

	for i := 0; i < 4; i++ {
		if chanFail(t, s, ch, base.Add(time.Duration(i)*15*time.Minute), "Slack answered 404: the webhook was deleted") {
			t.Fatalf("failure %d turned the channel off", i+1)
		}
	}
	if pushes := claimAll(t, s, base.Add(time.Hour)); len(pushes) != 0 {
		t.Fatalf("pushes before the channel turned off: %+v", pushes)
	}
	if !chanFail(t, s, ch, base.Add(time.Hour), "Slack answered 404: the webhook was deleted") {
		t.Fatal("the fifth failure, an hour after the first, did not turn the channel off")
	}
	got := chanGet(t, s, sess.ID, ch.ID)
	if got.Notify != domain.NotifyOff || got.DisabledAt == nil || !got.DisabledAt.Equal(base.Add(time.Hour)) || got.Failures != 5 ||
		got.LastError == nil || got.LastError.Message != "Turned off after 5 failed deliveries: Slack answered 404: the webhook was deleted" {
		t.Fatalf("the turned-off channel %+v (last error %+v)", got, got.LastError)
	}
	pushes := claimAll(t, s, base.Add(time.Hour))
	if len(pushes) != 1 || pushes[0].DeviceID != phone.ID || pushes[0].Kind != domain.AlertChannelOff || pushes[0].Seq != 0 ||
		pushes[0].Event != nil || pushes[0].Incident != nil || pushes[0].Sub.Endpoint == "" {
		t.Fatalf("pushes after the channel turned off: %+v; want one channel_off to the subscribed phone", pushes)
	}
	if err := s.CompletePushJob(ctx, pushes[0].ID); err != nil {
		t.Fatal(err)
	}
	// Off, it gets no alerts; a failure of a job queued before counts, but
	// does not turn it off twice.
	if err := s.QueueChannelMessage(ctx, sess.ID, ch.ID, domain.ChannelKindTest, base.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	appendEvents(t, s, sess.ID, ev("sync", "failed"))
	jobs := chanClaim(t, s, base.Add(2*time.Hour))
	kinds := map[string][]string{}
	for _, j := range jobs {
		kinds[j.Channel.ID] = append(kinds[j.Channel.ID], j.Kind)
	}
	if fmt.Sprint(kinds) != fmt.Sprint(map[string][]string{ch.ID: {"test"}, quick.ID: {"failed"}}) {
		t.Fatalf("after turning off: %v; want only the test for the off channel", kinds)
	}
	i := slices.IndexFunc(jobs, func(j store.ChannelJob) bool { return j.Channel.ID == ch.ID })
	if off, err := s.FailChannelJob(ctx, jobs[i].ID, ch.ID, "still 404", base.Add(2*time.Hour)); err != nil || off {
		t.Fatalf("failing an off channel again: %v, %v; want false", off, err)
	}
	if off, err := s.FailChannelJob(ctx, jobs[i].ID, ch.ID, "still 404", base.Add(2*time.Hour)); err != nil || off {
		t.Fatalf("failing a job given up already: %v, %v", off, err)
	}
	if got := chanGet(t, s, sess.ID, ch.ID); got.Failures != 6 {
		t.Fatalf("failures %d after one more give-up (and the same one twice); want 6", got.Failures)
	}
	if pushes := claimAll(t, s, base.Add(3*time.Hour)); len(pushes) != 1 || pushes[0].Kind != "failed" {
		t.Fatalf("pushes: %+v; want only the failure's", pushes)
	}
	// PATCH notify on again: it is back, its count afresh.
	on := domain.NotifyFailures
	back, err := s.UpdateChannel(ctx, sess.ID, ch.ID, domain.ChannelPatch{Notify: &on})
	if err != nil || back.Notify != on || back.DisabledAt != nil || back.Failures != 0 {
		t.Fatalf("turned on again: %+v, %v", back, err)
	}
	if !strings.HasPrefix(back.LastError.Message, "still 404") {
		t.Errorf("turned on again, the last error %+v; want it kept", back.LastError)
	}
	if chanFail(t, s, ch, base.Add(3*time.Hour), "404") {
		t.Fatal("the first failure after turning on again turned it off")
	}
	appendEvents(t, s, sess.ID, ev("other", "failed"))
	if kinds := chanKinds(t, s, base.Add(4*time.Hour)); len(kinds[ch.ID]) != 1 {
		t.Fatalf("turned on again, the channel got %v", kinds)
	}
}

// testChannelDelete: deleting a channel removes what it had queued.
func testChannelDelete(t *testing.T, s store.Store) {
	ctx := context.Background()
	sess := newSession(t, s)
	gone := chanNew(t, s, sess.ID, domain.ChannelSlack, domain.NotifyAll)
	kept := chanNew(t, s, sess.ID, domain.ChannelNtfy, domain.NotifyFailures)
	appendEvents(t, s, sess.ID, ev("a", "failed"), ev("b", "completed"))
	if err := s.QueueChannelMessage(ctx, sess.ID, gone.ID, domain.ChannelKindTest, base); err != nil {
		t.Fatal(err)
	}
	leased := chanClaim(t, s, base)
	if len(leased) != 4 {
		t.Fatalf("claimed %d jobs; want 4", len(leased))
	}
	if err := s.DeleteChannel(ctx, sess.ID, gone.ID); err != nil {
		t.Fatal(err)
	}
	// A worker that held one of its jobs finds nothing to update.
	for _, j := range leased {
		if j.Channel.ID != gone.ID {
			continue
		}
		if off, err := s.FailChannelJob(ctx, j.ID, gone.ID, "x", base); err != nil || off {
			t.Fatalf("failing a deleted channel's job: %v, %v", off, err)
		}
		if err := s.CompleteChannelJob(ctx, j.ID, gone.ID); err != nil {
			t.Fatal(err)
		}
	}
	rest := chanClaim(t, s, base.Add(time.Hour))
	if len(rest) != 1 || rest[0].Channel.ID != kept.ID {
		t.Fatalf("after the delete: %+v; want the other channel's job alone", rest)
	}
}
