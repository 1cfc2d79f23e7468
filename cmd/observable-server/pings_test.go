package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// pingsEvent is the part of a stored event these tests look at.
type pingsEvent struct {
	Name       string   `json:"name"`
	Status     string   `json:"status"`
	DurationMS *float64 `json:"duration_ms"`
	Run        string   `json:"run"`
	Error      *struct {
		Message string `json:"message"`
	} `json:"error"`
	Metadata map[string]any `json:"metadata"`
}

// pingsEvents lists a job's events, oldest first.
func pingsEvents(t *testing.T, p *serverProc, key, name string) []pingsEvent {
	t.Helper()
	var out struct {
		Events []pingsEvent `json:"events"`
	}
	mustCall(t, http.StatusOK, "GET", p.url+"/api/v1/events?limit=200&name="+url.QueryEscape(name), key, "", &out)
	for i, j := 0, len(out.Events)-1; i < j; i, j = i+1, j-1 {
		out.Events[i], out.Events[j] = out.Events[j], out.Events[i]
	}
	return out.Events
}

// pingsURL is a job's ping URL as `observable ping-url NAME` reads it.
func pingsURL(t *testing.T, p *serverProc, key, name string) string {
	t.Helper()
	var out struct {
		PingURL string `json:"ping_url"`
	}
	mustCall(t, http.StatusOK, "GET", p.url+"/api/v1/jobs/"+url.PathEscape(name)+"/ping", key, "", &out)
	if !strings.HasPrefix(out.PingURL, p.url+"/ping/") {
		t.Fatalf("ping_url %q is not under %s/ping/", out.PingURL, p.url)
	}
	return out.PingURL
}

// pingsShell runs a shell script with env, as a cron line or a unit would.
func pingsShell(t *testing.T, script string, env ...string) string {
	t.Helper()
	cmd := exec.Command("bash", "-c", script)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin:/usr/local/bin"}, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s\n%v\n%s", script, err, out)
	}
	return string(out)
}

// The one-liners of Healthchecks' docs, run by curl against the real binary,
// with nothing changed but the base URL.
func TestPingsHealthchecksOneLiners(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed: these tests run Healthchecks' curl one-liners")
	}
	p := launch(t, t.TempDir()+"/db.sqlite")
	awaitReady(t, 30*time.Second, p)
	key, _ := newSession(t, p)
	backup := pingsURL(t, p, key, "backup")
	if again := pingsURL(t, p, key, "backup"); again != backup {
		t.Fatalf("the ping URL changed: %s then %s", backup, again)
	}
	// The job does not exist yet: the first ping makes it.
	if st := callAPI("GET", p.url+"/api/v1/jobs/backup", key, "").status; st != http.StatusNotFound {
		t.Fatalf("GET /api/v1/jobs/backup before any ping: %d", st)
	}
	// rid=$(uuidgen) as Healthchecks' docs write it (scripts/test installs
	// uuid-runtime where it is missing).
	if _, err := exec.LookPath("uuidgen"); err != nil {
		t.Fatal("uuidgen is not installed (Debian: apt-get install uuid-runtime; scripts/test does it): Healthchecks' rid one-liner runs it")
	}
	pingsShell(t, `
set -e
curl -fsS -m 10 --retry 5 -o /dev/null "$URL"
curl -fsS -m 10 --retry 5 -o /dev/null "$URL/start"
sleep 0.05
set +e
sh -c 'exit 3'
curl -fsS -m 10 --retry 5 -o /dev/null "$URL/$?"
set -e
m=$(sh -c 'echo "copied 12 files"; echo "warning: disk 91% full" >&2' 2>&1)
curl -fsS -m 10 --retry 5 --data-raw "$m" "$URL/$?"
curl -fsS -m 10 --retry 5 -o /dev/null --data-raw "halfway there" "$URL/log"
curl -fsS -m 10 --retry 5 -o /dev/null "$URL/fail"
rid=$(uuidgen)
curl -fsS -m 10 --retry 5 -o /dev/null "$URL/start?rid=$rid"
curl -fsS -m 10 --retry 5 -o /dev/null "$URL/0?rid=$rid"
`, "URL="+backup)
	ev := pingsEvents(t, p, key, "backup")
	want := []string{"completed", "started", "failed", "completed", "log", "failed", "started", "completed"}
	if len(ev) != len(want) {
		t.Fatalf("%d events, want %d: %+v", len(ev), len(want), ev)
	}
	for i, w := range want {
		if ev[i].Status != w {
			t.Fatalf("event %d is %s, want %s: %+v", i, ev[i].Status, w, ev)
		}
	}
	if ev[2].DurationMS == nil || *ev[2].DurationMS < 50 || ev[2].Error == nil || ev[2].Error.Message != "exit status 3" {
		t.Errorf("the /3 after /start: %+v (want a duration of 50 ms or more and exit status 3)", ev[2])
	}
	if body, _ := ev[3].Metadata["body"].(string); body != "copied 12 files\nwarning: disk 91% full" {
		t.Errorf("the body kept with the run: %q", body)
	}
	if ev[7].Run == "" || ev[7].Run != ev[6].Run || ev[7].DurationMS == nil {
		t.Errorf("the rid pair: %+v %+v", ev[6], ev[7])
	}
	var job struct {
		Runs, Failures int
	}
	mustCall(t, http.StatusOK, "GET", p.url+"/api/v1/jobs/backup", key, "", &job)
	if job.Runs == 0 || job.Failures < 2 {
		t.Errorf("the job's history: %+v", job)
	}

	// systemd: ExecStartPre pings /start, ExecStopPost the unit's exit status.
	unit := pingsURL(t, p, key, "certbot.service")
	pingsShell(t, `
/usr/bin/env curl -fsS -m 10 --retry 5 -o /dev/null "$URL/start"   # ExecStartPre=-/usr/bin/curl …/start
/bin/bash -c 'curl -fsS -m 10 --retry 5 -o /dev/null "$URL/$EXIT_STATUS"'  # ExecStopPost=
`, "URL="+unit, "EXIT_STATUS=1")
	if ev := pingsEvents(t, p, key, "certbot.service"); len(ev) != 2 || ev[1].Status != "failed" || ev[1].DurationMS == nil {
		t.Errorf("systemd pattern: %+v", ev)
	}
}

