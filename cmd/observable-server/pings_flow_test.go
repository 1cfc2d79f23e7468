package main

// A ping is an event like any other (issue 12): it opens and closes the
// job's incidents, reaches the session's live stream, and keeps or breaks
// the job's expectation; the session's rate limit answers the published
// SDK's /api/events as it answers v1; the ping key is the session's, read
// with the session key or the phone's device credential.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// pingsFlowPing sends one ping that must be taken.
func pingsFlowPing(t *testing.T, u string) {
	t.Helper()
	if r := callAPI("GET", u, "", ""); r.status != http.StatusOK || string(r.body) != "OK" {
		t.Fatalf("GET %s: %d %q, want 200 OK", u, r.status, r.body)
	}
}

// pingsFlowLastSeq is the seq of the job's newest event.
func pingsFlowLastSeq(t *testing.T, p *serverProc, key, name string) int64 {
	t.Helper()
	var out struct {
		Events []struct {
			Seq int64 `json:"seq"`
		} `json:"events"`
	}
	mustCall(t, http.StatusOK, "GET", p.url+"/api/v1/events?limit=1&name="+url.QueryEscape(name), key, "", &out)
	if len(out.Events) != 1 {
		t.Fatalf("job %s has no events", name)
	}
	return out.Events[0].Seq
}

// pingsFlowFrame is one event of the live stream.
type pingsFlowFrame struct {
	Seq    int64             `json:"seq"`
	Name   string            `json:"name"`
	Status string            `json:"status"`
	Source map[string]string `json:"source"`
}

// pingsFlowStream opens the session's live stream. The shared openStream
// keeps only events with an id of their own, which a ping has not.
func pingsFlowStream(t *testing.T, p *serverProc, key string) <-chan pingsFlowFrame {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", p.url+"/api/v1/events/stream", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("open the stream: %v %v", err, resp)
	}
	frames := make(chan pingsFlowFrame, 64)
	go func() {
		defer close(frames)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var f pingsFlowFrame
				if json.Unmarshal([]byte(data), &f) == nil {
					frames <- f
				}
			}
		}
	}()
	return frames
}

// pingsFlowNext is the stream's next event, which must be the job's
// newest: the ping just taken.
func pingsFlowNext(t *testing.T, p *serverProc, key string, frames <-chan pingsFlowFrame, status string) {
	t.Helper()
	select {
	case f, ok := <-frames:
		if want := pingsFlowLastSeq(t, p, key, "backup"); !ok || f.Seq != want || f.Status != status || f.Source["via"] != "ping" {
			t.Fatalf("the stream carried %+v (open %v); want the ping's event, seq %d, %s, via ping", f, ok, want, status)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the %s ping never reached the stream", status)
	}
}

// A /fail ping opens a failed incident, a /0 ping closes it; the stream of
// the session carries each ping as it is taken.
func TestPingsFlowIncidentsAndStream(t *testing.T) {
	p := launch(t, filepath.Join(t.TempDir(), "db.sqlite"))
	awaitReady(t, 30*time.Second, p)
	key, _ := newSession(t, p)
	u := pingsURL(t, p, key, "backup")
	stream := pingsFlowStream(t, p, key)

	pingsFlowPing(t, u)
	pingsFlowNext(t, p, key, stream, "completed")
	pingsFlowPing(t, u+"/fail")
	pingsFlowNext(t, p, key, stream, "failed")
	j := jobsModelGet(t, p, key, "backup")
	if j.State != "failing" || j.Failures != 1 || j.Incident == nil || j.Incident.Kind != "failed" || j.Incident.ClosedAt != nil {
		t.Fatalf("after a /fail ping: %+v; want failing with an open incident of kind failed", j)
	}
	pingsFlowPing(t, u+"/0")
	pingsFlowNext(t, p, key, stream, "completed")
	j = jobsModelGet(t, p, key, "backup")
	if j.State != "up" && j.State != "new" || j.Incident != nil {
		t.Fatalf("after a /0 ping: state %q, open incident %+v; want the incident closed", j.State, j.Incident)
	}
	if len(j.Incidents) != 1 || j.Incidents[0].Kind != "failed" || j.Incidents[0].ClosedAt == nil {
		b, _ := json.Marshal(j.Incidents)
		t.Fatalf("incidents after the recovery: %s; want one failed incident, closed", b)
	}
	if j.Runs != 3 {
		t.Errorf("runs = %d after three end pings, want 3", j.Runs)
	}
	select {
	case f := <-stream:
		t.Errorf("an event more on the stream than pings sent: %+v", f)
	case <-time.After(200 * time.Millisecond):
	}
}

// A job whose expectation is set goes missed when no ping comes, and the
// next ping ends the missed incident. A ping carries no timestamp, so the
// run before it is posted with one, 59 s in the past, as the job model's
// tests advance time (jobs_model_test.go): with every_s 60 and grace_s 1
// the job is due a second from now and missed a second later.
func TestPingsFlowMissedWithoutAPing(t *testing.T) {
	p := launch(t, filepath.Join(t.TempDir(), "db.sqlite"))
	awaitReady(t, 30*time.Second, p)
	key, code := newSession(t, p)
	token := claimPairing(t, p, code)
	u := pingsURL(t, p, key, "minutely")
	last := time.Now().Add(-59 * time.Second).UTC().Format(time.RFC3339Nano)
	mustCall(t, http.StatusAccepted, "POST", p.url+"/api/v1/events", key,
		fmt.Sprintf(`{"name":"minutely","status":"completed","duration_ms":0,"timestamp":%q}`, last), nil)
	// The phone sets the expectation (PATCH), as a person would for a ping job.
	mustCall(t, http.StatusOK, "PATCH", p.url+"/api/v1/jobs/minutely", token, `{"expect":{"every_s":60,"grace_s":1}}`, nil)
	if j := jobsModelGet(t, p, key, "minutely"); j.State != "up" {
		t.Fatalf("with its expectation set: %+v; want up", j)
	}
	deadline := time.Now().Add(15 * time.Second)
	j := jobsModelGet(t, p, key, "minutely")
	for j.State != "missed" {
		if time.Now().After(deadline) {
			t.Fatalf("no ping came, yet the job is %q after 15 s; want missed\n%s", j.State, p.stop())
		}
		time.Sleep(50 * time.Millisecond)
		j = jobsModelGet(t, p, key, "minutely")
	}
	if j.Incident == nil || j.Incident.Kind != "missed" {
		t.Fatalf("missed with incident %+v; want an open incident of kind missed", j.Incident)
	}
	pingsFlowPing(t, u)
	if j = jobsModelGet(t, p, key, "minutely"); j.State != "up" || j.Incident != nil {
		t.Fatalf("after the ping came: state %q, incident %+v; want up, the missed incident closed", j.State, j.Incident)
	}
}

// GET /api/v1/ping-key answers the session key and the phone's device
// credential, as a bearer token and as the cookie the app sends
// (docs/openapi.yaml), with the key of GET /api/v1/session; nothing else.
func TestPingsFlowPingKeyRoute(t *testing.T) {
	p := launch(t, filepath.Join(t.TempDir(), "db.sqlite"))
	awaitReady(t, 30*time.Second, p)
	key, code := newSession(t, p)
	token := claimPairing(t, p, code)
	var sess struct {
		PingKey string `json:"ping_key"`
	}
	mustCall(t, http.StatusOK, "GET", p.url+"/api/v1/session", key, "", &sess)
	type pingKey struct {
		PingKey  string `json:"ping_key"`
		PingBase string `json:"ping_base"`
	}
	check := func(how string, got pingKey) {
		t.Helper()
		if got.PingKey == "" || got.PingKey != sess.PingKey || got.PingBase != p.url+"/ping/"+sess.PingKey {
			t.Errorf("%s: %+v; want ping_key %q and ping_base %s/ping/<it>", how, got, sess.PingKey, p.url)
		}
	}
	var bySession, byToken, byCookie pingKey
	mustCall(t, http.StatusOK, "GET", p.url+"/api/v1/ping-key", key, "", &bySession)
	check("the session key", bySession)
	mustCall(t, http.StatusOK, "GET", p.url+"/api/v1/ping-key", token, "", &byToken)
	check("the device token", byToken)
	req, _ := http.NewRequest("GET", p.url+"/api/v1/ping-key", nil)
	req.AddCookie(&http.Cookie{Name: "observable_device", Value: token})
	resp, err := apiClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&byCookie)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("with the device cookie: %d %v", resp.StatusCode, err)
	}
	check("the device cookie", byCookie)
	// The key pings the session's job by slug.
	postEvent(t, p, key, "1", "Nightly Report", "completed")
	pingsFlowPing(t, byCookie.PingBase+"/nightly-report")
	for _, bad := range []string{"", "not-a-key", token + "x"} {
		if r := callAPI("GET", p.url+"/api/v1/ping-key", bad, ""); r.status != http.StatusUnauthorized {
			t.Errorf("GET /api/v1/ping-key with %q: %d %s; want 401", bad, r.status, r.body)
		}
	}
}

