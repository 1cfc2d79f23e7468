package channel

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/domain"
)

func wtWebhook(rc *wtReceiver, path string) domain.ChannelSecrets {
	return domain.ChannelSecrets{URL: rc.srv.URL + path, Secret: "s3cr3t-signing-key-of-the-test"}
}

// A 500 and a timeout are retried, each only once its backoff is due on the
// worker's clock; then the message arrives, signed.
func TestWorkerRetriesThenDelivers(t *testing.T) {
	rc := newWTReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		switch n {
		case 1:
			w.WriteHeader(http.StatusInternalServerError)
		case 2: // longer than the sender's timeout (300 ms)
			select {
			case <-r.Context().Done():
			case <-time.After(2 * time.Second):
			}
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	})
	e := newWTEnv(t, nil)
	sec := wtWebhook(rc, "/hooks/T0123-secret-path")
	e.channel("ch_retry", domain.ChannelWebhook, sec)
	e.queueTests("ch_retry", 1)
	e.start()

	e.waitResult(ResultRetry, 1)
	// Not due yet: the worker looks again and finds nothing.
	mark := e.clock.Now()
	wtWait(t, "an empty claim", func() bool { return e.spy.emptyClaimSince(mark) })
	if n := rc.count(); n != 1 {
		t.Fatalf("%d requests before the backoff passed; want 1", n)
	}
	e.clock.Add(time.Hour)
	e.w.Wake()
	e.waitResult(ResultRetry, 2) // the timeout
	e.clock.Add(time.Hour)
	e.w.Wake()
	e.waitResult(ResultSent, 1)

	got := rc.requests()
	if len(got) != 3 {
		t.Fatalf("%d requests; want 3", len(got))
	}
	last := got[2]
	ts, _ := strconv.ParseInt(last.header.Get(HeaderTimestamp), 10, 64)
	if want := Sign(sec.Secret, ts, last.body); last.header.Get(HeaderSignature) != want {
		t.Errorf("signature %q; want %q", last.header.Get(HeaderSignature), want)
	}
	var body struct {
		Kind, Channel string
	}
	if err := json.Unmarshal(last.body, &body); err != nil || body.Kind != domain.ChannelKindTest || body.Channel != "ch_retry" {
		t.Errorf("body %s (%v); want a test message of ch_retry", last.body, err)
	}
	if c := e.getChannel("ch_retry"); c.LastError != nil || c.Failures != 0 {
		t.Errorf("after delivery: last error %+v, %d failures; want none", c.LastError, c.Failures)
	}
	e.queueEmpty()
	e.logsKeepSecrets()
}

// A 429's Retry-After wins over a shorter backoff.
func TestWorkerHonoursRetryAfter(t *testing.T) {
	rc := newWTReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			w.Header().Set("Retry-After", "120")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	e := newWTEnv(t, nil)
	e.channel("ch_429", domain.ChannelWebhook, wtWebhook(rc, "/in/abcdef"))
	start := e.clock.Now()
	e.queueTests("ch_429", 1)
	e.start()
	e.waitResult(ResultRetry, 1)

	// 100 s later (past any first backoff, at most 10 s) it is still not due.
	e.clock.Add(100 * time.Second)
	e.w.Wake()
	wtWait(t, "an empty claim at +100 s", func() bool { return e.spy.emptyClaimSince(start.Add(100 * time.Second)) })
	if n := rc.count(); n != 1 {
		t.Fatalf("%d requests 100 s after a Retry-After of 120; want 1", n)
	}
	e.clock.Add(21 * time.Second)
	e.w.Wake()
	e.waitResult(ResultSent, 1)
	if n := rc.count(); n != 2 {
		t.Fatalf("%d requests; want 2", n)
	}
	e.queueEmpty()
}

// A 404 is given up at once: the channel's last_error says why.
func TestWorkerGivesUpOn404(t *testing.T) {
	rc := newWTReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	e := newWTEnv(t, nil)
	e.channel("ch_404", domain.ChannelWebhook, wtWebhook(rc, "/gone/0123456789"))
	e.queueTests("ch_404", 1)
	e.start()
	e.waitResult(ResultFailed, 1)
	c := e.getChannel("ch_404")
	if c.LastError == nil || !strings.Contains(c.LastError.Message, "answered 404") || c.Failures != 1 {
		t.Fatalf("last error %+v, %d failures; want one saying it answered 404", c.LastError, c.Failures)
	}
	if strings.Contains(c.LastError.Message, "0123456789") {
		t.Errorf("last error %q quotes the URL's path", c.LastError.Message)
	}
	if n := rc.count(); n != 1 || e.offs.Load() != 0 || c.Notify == domain.NotifyOff {
		t.Fatalf("%d requests, %d turned off, notify %s; want one request, still on", n, e.offs.Load(), c.Notify)
	}
	e.queueEmpty()
	e.logsKeepSecrets()
}

