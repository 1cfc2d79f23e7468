package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/store"
)

// Channels (issue 14): a session's channels, and the queue of what they are
// sent, tested on every store. The queue is tested in channels_queue.go and channels_off.go.

// chanNew adds a verified channel of typ with the rule notify, muting muted.
func chanNew(t *testing.T, s store.Store, session int64, typ, notify string, muted ...string) domain.Channel {
	t.Helper()
	return chanNewAt(t, s, session, base, typ, notify, muted...)
}

func chanNewAt(t *testing.T, s store.Store, session int64, at time.Time, typ, notify string, muted ...string) domain.Channel {
	t.Helper()
	c := domain.Channel{ID: randomName("ch"), SessionID: session, Type: typ, Notify: notify, Muted: append([]string{}, muted...),
		Verified: true, Sealed: []byte("sealed\x00\xff" + typ), Shown: map[string]string{"url": "https://example.com/…" + typ}}
	if err := s.CreateChannel(context.Background(), c, nil, at); err != nil {
		t.Fatalf("CreateChannel: %v", err)
	}
	return c
}

// chanEmail adds an email channel waiting for its confirmation token.
func chanEmail(t *testing.T, s store.Store, session int64, token string, now time.Time) domain.Channel {
	t.Helper()
	c := domain.Channel{ID: randomName("ch"), SessionID: session, Type: domain.ChannelEmail, Notify: domain.NotifyAll,
		Sealed: []byte("sealed address"), Shown: map[string]string{"address": "me@example.com"}}
	if err := s.CreateChannel(context.Background(), c, hash(token), now); err != nil {
		t.Fatalf("CreateChannel(email): %v", err)
	}
	return c
}

func chanGet(t *testing.T, s store.Store, session int64, id string) domain.Channel {
	t.Helper()
	c, err := s.GetChannel(context.Background(), session, id)
	if err != nil {
		t.Fatalf("GetChannel(%s): %v", id, err)
	}
	return c
}

func chanErrCode(err error) string {
	var de *domain.Error
	if errors.As(err, &de) {
		return de.Code
	}
	return ""
}

func testChannelCRUD(t *testing.T, s store.Store) {
	ctx := context.Background()
	sess, other := newSession(t, s), newSession(t, s)
	a := chanNew(t, s, sess.ID, domain.ChannelSlack, domain.NotifyFailures, "noisy")
	b := chanNewAt(t, s, sess.ID, base.Add(time.Millisecond), domain.ChannelNtfy, domain.NotifyAll)
	list, err := s.ListChannels(ctx, sess.ID)
	if err != nil || len(list) != 2 || list[0].ID != a.ID || list[1].ID != b.ID {
		t.Fatalf("ListChannels = %+v, %v; want %s then %s", list, err, a.ID, b.ID)
	}
	got := list[0]
	if got.SessionID != sess.ID || got.Type != domain.ChannelSlack || got.Notify != domain.NotifyFailures || !got.Verified ||
		len(got.Muted) != 1 || got.Muted[0] != "noisy" || string(got.Sealed) != string(a.Sealed) || got.Shown["url"] != a.Shown["url"] ||
		got.LastError != nil || got.Failures != 0 || got.DisabledAt != nil || !got.CreatedAt.Equal(base) {
		t.Fatalf("stored channel %+v; want what was created (%+v)", got, a)
	}
	if l, err := s.ListChannels(ctx, other.ID); err != nil || len(l) != 0 {
		t.Fatalf("another session lists %+v, %v; want none", l, err)
	}

	notify, muted := domain.NotifyAll, []string{"x", "y"}
	up, err := s.UpdateChannel(ctx, sess.ID, a.ID, domain.ChannelPatch{Notify: &notify, Muted: &muted})
	if err != nil || up.Notify != domain.NotifyAll || len(up.Muted) != 2 || string(up.Sealed) != string(a.Sealed) {
		t.Fatalf("UpdateChannel(notify, muted) = %+v, %v", up, err)
	}
	up, err = s.UpdateChannel(ctx, sess.ID, a.ID, domain.ChannelPatch{Sealed: []byte("new"), Shown: map[string]string{"url": "…new"}})
	if err != nil || string(up.Sealed) != "new" || up.Shown["url"] != "…new" || up.Notify != domain.NotifyAll {
		t.Fatalf("UpdateChannel(secrets) = %+v, %v", up, err)
	}
	if got := chanGet(t, s, sess.ID, a.ID); string(got.Sealed) != "new" || len(got.Muted) != 2 || got.Muted[1] != "y" {
		t.Fatalf("after the updates GetChannel = %+v", got)
	}

	// Another session's channel is not found, for every call.
	if _, err := s.GetChannel(ctx, other.ID, a.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("GetChannel from another session: %v; want ErrNotFound", err)
	}
	if _, err := s.UpdateChannel(ctx, other.ID, a.ID, domain.ChannelPatch{Notify: &notify}); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("UpdateChannel from another session: %v; want ErrNotFound", err)
	}
	if err := s.DeleteChannel(ctx, other.ID, a.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("DeleteChannel from another session: %v; want ErrNotFound", err)
	}
	if err := s.QueueChannelMessage(ctx, other.ID, a.ID, domain.ChannelKindTest, base); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("QueueChannelMessage from another session: %v; want ErrNotFound", err)
	}
	if err := s.DeleteChannel(ctx, sess.ID, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetChannel(ctx, sess.ID, a.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("a deleted channel: %v; want ErrNotFound", err)
	}
	if err := s.DeleteChannel(ctx, sess.ID, a.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("deleting twice: %v; want ErrNotFound", err)
	}
	t.Run("Text", func(t *testing.T) { testChannelText(t, s) })
}