// Overlapping runs with their own rid each end their own start.
func TestPingsOverlappingRuns(t *testing.T) {
	p := launch(t, t.TempDir()+"/db.sqlite")
	awaitReady(t, 30*time.Second, p)
	key, _ := newSession(t, p)
	u := pingsURL(t, p, key, "sync")
	const a, b = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
	for _, step := range []string{"/start?rid=" + a, "/start?rid=" + b, "?rid=" + b, "/fail?rid=" + a} {
		if r := callAPI("POST", u+step, "", ""); r.status != http.StatusOK || string(r.body) != "OK" {
			t.Fatalf("%s: %d %q", step, r.status, r.body)
		}
		time.Sleep(20 * time.Millisecond) // so the two runs' durations differ
	}
	ev := pingsEvents(t, p, key, "sync")
	if len(ev) != 4 || ev[2].Run != b || ev[3].Run != a || ev[2].DurationMS == nil || ev[3].DurationMS == nil {
		t.Fatalf("%+v", ev)
	}
	// a spans the three gaps, b the one in the middle: a is b plus two gaps of
	// at least 20 ms each, however slow the machine (had an end found the other
	// run's start, a would be shorter than that).
	if *ev[3].DurationMS-*ev[2].DurationMS < 35 || ev[3].Status != "failed" {
		t.Errorf("run a (outer) got %v ms, run b (inner) %v ms: each end must find its own start", *ev[3].DurationMS, *ev[2].DurationMS)
	}
}