// pingsFlowPublished is the python of the published 0.2.0 SDK's venv that
// the compat tests cache (sdk/python/tests/compat), "" when none is built.
func pingsFlowPublished() string {
	matches, _ := filepath.Glob("../../.tmp/published-sdk/observable-code-0.2.0-py3.*/bin/python")
	for _, m := range matches {
		if _, err := os.Stat(filepath.Join(filepath.Dir(filepath.Dir(m)), ".complete")); err == nil {
			return m
		}
	}
	return ""
}

// The session's rate limit answers the published SDK's POST /api/events as
// it answers v1: a 429 with Retry-After. The published 0.2.0 prints its
// rate-limit line once for two refusals.
func TestPingsFlowCompatEventsRateLimit(t *testing.T) {
	p := launch(t, filepath.Join(t.TempDir(), "db.sqlite"), "--session-rate", "0.001", "--session-burst", "1", "--max-batch-events", "1")
	awaitReady(t, 30*time.Second, p)
	key, _ := newSession(t, p)
	body := `{"name":"send_report","status":"completed","duration_ms":3}`
	mustCall(t, http.StatusAccepted, "POST", p.url+"/api/events", key, body, nil)
	r := callAPI("POST", p.url+"/api/events", key, body)
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("the second POST /api/events at a burst of 1: %d %s; want 429", r.status, r.body)
	}
	if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 {
		t.Fatalf("Retry-After %q on the 429; want whole seconds, at least 1", r.header.Get("Retry-After"))
	}

	python := pingsFlowPublished()
	if python == "" {
		t.Log("the published SDK's venv is not built (the compat pytest builds it): its stderr is checked there too")
		return
	}
	script := "import observable\nfor i in range(3):\n    observable.event('payment_received', amount=i)\n"
	cmd := exec.Command(python, "-I", "-c", script)
	cmd.Env = []string{"HOME=" + t.TempDir(), "OBSERVABLE_CODE_API_URL=" + p.url, "OBSERVABLE_CODE_SESSION_ID=" + key, "OBSERVABLE_TEST_MODE=1"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the published SDK: %v\n%s", err, out)
	}
	if n := strings.Count(string(out), "Rate limit exceeded"); n != 1 {
		t.Errorf("the published 0.2.0 printed its rate-limit line %d times for three refused events; want once:\n%s", n, out)
	}
}