// testChannelText: text that slipped past the API's validation (NUL,
// invalid UTF-8) is stored replaced or not found, never a failed query.
func testChannelText(t *testing.T, s store.Store) {
	ctx := context.Background()
	sess := newSession(t, s)
	c := domain.Channel{ID: randomName("ch"), SessionID: sess.ID, Type: domain.ChannelWebhook, Notify: domain.NotifyFailures,
		Muted: []string{"nul\x00name", "bad\xffutf8"}, Verified: true, Sealed: []byte{0, 1, 2, 0xff},
		Shown: map[string]string{"url": "https://x\x00y", "k\xfe": "v"}}
	if err := s.CreateChannel(ctx, c, nil, base); err != nil {
		t.Fatalf("CreateChannel with NUL and invalid UTF-8: %v", err)
	}
	got := chanGet(t, s, sess.ID, c.ID)
	if len(got.Muted) != 2 || domain.TextProblem(got.Muted[0]) != "" || domain.TextProblem(got.Muted[1]) != "" ||
		domain.TextProblem(got.Shown["url"]) != "" || string(got.Sealed) != string(c.Sealed) {
		t.Fatalf("stored %+v; want storable text and the sealed bytes as given", got)
	}
	for _, id := range []string{"a\x00b", "\xff\xfe"} {
		if _, err := s.GetChannel(ctx, sess.ID, id); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("GetChannel(%q): %v; want ErrNotFound", id, err)
		}
		if err := s.DeleteChannel(ctx, sess.ID, id); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("DeleteChannel(%q): %v; want ErrNotFound", id, err)
		}
	}
	if err := s.QueueChannelMessage(ctx, sess.ID, c.ID, domain.ChannelKindTest, base); err != nil {
		t.Fatal(err)
	}
	jobs := chanClaim(t, s, base)
	if len(jobs) != 1 {
		t.Fatalf("claimed %+v; want the test", jobs)
	}
	if err := s.RetryChannelJob(ctx, jobs[0].ID, base, "bad \x00 answer \xff"); err != nil {
		t.Fatalf("RetryChannelJob with NUL: %v", err)
	}
	jobs = chanClaim(t, s, base)
	if _, err := s.FailChannelJob(ctx, jobs[0].ID, c.ID, "gone \x00 \xff", base); err != nil {
		t.Fatalf("FailChannelJob with NUL: %v", err)
	}
	if got := chanGet(t, s, sess.ID, c.ID); got.LastError == nil || domain.TextProblem(got.LastError.Message) != "" {
		t.Fatalf("last error %+v; want a storable message", got.LastError)
	}
}

