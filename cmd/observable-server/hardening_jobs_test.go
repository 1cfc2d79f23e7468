package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// jobsMemKB reads a field of /proc/<pid>/status (VmRSS, VmHWM) in KiB.
func jobsMemKB(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc to measure the server's memory: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("%s in /proc/%d/status: %q", field, pid, line)
			}
			return kb
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// jobsPeakSince resets the process's peak RSS (clear_refs 5) and returns a
// function that reads the peak since, in KiB. Where the reset is refused,
// the peak is sampled every few milliseconds instead.
func jobsPeakSince(t *testing.T, pid int) func() int64 {
	if os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) == nil {
		return func() int64 { return jobsMemKB(t, pid, "VmHWM") }
	}
	var mu sync.Mutex
	peak := jobsMemKB(t, pid, "VmRSS")
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			if err != nil {
				return
			}
			for _, line := range strings.Split(string(b), "\n") {
				if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
					kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
					mu.Lock()
					peak = max(peak, kb)
					mu.Unlock()
				}
			}
		}
	}()
	var once sync.Once
	return func() int64 {
		once.Do(func() { close(done) })
		mu.Lock()
		defer mu.Unlock()
		return peak
	}
}

// TestJobsListIsBoundedWhateverTheEventsCarry reproduces issue 9's memory
// amplification at a small scale: a few hundred job names whose events
// carry 64 KiB of metadata made GET /api/v1/jobs answer every event whole
// (here ~19 MB per answer; 394 MB at 6,000 jobs), and concurrent reads
// multiplied the server's memory. The list now carries summaries.
func TestJobsListIsBoundedWhateverTheEventsCarry(t *testing.T) {
	const metadataJobs, tracebackJobs, perRequest = 300, 20, 15
	const jobs = metadataJobs + tracebackJobs
	p := launch(t, filepath.Join(t.TempDir(), "jobs.db"))
	awaitReady(t, 10*time.Second, p)
	key, _ := newSession(t, p)
	blob := strings.Repeat("x", 64000) // 64,000 + a few bytes: within the 64 KiB limit
	for first := 0; first < metadataJobs; first += perRequest {
		var events []string
		for i := first; i < first+perRequest; i++ {
			events = append(events, fmt.Sprintf(`{"name":"job-%03d","status":"failed","error":{"type":"E","message":"boom"},"metadata":{"blob":%q}}`, i, blob))
		}
		mustCall(t, http.StatusAccepted, "POST", p.url+"/api/v1/events", key, `{"events":[`+strings.Join(events, ",")+`]}`, nil)
	}
	// An error's text is bounded only by the body: 16 times the metadata.
	traceback := strings.Repeat("t", 1_000_000)
	for i := 0; i < tracebackJobs; i++ {
		mustCall(t, http.StatusAccepted, "POST", p.url+"/api/v1/events", key,
			fmt.Sprintf(`{"name":"trace-%02d","status":"failed","error":{"type":"E","message":"boom","traceback":%q}}`, i, traceback), nil)
	}

	pid := p.cmd.Process.Pid
	before := jobsMemKB(t, pid, "VmRSS")
	peak := jobsPeakSince(t, pid)
	const readers = 4
	replies := make([]apiReply, readers)
	var wg sync.WaitGroup
	for i := range replies {
		wg.Add(1)
		go func() { defer wg.Done(); replies[i] = callAPI("GET", p.url+"/api/v1/jobs", key, "") }()
	}
	wg.Wait()
	grew := peak() - before

	// 10 KiB a job is the documented worst case; these summaries are ~300 bytes.
	const bound = jobs * 10 << 10
	for _, r := range replies {
		if r.err != nil || r.status != http.StatusOK {
			t.Fatalf("GET /api/v1/jobs: %d %v", r.status, r.err)
		}
		if len(r.body) > bound/10 {
			t.Fatalf("GET /api/v1/jobs answered %d bytes for %d jobs; summaries should be well under %d", len(r.body), jobs, bound/10)
		}
		var list struct {
			Jobs []struct {
				Name string         `json:"name"`
				Last map[string]any `json:"last"`
				Runs int            `json:"runs"`
			} `json:"jobs"`
		}
		if err := json.Unmarshal(r.body, &list); err != nil {
			t.Fatal(err)
		}
		if len(list.Jobs) != jobs {
			t.Fatalf("listed %d jobs, want %d", len(list.Jobs), jobs)
		}
		for _, j := range list.Jobs {
			if _, has := j.Last["metadata"]; has || j.Last["status"] != "failed" || j.Last["error"] == nil || j.Runs != 1 {
				t.Fatalf("job %s: last = %.300v; want the status and error, without metadata", j.Name, j.Last)
			}
			if tb, _ := j.Last["error"].(map[string]any)["traceback"].(string); len(tb) > 1024 {
				t.Fatalf("job %s: a traceback of %d bytes in the list; summaries cut it", j.Name, len(tb))
			}
		}
	}
	t.Logf("%d concurrent reads of %d jobs: %d bytes each, server RSS %d → peak +%d KiB", readers, jobs, len(replies[0].body), before, grew)
	// Before the fix the answers alone were 4 × 19 MB, and the server grew
	// by several times that.
	if grew > 48<<10 {
		t.Fatalf("the server's RSS grew by %d KiB while answering %d concurrent job lists; want under 48 MiB", grew, readers)
	}

	// The full last event, metadata included, is one job away.
	var one struct {
		Name   string           `json:"name"`
		Last   map[string]any   `json:"last"`
		Runs   int              `json:"runs"`
		Recent []map[string]any `json:"recent"`
	}
	mustCall(t, http.StatusOK, "GET", p.url+"/api/v1/jobs/job-007", key, "", &one)
	md, _ := one.Last["metadata"].(map[string]any)
	if one.Name != "job-007" || one.Runs != 1 || md["blob"] != blob || len(one.Recent) != 1 || one.Recent[0]["seq"] != one.Last["seq"] {
		t.Fatalf("GET /api/v1/jobs/job-007 = name %q runs %d, metadata kept %v, %d recent", one.Name, one.Runs, md["blob"] == blob, len(one.Recent))
	}
	if r := callAPI("GET", p.url+"/api/v1/jobs/"+url.PathEscape("no such job"), key, ""); r.status != http.StatusNotFound {
		t.Fatalf("an unknown job: %d %s, want 404", r.status, r.body)
	}
	if r := callAPI("GET", p.url+"/api/v1/jobs/job-007", "", ""); r.status != http.StatusUnauthorized {
		t.Fatalf("a job without credentials: %d, want 401", r.status)
	}
}

