package push

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/domain"
)

// The push that tells the phones a channel turned itself off names no host
// and nothing of the channel's settings, and opens Settings.
func TestChannelOffMessage(t *testing.T) {
	raw, err := buildMessage(domain.AlertChannelOff, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var m message
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	want := message{Title: "A channel was turned off", Body: "Open Settings to see why and turn it on again.",
		Tag: "channel-off", URL: "/settings", Kind: domain.AlertChannelOff}
	if m != want {
		t.Fatalf("message\n got %+v\nwant %+v", m, want)
	}
}

// A channel failing five times over an hour turns off, and the session's
// phone gets the push (seq 0, no event) through the real queue and worker.
func TestChannelOffIsPushed(t *testing.T) {
	e := newEnv(t, Options{})
	_, sub := e.push.subscribe("phone")
	e.addDevice("phone", "", nil, &sub)
	e.start(nil)

	// In the past, so that the push queued by the last give-up is due now.
	start := time.Now().Add(-2 * time.Hour)
	c := domain.Channel{ID: "ch_off_test", SessionID: e.session.ID, Type: domain.ChannelWebhook, Verified: true,
		Sealed: []byte("sealed"), Shown: map[string]string{"url": "https://example.org/…abcd"}}
	if err := e.db.CreateChannel(e.ctx, c, nil, start); err != nil {
		t.Fatal(err)
	}
	off := false
	for i := range domain.ChannelDisableAfter {
		now := start.Add(time.Duration(i) * 16 * time.Minute) // the fifth 64 minutes after the first
		if err := e.db.QueueChannelMessage(e.ctx, e.session.ID, c.ID, domain.ChannelKindTest, now); err != nil {
			t.Fatal(err)
		}
		jobs, err := e.db.ClaimChannelJobs(e.ctx, now, time.Minute, 10)
		if err != nil || len(jobs) != 1 {
			t.Fatalf("claim: %v, %d jobs; want 1", err, len(jobs))
		}
		if off, err = e.db.FailChannelJob(e.ctx, jobs[0].ID, c.ID, "example.org answered 404", now); err != nil {
			t.Fatal(err)
		}
		if off != (i == domain.ChannelDisableAfter-1) {
			t.Fatalf("give-up %d: turned off %v", i+1, off)
		}
	}
	e.svc.Wake()
	d := e.next(wait)
	if d.msg.Kind != domain.AlertChannelOff || d.msg.URL != "/settings" || d.msg.Seq != 0 || d.msg.Title != "A channel was turned off" {
		t.Fatalf("push %+v; want the channel_off message", d.msg)
	}
	if d.topic != jobTopic("\x00"+domain.AlertChannelOff) {
		t.Errorf("Topic %q; want the channel_off topic", d.topic)
	}
	e.wait(map[string]int{ResultSent: 1}, wait)
	e.queueEmpty()
}