// Slug URLs, the answers and texts, HEAD, the body limit, and unknown
// UUIDs and keys that tell nothing.
func TestPingsSlugsAndAnswers(t *testing.T) {
	// Debug logging: every request is logged, so the log check below means something.
	p := launch(t, t.TempDir()+"/db.sqlite", "--session-rate", "1", "--session-burst", "20", "--max-batch-events", "10", "--log-level", "debug")
	awaitReady(t, 30*time.Second, p)
	key, _ := newSession(t, p)
	other, _ := newSession(t, p)
	var sess struct {
		PingKey string `json:"ping_key"`
	}
	mustCall(t, http.StatusOK, "GET", p.url+"/api/v1/session", key, "", &sess)
	var otherSess struct {
		PingKey string `json:"ping_key"`
	}
	mustCall(t, http.StatusOK, "GET", p.url+"/api/v1/session", other, "", &otherSess)
	if sess.PingKey == "" || sess.PingKey == otherSess.PingKey {
		t.Fatalf("ping keys %q and %q", sess.PingKey, otherSess.PingKey)
	}
	base := p.url + "/ping/" + sess.PingKey
	check := func(method, u, body string, status int, text string) apiReply {
		t.Helper()
		req, _ := http.NewRequest(method, u, strings.NewReader(body))
		resp, err := apiClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		// Healthchecks sets Ping-Body-Limit on a taken ping only (200, and
		// the 201 made from it), never on a refusal.
		limit := ""
		if status == http.StatusOK || status == http.StatusCreated {
			limit = "10000"
		}
		if resp.StatusCode != status || (method != "HEAD" && string(b) != text) || resp.Header.Get("Ping-Body-Limit") != limit {
			t.Fatalf("%s %s: %d %q (Ping-Body-Limit %q); want %d %q (Ping-Body-Limit %q)", method, u, resp.StatusCode, string(b), resp.Header.Get("Ping-Body-Limit"), status, text, limit)
		}
		return apiReply{status: resp.StatusCode}
	}
	check("GET", base+"/db-backup", "", 404, "not found")
	check("GET", base+"/db-backup?create=1", "", 201, "Created")
	check("POST", base+"/db-backup/start", "", 200, "OK")
	check("HEAD", base+"/db-backup/0", "", 200, "")
	check("GET", base+"/db-backup/256", "", 400, "invalid url format")
	check("GET", base+"/db-backup?rid=nope", "", 400, "invalid uuid format")
	check("POST", base+"/db-backup/log", strings.Repeat("x", 25_000), 200, "OK")
	ev := pingsEvents(t, p, key, "db-backup")
	if body, _ := ev[len(ev)-1].Metadata["body"].(string); len(body) != 10_000 {
		t.Errorf("kept %d bytes of the body, want Ping-Body-Limit's 10000", len(body))
	}
	// Two jobs whose names give one slug.
	postEvent(t, p, key, "a", "Nightly Report", "completed")
	postEvent(t, p, key, "b", "nightly-report", "completed")
	check("GET", base+"/nightly-report", "", 409, "ambiguous slug")
	// Another session's key, a forged key and an unknown UUID all say the same.
	check("GET", p.url+"/ping/"+otherSess.PingKey+"/db-backup", "", 404, "not found")
	forged := []byte(sess.PingKey)
	forged[len(forged)-1] ^= 1
	check("GET", p.url+"/ping/"+string(forged)+"/db-backup?create=1", "", 404, "not found")
	check("GET", p.url+"/ping/6f1c8a52-8c1e-4a4e-9a51-0d9c1f7e3b21", "", 404, "not found")
	// Pings count against the session's rate, as events do.
	limited := false
	for i := 0; i < 40 && !limited; i++ {
		limited = callAPI("GET", base+"/db-backup", "", "").status == http.StatusTooManyRequests
	}
	if !limited {
		t.Error("40 pings at --session-rate 1 --session-burst 20 were never refused with 429")
	}
	// No ping key or UUID reaches the log, not even from refused pings.
	uuid := strings.TrimPrefix(pingsURL(t, p, key, "db-backup"), p.url+"/ping/")
	check("GET", p.url+"/ping/"+uuid+"/256", "", 400, "invalid url format")
	check("OPTIONS", p.url+"/ping/"+uuid, "", 405, "method not allowed")
	log := p.stop()
	if !strings.Contains(log, "/ping/") {
		t.Fatalf("the debug log names no ping route: the check below would prove nothing:\n%s", log)
	}
	for what, secret := range map[string]string{"ping key": sess.PingKey, "ping UUID": uuid} {
		if strings.Contains(log, secret) {
			t.Errorf("the %s is in the server's log:\n%s", what, log)
		}
	}
}

// The job's ping_url is on every JOB.
func TestPingsURLOnJobs(t *testing.T) {
	p := launch(t, t.TempDir()+"/db.sqlite")
	awaitReady(t, 30*time.Second, p)
	key, _ := newSession(t, p)
	postEvent(t, p, key, "1", "etl", "completed")
	var list struct {
		Jobs []struct {
			Name    string `json:"name"`
			PingURL string `json:"ping_url"`
		} `json:"jobs"`
	}
	mustCall(t, http.StatusOK, "GET", p.url+"/api/v1/jobs", key, "", &list)
	if len(list.Jobs) != 1 || list.Jobs[0].PingURL != pingsURL(t, p, key, "etl") {
		b, _ := json.Marshal(list)
		t.Fatalf("%s", b)
	}
	if r := callAPI("POST", list.Jobs[0].PingURL+"/fail", "", ""); r.status != 200 {
		t.Fatalf("ping the listed URL: %d %s", r.status, r.body)
	}
	if ev := pingsEvents(t, p, key, "etl"); len(ev) != 2 || ev[1].Status != "failed" {
		t.Fatalf("%+v", ev)
	}
}