// testChannelLimit: past domain.MaxChannelsPerSession a create is refused,
// also when the creates race (the count is in the insert's transaction).
func testChannelLimit(t *testing.T, s store.Store) {
	sess := newSession(t, s)
	const tries = domain.MaxChannelsPerSession + 10
	var wg sync.WaitGroup
	errs := make([]error, tries)
	for i := range tries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := domain.Channel{ID: fmt.Sprintf("%s-%d", randomName("ch"), i), SessionID: sess.ID, Type: domain.ChannelNtfy,
				Notify: domain.NotifyFailures, Verified: true, Sealed: []byte("s"), Shown: map[string]string{}}
			errs[i] = s.CreateChannel(context.Background(), c, nil, base)
		}()
	}
	wg.Wait()
	ok, refused := 0, 0
	for _, err := range errs {
		var de *domain.Error
		switch {
		case err == nil:
			ok++
		case errors.As(err, &de) && de.Code == domain.ETooManyChannels:
			refused++
			if de.Message != "a session has at most 20 channels; remove one first" {
				t.Errorf("refusal message %q", de.Message)
			}
		default:
			t.Errorf("CreateChannel: %v", err)
		}
	}
	list, err := s.ListChannels(context.Background(), sess.ID)
	if ok != domain.MaxChannelsPerSession || refused != tries-ok || err != nil || len(list) != domain.MaxChannelsPerSession {
		t.Fatalf("%d created, %d refused, %d listed (%v); want %d, %d, %d", ok, refused, len(list), err,
			domain.MaxChannelsPerSession, tries-domain.MaxChannelsPerSession, domain.MaxChannelsPerSession)
	}
	// Another session has its own limit; removing one makes room again.
	chanNew(t, s, newSession(t, s).ID, domain.ChannelSlack, domain.NotifyFailures)
	if err := s.DeleteChannel(context.Background(), sess.ID, list[0].ID); err != nil {
		t.Fatal(err)
	}
	chanNew(t, s, sess.ID, domain.ChannelSlack, domain.NotifyFailures)
	if err := s.CreateChannel(context.Background(), domain.Channel{ID: randomName("ch"), SessionID: sess.ID, Type: domain.ChannelSlack,
		Verified: true, Sealed: []byte("s")}, nil, base); chanErrCode(err) != domain.ETooManyChannels {
		t.Fatalf("the 21st channel: %v; want too_many_channels", err)
	}
	if err := s.CreateChannel(context.Background(), domain.Channel{ID: randomName("ch"), SessionID: 1 << 40, Type: domain.ChannelSlack,
		Verified: true, Sealed: []byte("s")}, nil, base); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("a channel of no session: %v; want ErrNotFound", err)
	}
}