// TestJobsOneJobAnswersRecentRunsNewestFirst: GET /api/v1/jobs/{name}
// carries at most 20 recent events, newest first, and names with a slash
// or spaces work escaped.
func TestJobsOneJobAnswersRecentRunsNewestFirst(t *testing.T) {
	p := launch(t, filepath.Join(t.TempDir(), "jobs.db"))
	awaitReady(t, 10*time.Second, p)
	key, _ := newSession(t, p)
	const name = "etl/nightly run"
	var events []string
	for i := 0; i < 25; i++ {
		events = append(events, fmt.Sprintf(`{"name":%q,"status":"completed","duration_ms":%d}`, name, (i+1)*10))
	}
	events = append(events, `{"name":"other","status":"completed"}`)
	mustCall(t, http.StatusAccepted, "POST", p.url+"/api/v1/events", key, `{"events":[`+strings.Join(events, ",")+`]}`, nil)
	var one struct {
		Name   string  `json:"name"`
		Runs   int     `json:"runs"`
		P50    float64 `json:"p50_ms"`
		Last   struct{ Seq int64 }
		Recent []struct {
			Seq  int64  `json:"seq"`
			Name string `json:"name"`
		} `json:"recent"`
	}
	mustCall(t, http.StatusOK, "GET", p.url+"/api/v1/jobs/"+url.PathEscape(name), key, "", &one)
	if one.Name != name || one.Runs != 25 || one.P50 != 130 || one.Last.Seq != 25 || len(one.Recent) != 20 {
		t.Fatalf("job = %+v; want 25 runs, p50 130, last seq 25, 20 recent", one)
	}
	for i, e := range one.Recent {
		if e.Seq != int64(25-i) || e.Name != name {
			t.Fatalf("recent[%d] = %+v; want seq %d of %s (newest first)", i, e, 25-i, name)
		}
	}
	if r := callAPI("GET", p.url+"/api/v1/jobs/"+url.PathEscape("bad\x00name"), key, ""); r.status != http.StatusBadRequest {
		t.Fatalf("a name with NUL: %d %s, want 400", r.status, r.body)
	}
}

// TestJobsCapPerSession: with --max-jobs-per-session 50, the request that
// brings a 51st name is refused whole with 422 too_many_jobs, and the 50
// jobs still take events.
func TestJobsCapPerSession(t *testing.T) {
	p := launch(t, filepath.Join(t.TempDir(), "jobs.db"), "--max-jobs-per-session", "50")
	awaitReady(t, 10*time.Second, p)
	key, _ := newSession(t, p)
	batch := func(names ...string) string {
		var events []string
		for _, n := range names {
			events = append(events, fmt.Sprintf(`{"name":%q,"status":"completed"}`, n))
		}
		return `{"events":[` + strings.Join(events, ",") + `]}`
	}
	var names []string
	for i := 0; i < 50; i++ {
		names = append(names, fmt.Sprintf("job-%02d", i))
	}
	mustCall(t, http.StatusAccepted, "POST", p.url+"/api/v1/events", key, batch(names...), nil)

	count := func() int {
		var s struct {
			EventCount int `json:"event_count"`
		}
		mustCall(t, http.StatusOK, "GET", p.url+"/api/v1/session", key, "", &s)
		return s.EventCount
	}
	for _, body := range []string{batch("job-51"), batch("job-00", "job-51", "job-01")} {
		r := callAPI("POST", p.url+"/api/v1/events", key, body)
		var e struct {
			Error struct{ Code, Message string }
		}
		json.Unmarshal(r.body, &e)
		if r.status != http.StatusUnprocessableEntity || e.Error.Code != "too_many_jobs" ||
			!strings.Contains(e.Error.Message, "50") || !strings.Contains(e.Error.Message, "--max-jobs-per-session") {
			t.Fatalf("a 51st job name: %d %s; want 422 too_many_jobs naming the limit (50) and its flag", r.status, r.body)
		}
	}
	if n := count(); n != 50 {
		t.Fatalf("event_count = %d after the refusals, want 50: nothing of a refused request is stored", n)
	}
	var accepted struct{ Accepted int }
	mustCall(t, http.StatusAccepted, "POST", p.url+"/api/v1/events", key, batch(names...), &accepted)
	if accepted.Accepted != 50 {
		t.Fatalf("events of the 50 existing jobs: accepted %d", accepted.Accepted)
	}
	var list struct{ Jobs []struct{ Name string } }
	mustCall(t, http.StatusOK, "GET", p.url+"/api/v1/jobs", key, "", &list)
	if len(list.Jobs) != 50 {
		t.Fatalf("%d jobs listed, want 50", len(list.Jobs))
	}
	// The limit is per session.
	other, _ := newSession(t, p)
	mustCall(t, http.StatusAccepted, "POST", p.url+"/api/v1/events", other, batch("job-51"), nil)
}
