package channel

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/domain"
)

// receive starts a receiver that runs check on each request (its body
// read) and answers what check writes; the senders made for it are
// allowed to reach it.
func receive(t *testing.T, check func(w http.ResponseWriter, r *http.Request, body []byte)) (*httptest.Server, map[string]Sender) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("receiver: %v", err)
		}
		check(w, r, body)
	}))
	t.Cleanup(srv.Close)
	return srv, sendersFor(t, srv, time.Now, 5*time.Second)
}

func sendersFor(t *testing.T, srv *httptest.Server, now func() time.Time, timeout time.Duration) map[string]Sender {
	t.Helper()
	g, err := NewGuard([]string{hostPort(t, srv)})
	if err != nil {
		t.Fatal(err)
	}
	return NewSenders(Options{Guard: g, Timeout: timeout, UserAgent: "observable-server/test", PublicHost: "obs.example.com", Now: now})
}

func asDelivery(t *testing.T, err error) *DeliveryError {
	t.Helper()
	var de *DeliveryError
	if !errors.As(err, &de) {
		t.Fatalf("error %v (%T) is not a *DeliveryError", err, err)
	}
	return de
}

// verifyWebhook is what a receiver documented in docs/channels.md does.
func verifyWebhook(secret string, r *http.Request, body []byte, now time.Time) error {
	ts, err := strconv.ParseInt(r.Header.Get(HeaderTimestamp), 10, 64)
	if err != nil {
		return errors.New("no timestamp")
	}
	if d := now.Sub(time.Unix(ts, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return errors.New("stale timestamp")
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(ts, 10) + "." + string(body)))
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(r.Header.Get(HeaderSignature))) {
		return errors.New("bad signature")
	}
	return nil
}

func TestWebhookSignedBody(t *testing.T) {
	const secret = "0123456789abcdef-the-secret"
	var got map[string]any
	srv, senders := receive(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if err := verifyWebhook(secret, r, body, time.Now()); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || r.Header.Get("User-Agent") != "observable-server/test" {
			http.Error(w, "bad request line or headers", http.StatusBadRequest)
			return
		}
		if err := json.Unmarshal(body, &got); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	})
	sec := domain.ChannelSecrets{URL: srv.URL + "/hook/abc", Secret: secret}
	m := NewMessage(failedJob(), sec, "https://obs.example.com")
	if err := senders[domain.ChannelWebhook].Send(context.Background(), domain.Channel{ID: "ch_test"}, sec, m); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"kind": "failed", "job": "nightly_sync", "title": "nightly_sync failed", "url": "https://obs.example.com/runs/42",
		"at": "2026-03-04T05:06:07.000Z", "seq": 42.0, "status": "failed", "duration_ms": 3200.0, "channel": "ch_test",
		"error":    map[string]any{"type": "ValueError", "message": failedJob().Event.Error.Message},
		"incident": map[string]any{"id": 7.0, "kind": "failed", "opened_at": "2026-03-04T05:06:07.000Z", "closed_at": nil, "runs": 1.0},
	}
	for k, v := range want {
		gb, _ := json.Marshal(got[k])
		wb, _ := json.Marshal(v)
		if string(gb) != string(wb) {
			t.Errorf("body[%s] = %s, want %s", k, gb, wb)
		}
	}
	if b, _ := got["body"].(string); !strings.HasPrefix(b, "nightly_sync failed after 3.2 s") {
		t.Errorf("body[body] = %q", b)
	}

	// A test message: no job, no run.
	got = nil
	test := NewMessage(failedJob(), sec, "https://obs.example.com")
	test = Message{Kind: domain.ChannelKindTest, Title: "t", Body: "b", URL: test.URL, At: testT0}
	if err := senders[domain.ChannelWebhook].Send(context.Background(), domain.Channel{ID: "ch_test"}, sec, test); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"seq", "status", "duration_ms", "error", "incident"} {
		if v, ok := got[k]; !ok || v != nil {
			t.Errorf("test message: %s = %v, want null", k, v)
		}
	}

	// A timestamp 10 minutes old is stale to the receiver: the sender's
	// clock is what it signs with.
	stale := sendersFor(t, srv, func() time.Time { return time.Now().Add(-10 * time.Minute) }, 5*time.Second)
	err := stale[domain.ChannelWebhook].Send(context.Background(), domain.Channel{ID: "ch_test"}, sec, m)
	if de := asDelivery(t, err); !de.Permanent || !strings.Contains(de.Message, "answered 401") || strings.Contains(de.Message, "/hook/abc") {
		t.Errorf("stale timestamp: %+v", de)
	}
	// So is a wrong secret.
	wrong := domain.ChannelSecrets{URL: sec.URL, Secret: "another-secret-of-16+"}
	if err := senders[domain.ChannelWebhook].Send(context.Background(), domain.Channel{ID: "ch_test"}, wrong, m); err == nil {
		t.Error("the receiver accepted a signature made with another secret")
	}
}