// Five give-ups in a row over more than an hour turn the channel off, and
// the phones are told (TurnedOff wakes the push worker).
func TestWorkerTurnsChannelOff(t *testing.T) {
	rc := newWTReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	e := newWTEnv(t, nil)
	e.channel("ch_off", domain.ChannelWebhook, wtWebhook(rc, "/deleted/xyz123"))
	e.start()
	for i := 1; i <= domain.ChannelDisableAfter; i++ {
		e.queueTests("ch_off", 1)
		e.waitResult(ResultFailed, i)
		if i < domain.ChannelDisableAfter && (e.offs.Load() != 0 || e.getChannel("ch_off").Notify == domain.NotifyOff) {
			t.Fatalf("turned off after %d give-ups", i)
		}
		e.clock.Add(16 * time.Minute) // the fifth comes 64 minutes after the first
	}
	c := e.getChannel("ch_off")
	if e.offs.Load() != 1 || c.Notify != domain.NotifyOff || c.DisabledAt == nil || c.LastError == nil ||
		!strings.HasPrefix(c.LastError.Message, "Turned off after 5 failed deliveries: ") || !strings.Contains(c.LastError.Message, "404") {
		t.Fatalf("after 5 give-ups: %d turned off, notify %s, disabled %v, last error %+v", e.offs.Load(), c.Notify, c.DisabledAt, c.LastError)
	}
}

// A message older than the TTL before its first try is dropped unsent,
// and the channel is not blamed.
func TestWorkerDropsExpired(t *testing.T) {
	rc := newWTReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {})
	e := newWTEnv(t, nil)
	e.channel("ch_old", domain.ChannelWebhook, wtWebhook(rc, "/x/old-message"))
	e.queueTests("ch_old", 1)
	e.clock.Add(DefaultTTL + time.Minute)
	e.start()
	e.waitResult(ResultExpired, 1)
	if c := e.getChannel("ch_old"); rc.count() != 0 || c.LastError != nil {
		t.Fatalf("%d requests, last error %+v; want none", rc.count(), c.LastError)
	}
	e.queueEmpty()
}

// One host gets HostRate messages a second (as many in a burst) and PerHost
// at once, while another host is served beside it.
func TestWorkerPacesEachHost(t *testing.T) {
	const rate, n = 20, 50
	slow := newWTReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		time.Sleep(10 * time.Millisecond)
	})
	other := newWTReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {})
	// Pacing is in real time: the jobs put back wait on the real clock.
	e := newWTEnv(t, func(o *WorkerOptions) { o.HostRate, o.Now = rate, time.Now })
	e.channel("ch_a", domain.ChannelWebhook, wtWebhook(slow, "/a/aaaaaaaa"))
	e.channel("ch_b", domain.ChannelWebhook, wtWebhook(other, "/b/bbbbbbbb"))
	e.queueTests("ch_a", n)
	e.queueTests("ch_b", 10)
	e.start()
	e.waitResult(ResultSent, n+10)

	got := slow.requests()
	interval := time.Second / rate
	for i := range got {
		for j := i + rate + 1; j < len(got); j++ {
			// j-i sends past the burst need (j-i-rate) intervals; 60 ms of slack
			// for the receiver's own scheduling.
			if min := time.Duration(j-i-rate)*interval - 60*time.Millisecond; got[j].at.Sub(got[i].at) < min {
				t.Fatalf("requests %d and %d %v apart; the pace of %d/s allows no less than %v", i, j, got[j].at.Sub(got[i].at), rate, min)
			}
		}
	}
	if span := got[n-1].at.Sub(got[0].at); span < time.Duration(n-rate-1)*interval {
		t.Errorf("%d messages in %v; %d/s needs at least %v", n, span, rate, time.Duration(n-rate-1)*interval)
	}
	if slow.maxInflight > DefaultPerHost {
		t.Errorf("%d requests at once to one host; want at most %d", slow.maxInflight, DefaultPerHost)
	}
	if b := other.requests(); b[len(b)-1].at.After(got[n-1].at.Add(-500 * time.Millisecond)) {
		t.Errorf("the other host's last message came %v before the paced host's last; it waited behind it",
			got[n-1].at.Sub(b[len(b)-1].at))
	}
	e.queueEmpty()
}

// PerHost bounds the sends in flight to one host, whatever the pace allows.
func TestWorkerPerHostConcurrency(t *testing.T) {
	rc := newWTReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) { time.Sleep(150 * time.Millisecond) })
	e := newWTEnv(t, func(o *WorkerOptions) { o.HostRate, o.Now = 1000, time.Now })
	e.channel("ch_c", domain.ChannelWebhook, wtWebhook(rc, "/c/cccccccc"))
	e.queueTests("ch_c", 8)
	e.start()
	e.waitResult(ResultSent, 8)
	if rc.maxInflight != DefaultPerHost {
		t.Fatalf("%d requests at once; want %d", rc.maxInflight, DefaultPerHost)
	}
}

// A Slack webhook URL gets one message a second, however fast its host may go.
func TestWorkerPacesSlackURL(t *testing.T) {
	rc := newWTReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	e := newWTEnv(t, func(o *WorkerOptions) { o.HostRate, o.Now = 1000, time.Now })
	e.channel("ch_s", domain.ChannelSlack, domain.ChannelSecrets{URL: rc.srv.URL + "/services/T000/B000/XXXXXXXX"})
	e.queueTests("ch_s", 3)
	e.start()
	e.waitResult(ResultSent, 3)
	got := rc.requests()
	for i := 1; i < len(got); i++ {
		if d := got[i].at.Sub(got[i-1].at); d < 940*time.Millisecond {
			t.Fatalf("Slack messages %d and %d %v apart; want a second", i-1, i, d)
		}
	}
	e.logsKeepSecrets()
}
