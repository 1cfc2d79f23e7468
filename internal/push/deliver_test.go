package push

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/domain"
)

const wait = 10 * time.Second

func TestFailureRepeatAndRecovery(t *testing.T) {
	e := newEnv(t, Options{})
	_, sub := e.push.subscribe("phone")
	e.addDevice("phone", "", nil, &sub)
	e.start(nil)

	e.post(completed("nightly_sync", 1800)) // seq 1: a success, and failures only: quiet
	e.post(failed("nightly_sync", 3200, "KeyError", "'customer_id'\nTraceback line 2"))
	first := e.next(wait)
	want := message{
		Title: "nightly_sync failed", Body: "nightly_sync failed after 3.2 s — KeyError: 'customer_id'",
		Tag: "job:nightly_sync", URL: "/runs/2", Kind: "failed", Job: "nightly_sync", Seq: 2, Status: "failed",
	}
	if first.msg != want {
		t.Fatalf("notification\n got %+v\nwant %+v", first.msg, want)
	}
	if first.urgency != "high" {
		t.Errorf("Urgency %q, want high for a failure", first.urgency)
	}
	if first.ttl <= 86400-60 || first.ttl > 86400 {
		t.Errorf("TTL %d, want about a day (86400)", first.ttl)
	}
	if len(first.topic) != 32 || first.topic != jobTopic("nightly_sync") {
		t.Errorf("Topic %q, want the job's 32-character topic", first.topic)
	}

	// A second failure is folded into the open incident: no push (issue 11).
	e.post(failed("nightly_sync", 4000, "KeyError", "'order_id'"))

	e.post(completed("nightly_sync", 2100))
	recovered := e.next(wait)
	if recovered.msg.URL != "/runs/4" || !strings.HasPrefix(recovered.msg.Body, "nightly_sync recovered after ") ||
		!strings.HasSuffix(recovered.msg.Body, ", 2 failed runs") || recovered.msg.Kind != domain.AlertRecovered ||
		recovered.msg.Tag != first.msg.Tag || recovered.urgency != "high" || recovered.msg.Status != "completed" {
		t.Fatalf("recovery notification %+v urgency %q; want the run after the folded failure, 2 failed runs, the same tag", recovered.msg, recovered.urgency)
	}

	e.post(completed("nightly_sync", 2000)) // still fine: failures only, quiet
	e.wait(map[string]int{ResultSent: 2}, wait)
	e.queueEmpty()
	e.exactly(map[string]int{ResultSent: 2})
	e.logsKeepSecrets()
}

func TestEverythingRule(t *testing.T) {
	e := newEnv(t, Options{})
	_, sub := e.push.subscribe("phone")
	e.addDevice("phone", domain.NotifyAll, nil, &sub)
	e.start(nil)

	e.post(completed("backup", 12000))
	d := e.next(wait)
	if d.msg.Body != "backup completed in 12 s" || d.msg.Title != "backup completed" || d.msg.Kind != domain.AlertEvent || d.urgency != "normal" {
		t.Fatalf("notification %+v urgency %q, want \"backup completed in 12 s\", kind event, urgency normal", d.msg, d.urgency)
	}
	e.post(domain.Event{Name: "deploy", Status: "started"})
	if d := e.next(wait); d.msg.Body != "deploy started" || d.msg.Status != "started" || d.urgency != "normal" {
		t.Fatalf("notification %+v urgency %q, want \"deploy started\"", d.msg, d.urgency)
	}
	e.post(domain.Event{Name: "deploy", Status: "failed"})
	if d := e.next(wait); d.msg.Body != "deploy failed" || d.msg.Kind != domain.AlertFailed || d.urgency != "high" {
		t.Fatalf("notification %+v urgency %q, want \"deploy failed\", high", d.msg, d.urgency)
	}
	e.wait(map[string]int{ResultSent: 3}, wait)
	e.queueEmpty()
}