// testChannelConfirm: an email channel gets its confirmation and nothing
// else until its link is opened, once; confirmations are rate-limited.
func testChannelConfirm(t *testing.T, s store.Store) {
	ctx := context.Background()
	sess := newSession(t, s)
	c := chanEmail(t, s, sess.ID, "token-1", base)
	if got := chanGet(t, s, sess.ID, c.ID); got.Verified || got.Type != domain.ChannelEmail {
		t.Fatalf("a new email channel %+v; want unverified", got)
	}
	appendEvents(t, s, sess.ID, ev("sync", "failed"), ev("sync", "completed"), ev("other", "completed"))
	jobs := chanClaim(t, s, base)
	if len(jobs) != 1 || jobs[0].Kind != domain.ChannelKindConfirm || jobs[0].Seq != 0 || jobs[0].Event != nil ||
		jobs[0].Channel.ID != c.ID || jobs[0].Channel.Verified {
		t.Fatalf("an unconfirmed address's queue: %+v; want its confirmation alone", jobs)
	}
	if err := s.CompleteChannelJob(ctx, jobs[0].ID, c.ID); err != nil {
		t.Fatal(err)
	}

	// Rate limit: one confirmation per 10 minutes, "Send a test" included.
	for _, kind := range []string{domain.ChannelKindConfirm, domain.ChannelKindTest} {
		err := s.QueueChannelMessage(ctx, sess.ID, c.ID, kind, base.Add(4*time.Minute))
		var de *domain.Error
		if !errors.As(err, &de) || de.Code != domain.ERateLimited || de.RetryAfter < 5*time.Minute || de.RetryAfter > 7*time.Minute {
			t.Fatalf("%s 4 minutes after the confirmation: %v (%+v); want rate_limited, retry after ~6 min", kind, err, de)
		}
	}
	later := base.Add(11 * time.Minute)
	if err := s.QueueChannelMessage(ctx, sess.ID, c.ID, domain.ChannelKindTest, later); err != nil {
		t.Fatalf("a test 11 minutes later: %v", err)
	}
	if err := s.QueueChannelMessage(ctx, sess.ID, c.ID, domain.ChannelKindConfirm, later.Add(time.Minute)); chanErrCode(err) != domain.ERateLimited {
		t.Fatalf("a confirmation right after the resent one: %v; want rate_limited", err)
	}
	jobs = chanClaim(t, s, later)
	if len(jobs) != 1 || jobs[0].Kind != domain.ChannelKindConfirm {
		t.Fatalf("the test of an unconfirmed address queued %+v; want one confirmation", jobs)
	}
	if err := s.CompleteChannelJob(ctx, jobs[0].ID, c.ID); err != nil {
		t.Fatal(err)
	}

	if _, err := s.ConfirmChannel(ctx, hash("token-2"), later); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("ConfirmChannel(wrong token): %v; want ErrNotFound", err)
	}
	// The page reads the channel before the button confirms it.
	if look, err := s.ChannelByConfirmHash(ctx, hash("token-1")); err != nil || look.ID != c.ID || look.Verified {
		t.Fatalf("ChannelByConfirmHash = %+v, %v; want the channel, not yet verified", look, err)
	}
	if _, err := s.ChannelByConfirmHash(ctx, hash("token-2")); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("ChannelByConfirmHash(wrong token): %v; want ErrNotFound", err)
	}
	got, err := s.ConfirmChannel(ctx, hash("token-1"), later)
	if err != nil || got.ID != c.ID || !got.Verified {
		t.Fatalf("ConfirmChannel = %+v, %v; want the channel, verified", got, err)
	}
	if _, err := s.ConfirmChannel(ctx, hash("token-1"), later); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("the link used twice: %v; want ErrNotFound", err)
	}
	if _, err := s.ChannelByConfirmHash(ctx, hash("token-1")); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("ChannelByConfirmHash after the confirmation: %v; want ErrNotFound", err)
	}
	if err := s.QueueChannelMessage(ctx, sess.ID, c.ID, domain.ChannelKindConfirm, later.Add(time.Hour)); chanErrCode(err) != domain.EInvalidChannel {
		t.Fatalf("a confirmation of a confirmed channel: %v; want invalid_channel", err)
	}
	if err := s.QueueChannelMessage(ctx, sess.ID, c.ID, "hello", later); chanErrCode(err) != domain.EInvalidChannel {
		t.Fatalf("a message of an unknown kind: %v; want invalid_channel", err)
	}
	// Confirmed, it gets alerts and tests like any channel.
	if err := s.QueueChannelMessage(ctx, sess.ID, c.ID, domain.ChannelKindTest, later); err != nil {
		t.Fatal(err)
	}
	a := appendEvents(t, s, sess.ID, ev("nightly", "failed")) // sync would flap: no alert
	if a.Channels != 1 {
		t.Fatalf("Append.Channels = %d; want 1", a.Channels)
	}
	kinds := []string{}
	for _, j := range chanClaim(t, s, later.Add(time.Hour)) {
		kinds = append(kinds, j.Kind)
	}
	if fmt.Sprint(kinds) != "[test failed]" {
		t.Fatalf("a confirmed address's queue: %v; want [test failed]", kinds)
	}
	// Two addresses may not wait on the same token.
	if err := s.CreateChannel(ctx, domain.Channel{ID: randomName("ch"), SessionID: sess.ID, Type: domain.ChannelEmail,
		Sealed: []byte("s")}, hash("token-3"), base); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateChannel(ctx, domain.Channel{ID: randomName("ch"), SessionID: sess.ID, Type: domain.ChannelEmail,
		Sealed: []byte("s")}, hash("token-3"), base); err == nil {
		t.Fatal("a second channel with the same confirmation hash was stored")
	}
}