// --ping-body-limit sets what is kept and what the answer's header says.
func TestPingsBodyLimitFlag(t *testing.T) {
	p := launch(t, t.TempDir()+"/db.sqlite", "--ping-body-limit", "5")
	awaitReady(t, 30*time.Second, p)
	key, _ := newSession(t, p)
	r := callAPI("POST", pingsURL(t, p, key, "j")+"/log", "", "abcdefgh")
	if r.status != http.StatusOK || r.header.Get("Ping-Body-Limit") != "5" {
		t.Fatalf("%d %q, Ping-Body-Limit %q", r.status, r.body, r.header.Get("Ping-Body-Limit"))
	}
	if ev := pingsEvents(t, p, key, "j"); len(ev) != 1 || ev[0].Metadata["body"] != "abcde" {
		t.Fatalf("%+v", ev)
	}
}

// /ping/<uuid>/ is a success ping, as Healthchecks takes it; a deeper path
// under it is no ping at all.
func TestPingsTrailingSlash(t *testing.T) {
	p := launch(t, t.TempDir()+"/db.sqlite")
	awaitReady(t, 30*time.Second, p)
	key, _ := newSession(t, p)
	u := pingsURL(t, p, key, "nightly")
	if r := callAPI("GET", u+"/", "", ""); r.status != http.StatusOK || string(r.body) != "OK" {
		t.Fatalf("GET %s/: %d %q, want 200 OK", u, r.status, r.body)
	}
	for _, path := range []string{"/start/", "/a/b/c"} {
		if r := callAPI("GET", u+path, "", ""); r.status != http.StatusNotFound {
			t.Errorf("GET %s%s: %d %q, want 404", u, path, r.status, r.body)
		}
	}
	if ev := pingsEvents(t, p, key, "nightly"); len(ev) != 1 || ev[0].Status != "completed" {
		t.Fatalf("events after the pings: %+v, want one completed", ev)
	}
}

// Healthchecks' /ping/<uuid> routes take Django's uuid converter, which is
// lowercase only: an uppercase UUID is `not found` there, and here. A rid
// is read with Python's UUID(), either case (macOS's uuidgen is uppercase).
// A method no ping takes is 405, and Allow names each one served.
func TestPingsUppercaseUUIDAndMethods(t *testing.T) {
	p := launch(t, t.TempDir()+"/db.sqlite")
	awaitReady(t, 30*time.Second, p)
	key, _ := newSession(t, p)
	u := pingsURL(t, p, key, "backup")
	upper := p.url + "/ping/" + strings.ToUpper(strings.TrimPrefix(u, p.url+"/ping/"))
	for _, path := range []string{"", "/", "/start", "/fail", "/0", "/log"} {
		if r := callAPI("GET", upper+path, "", ""); r.status != http.StatusNotFound || string(r.body) != "not found" {
			t.Errorf("GET %s%s: %d %q; want 404 not found", upper, path, r.status, r.body)
		}
	}
	if r := callAPI("GET", p.url+"/api/v1/jobs/backup", key, ""); r.status != http.StatusNotFound {
		t.Fatalf("the uppercase pings made the job: %d %s", r.status, r.body)
	}
	const rid = "3F2504E0-4F89-41D3-9A0C-0305E82C3301"
	pingsFlowPing(t, u+"/start?rid="+rid)
	pingsFlowPing(t, u+"?rid="+strings.ToLower(rid))
	if ev := pingsEvents(t, p, key, "backup"); len(ev) != 2 || ev[1].Run != strings.ToLower(rid) || ev[1].DurationMS == nil {
		t.Fatalf("an uppercase rid's start and its lowercase end: %+v; want one run with a duration", ev)
	}

	var sess struct {
		PingKey string `json:"ping_key"`
	}
	mustCall(t, http.StatusOK, "GET", p.url+"/api/v1/session", key, "", &sess)
	urls := []string{u, u + "/", u + "/start", u + "/3", p.url + "/ping/" + sess.PingKey + "/backup", p.url + "/ping/" + sess.PingKey + "/backup/fail"}
	for _, target := range urls {
		for _, m := range []string{"OPTIONS", "PUT", "DELETE", "PATCH"} {
			r := callAPI(m, target, "", "")
			if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "GET, HEAD, POST" {
				t.Errorf("%s %s: %d (Allow %q) %q; want 405 with Allow GET, HEAD, POST", m, target, r.status, r.header.Get("Allow"), r.body)
			}
		}
		// What Allow names is served.
		for _, m := range []string{"GET", "HEAD", "POST"} {
			if r := callAPI(m, target, "", ""); r.status != http.StatusOK {
				t.Errorf("%s %s: %d %q; want 200", m, target, r.status, r.body)
			}
		}
	}
	if r := callAPI("GET", p.url+"/ping/", "", ""); r.status != http.StatusNotFound || string(r.body) != "not found" {
		t.Errorf("GET /ping/: %d %q; want 404 not found", r.status, r.body)
	}
}