// TestSendersClassifyFailures: what each answer becomes, for every HTTP
// type (their URLs on one receiver, the answer chosen by the path's end).
func TestSendersClassifyFailures(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		code, _ := strconv.Atoi(r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:])
		if r.URL.Path == "/" { // ntfy posts to the root; its topic says what to answer
			code = 403
		}
		switch code {
		case 429:
			w.Header().Set("Retry-After", "7")
		case 503:
			w.Header().Set("Retry-After", now.Add(90*time.Second).Format(http.TimeFormat))
		}
		w.WriteHeader(code)
		// A receiver that echoes the request: the excerpt must not carry
		// the URL's secret back.
		json.NewEncoder(w).Encode(map[string]string{"message": "no hook at " + r.URL.Path})
	}))
	defer srv.Close()
	senders := sendersFor(t, srv, func() time.Time { return now }, 5*time.Second)
	m := NewMessage(failedJob(), domain.ChannelSecrets{}, "https://obs.example.com")
	for _, tc := range []struct {
		typ       string
		status    int
		permanent bool
		retry     time.Duration
		words     string
	}{
		{domain.ChannelWebhook, 404, true, 0, "answered 404: no webhook at this URL"},
		{domain.ChannelWebhook, 410, true, 0, "answered 410"},
		{domain.ChannelWebhook, 400, true, 0, "answered 400"},
		{domain.ChannelWebhook, 408, false, 0, "answered 408"},
		{domain.ChannelWebhook, 429, false, 7 * time.Second, "answered 429: too many messages"},
		{domain.ChannelWebhook, 500, false, 0, "answered 500"},
		{domain.ChannelWebhook, 503, false, 90 * time.Second, "answered 503"},
		{domain.ChannelSlack, 404, true, 0, "Slack answered 404: the webhook was deleted or disabled; add it again"},
		{domain.ChannelSlack, 429, false, 7 * time.Second, "Slack answered 429"},
		{domain.ChannelDiscord, 401, true, 0, "Discord answered 401: the webhook's token is wrong"},
		{domain.ChannelDiscord, 404, true, 0, "Discord answered 404: the webhook was deleted"},
		{domain.ChannelDiscord, 502, false, 0, "Discord answered 502"},
		{domain.ChannelNtfy, 403, true, 0, "answered 403: the topic needs an access token"},
	} {
		secretPath := "/SECRETPART0123/" + strconv.Itoa(tc.status)
		sec := domain.ChannelSecrets{URL: srv.URL + secretPath}
		if tc.typ == domain.ChannelNtfy {
			sec = domain.ChannelSecrets{Server: srv.URL, Topic: "SECRETTOPIC"}
		}
		err := senders[tc.typ].Send(context.Background(), domain.Channel{ID: "ch"}, sec, m)
		de := asDelivery(t, err)
		t.Logf("%s %d: %s", tc.typ, tc.status, de.Message)
		if de.Permanent != tc.permanent || de.RetryAfter != tc.retry || !strings.Contains(de.Message, tc.words) {
			t.Errorf("%s %d: %+v, want permanent=%v retry=%s words %q", tc.typ, tc.status, de, tc.permanent, tc.retry, tc.words)
		}
		if strings.Contains(de.Message, "SECRET") {
			t.Errorf("%s %d: the message shows a secret: %s", tc.typ, tc.status, de.Message)
		}
	}
}

func TestSendersTimeoutAndUnreachable(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	senders := sendersFor(t, slow, time.Now, 200*time.Millisecond)
	sec := domain.ChannelSecrets{URL: slow.URL + "/SECRETPATH"}
	m := NewMessage(failedJob(), sec, "https://obs.example.com")
	de := asDelivery(t, senders[domain.ChannelWebhook].Send(context.Background(), domain.Channel{}, sec, m))
	if de.Permanent || !strings.Contains(de.Message, "did not answer within 200ms") || strings.Contains(de.Message, "SECRET") {
		t.Errorf("timeout: %+v", de)
	}

	gone := httptest.NewServer(http.NotFoundHandler())
	senders = sendersFor(t, gone, time.Now, time.Second)
	sec = domain.ChannelSecrets{URL: gone.URL + "/SECRETPATH"}
	gone.Close()
	de = asDelivery(t, senders[domain.ChannelSlack].Send(context.Background(), domain.Channel{}, sec, m))
	if de.Permanent || !strings.Contains(de.Message, "could not reach 127.0.0.1:") || !strings.Contains(de.Message, "connection refused") || strings.Contains(de.Message, "SECRET") {
		t.Errorf("connection refused: %+v", de)
	}

	// A host not allowed, named so that it passes the static check but
	// resolves to loopback: refused at connect time, permanently.
	none := NewSenders(Options{Guard: &Guard{}, Timeout: time.Second})
	sec = domain.ChannelSecrets{URL: strings.Replace(slow.URL, "http://127.0.0.1", "https://localhost", 1) + "/SECRETPATH"}
	de = asDelivery(t, none[domain.ChannelWebhook].Send(context.Background(), domain.Channel{}, sec, m))
	if !de.Permanent || !strings.Contains(de.Message, "resolves to 127.0.0.1, a loopback address; ask the server's operator to allow it with --channel-allow") {
		t.Errorf("loopback by name: %+v", de)
	}
	sec = domain.ChannelSecrets{URL: "https://10.0.0.5/SECRETPATH"}
	de = asDelivery(t, none[domain.ChannelWebhook].Send(context.Background(), domain.Channel{}, sec, m))
	if !de.Permanent || !strings.Contains(de.Message, "10.0.0.5, a private address") {
		t.Errorf("private IP: %+v", de)
	}
}