func TestMutedAndOff(t *testing.T) {
	e := newEnv(t, Options{})
	_, muterSub := e.push.subscribe("muter")
	_, offSub := e.push.subscribe("off")
	_, plainSub := e.push.subscribe("plain")
	e.addDevice("muter", domain.NotifyAll, []string{"noisy"}, &muterSub)
	e.addDevice("off", domain.NotifyOff, nil, &offSub)
	e.addDevice("plain", "", nil, &plainSub)
	e.start(nil)

	e.post(failed("noisy", 10, "", ""), failed("other", 10, "", ""))
	got := map[string][]string{}
	for range 3 {
		d := e.next(wait)
		got[d.path] = append(got[d.path], d.msg.Job)
	}
	e.wait(map[string]int{ResultSent: 3}, wait)
	e.queueEmpty()
	e.exactly(map[string]int{ResultSent: 3})
	if len(got["/push/muter"]) != 1 || got["/push/muter"][0] != "other" || len(got["/push/off"]) != 0 || len(got["/push/plain"]) != 2 {
		t.Fatalf("deliveries %v; want muter told of other only, off of nothing, plain of both", got)
	}
}

func TestGoneDropsSubscription(t *testing.T) {
	e := newEnv(t, Options{})
	_, sub := e.push.subscribe("phone", answer{status: http.StatusGone})
	id := e.addDevice("phone", "", nil, &sub)
	e.start(nil)

	e.post(failed("etl", 10, "", ""))
	e.wait(map[string]int{ResultGone: 1}, wait)
	st, err := e.db.SessionStatus(e.ctx, e.session.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range st.Devices {
		if d.ID == id && d.HasPush {
			t.Fatal("the device still has its push subscription after the push service answered 410")
		}
	}
	e.post(failed("etl", 10, "", "")) // nothing is queued for a device without a subscription
	e.queueEmpty()
	e.exactly(map[string]int{ResultGone: 1})
}

func TestServerErrorIsRetriedAndDeliveredOnce(t *testing.T) {
	e := newEnv(t, Options{})
	_, sub := e.push.subscribe("phone", answer{status: http.StatusInternalServerError})
	e.addDevice("phone", "", nil, &sub)
	e.start(nil)

	e.post(failed("etl", 10, "", ""))
	e.next(wait)
	e.wait(map[string]int{ResultRetry: 1, ResultSent: 1}, wait)
	e.queueEmpty()
	e.exactly(map[string]int{ResultRetry: 1, ResultSent: 1})
	if n := len(e.push.attemptTimes("/push/phone")); n != 2 {
		t.Fatalf("%d requests, want 2 (one 500, one delivery)", n)
	}
	select {
	case d := <-e.push.got:
		t.Fatalf("delivered twice: %+v", d.msg)
	default:
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	e := newEnv(t, Options{})
	_, sub := e.push.subscribe("phone", answer{status: http.StatusTooManyRequests, retryAfter: "1"})
	e.addDevice("phone", "", nil, &sub)
	e.start(nil)

	e.post(failed("etl", 10, "", ""))
	e.next(wait)
	e.wait(map[string]int{ResultRetry: 1, ResultSent: 1}, wait)
	tries := e.push.attemptTimes("/push/phone")
	if len(tries) != 2 {
		t.Fatalf("%d requests, want 2", len(tries))
	}
	// RetryBase is 20 ms here: only Retry-After explains a second's wait.
	if gap := tries[1].Sub(tries[0]); gap < time.Second {
		t.Fatalf("retried %s after a 429 with Retry-After: 1", gap)
	}
}

func TestGivesUpAfterMaxAttempts(t *testing.T) {
	e := newEnv(t, Options{MaxAttempts: 2})
	_, sub := e.push.subscribe("phone", answer{status: http.StatusBadGateway}, answer{status: http.StatusServiceUnavailable})
	e.addDevice("phone", "", nil, &sub)
	e.start(nil)

	e.post(failed("etl", 10, "", ""))
	e.wait(map[string]int{ResultRetry: 1, ResultFailed: 1}, wait)
	e.queueEmpty()
	e.exactly(map[string]int{ResultRetry: 1, ResultFailed: 1})
}

func TestRefusalIsNotRetried(t *testing.T) {
	e := newEnv(t, Options{})
	_, sub := e.push.subscribe("phone", answer{status: http.StatusForbidden})
	e.addDevice("phone", "", nil, &sub)
	e.start(nil)

	e.post(failed("etl", 10, "", ""))
	e.wait(map[string]int{ResultFailed: 1}, wait)
	e.queueEmpty()
	e.exactly(map[string]int{ResultFailed: 1})
	if n := len(e.push.attemptTimes("/push/phone")); n != 1 {
		t.Fatalf("%d requests after a 403, want 1", n)
	}
}

func TestRemovedSubscriptionIsSkipped(t *testing.T) {
	e := newEnv(t, Options{})
	_, sub := e.push.subscribe("phone")
	id := e.addDevice("phone", "", nil, &sub)
	e.post(failed("etl", 10, "", "")) // queued while subscribed
	if err := e.db.SetPush(e.ctx, id, nil); err != nil {
		t.Fatal(err)
	}
	e.start(nil)
	e.wait(map[string]int{ResultSkipped: 1}, wait)
	e.queueEmpty()
	if n := len(e.push.attemptTimes("/push/phone")); n != 0 {
		t.Fatalf("%d requests for a removed subscription", n)
	}
}

// A push service that never answers holds at most its share of the workers
// until the timeout; the other service's notifications go through meanwhile.
func TestHangingServiceDoesNotBlockOthers(t *testing.T) {
	const timeout = 2 * time.Second
	e := newEnv(t, Options{Concurrency: 2, SendTimeout: timeout})
	dead := newStandIn(t, testContact)
	e.svc = e.newService(e.db, Options{Concurrency: 2, SendTimeout: timeout}, e.push, dead)
	_, deadSub := dead.subscribe("stuck", answer{hang: true})
	_, liveSub := e.push.subscribe("live")
	e.addDevice("stuck", "", nil, &deadSub)
	e.addDevice("live", "", nil, &liveSub)
	e.start(nil)

	start := time.Now()
	for i := range 3 {
		e.post(failed(fmt.Sprintf("job%d", i), float64(i), "", "")) // one job each: a job's failures fold into one incident
	}
	for range 3 {
		d := e.next(wait)
		if late := d.at.Sub(start); late >= timeout {
			t.Fatalf("a notification to a working push service took %s, as long as the hanging one's timeout", late)
		}
	}
	e.wait(map[string]int{ResultRetry: 1}, wait)
	if firstRetry := e.results.at(ResultRetry, 0).Sub(start); firstRetry < timeout-100*time.Millisecond {
		t.Fatalf("the hanging request gave up after %s, before its %s timeout", firstRetry, timeout)
	}
	// Once the service answers again, what it missed is delivered.
	for range 3 {
		select {
		case <-dead.got:
		case <-time.After(wait):
			t.Fatalf("the recovered service did not get its notifications; results %v", e.results.snapshot())
		}
	}
	e.wait(map[string]int{ResultSent: 6}, wait)
	e.queueEmpty()
	e.logsKeepSecrets()
}

func TestTwoServicesDeliverEachJobOnce(t *testing.T) {
	e := newEnv(t, Options{})
	deliverOnceWithTwo(t, e, e.newService(openDB(t, e.path), Options{}, e.push))
}

// deliverOnceWithTwo runs e.svc and other (a second instance on the same
// database) and checks that each of many notifications arrives once.
func deliverOnceWithTwo(t *testing.T, e *env, other *Service) {
	if other.PublicKey() != e.svc.PublicKey() {
		t.Fatal("two instances on one database have different VAPID keys")
	}
	_, sub := e.push.subscribe("phone")
	e.addDevice("phone", "", nil, &sub)
	e.start(nil)
	e.start(other)

	const n = 30
	for i := range n {
		e.post(failed(fmt.Sprintf("job%d", i), float64(i), "", "")) // one job each: a job's failures fold into one incident
		other.Wake()
	}
	seen := map[int64]bool{}
	for range n {
		d := e.next(wait)
		if seen[d.msg.Seq] {
			t.Fatalf("event %d delivered twice", d.msg.Seq)
		}
		seen[d.msg.Seq] = true
	}
	e.wait(map[string]int{ResultSent: n}, wait)
	e.queueEmpty()
	e.exactly(map[string]int{ResultSent: n})
}
