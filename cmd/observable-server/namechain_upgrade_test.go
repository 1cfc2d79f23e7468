package main

// Migration 0005 (the name chain, issue 15) on a database the release
// before it made: events.prev_seq is filled from the old rows and the
// (session, name, seq) index dropped, and every answer that used the index
// (GET /events?name=, paged and filtered; the jobs' p50/p95) is the same
// before and after; events stored after the upgrade chain on to the old ones.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/observable-code/observable/internal/pgtest"
)

// namechainUpgradeFrom is the last commit before the name chain.
const namechainUpgradeFrom = "e7a1d1c6852bed13dc3a41471207937c599047fd"

var namechainNames = []string{"backup", "report", "sync", "rare"}

// namechainPost posts events of the jobs interleaved, in batches: each has
// a duration but starts and every seventh run; one run in five fails; "rare"
// gets one event in 40.
func namechainPost(t *testing.T, p *serverProc, key, prefix string, n int) {
	t.Helper()
	var batch []string
	for i := range n {
		name := namechainNames[i%3]
		if i%40 == 39 {
			name = "rare"
		}
		status := "completed"
		switch {
		case i%5 == 0:
			status = "failed"
		case i%11 == 0:
			status = "started"
		}
		ev := fmt.Sprintf(`{"id":"%s%d","name":%q,"status":%q`, prefix, i, name, status)
		if status != "started" && i%7 != 0 {
			ev += fmt.Sprintf(`,"duration_ms":%d.5`, (i*37)%1000)
		}
		batch = append(batch, ev+"}")
		if len(batch) == 100 || i == n-1 {
			mustCall(t, http.StatusAccepted, "POST", p.url+"/api/v1/events", key, `{"events":[`+strings.Join(batch, ",")+`]}`, nil)
			batch = batch[:0]
		}
	}
}

// namechainAnswers are the answers that read events by name, raw JSON by query.
func namechainAnswers(t *testing.T, p *serverProc, key string) map[string]json.RawMessage {
	t.Helper()
	out := make(map[string]json.RawMessage)
	get := func(path string) []byte {
		return mustCall(t, http.StatusOK, "GET", p.url+path, key, "", nil).body
	}
	for _, name := range namechainNames {
		out[name] = get("/api/v1/events?limit=200&name=" + name)
		out[name+"&status=failed"] = get("/api/v1/events?limit=200&status=failed&name=" + name)
		// Paged back, 7 a page, as a client pages: before is next_before.
		var pages []json.RawMessage
		for q := "/api/v1/events?limit=7&name=" + name; q != ""; {
			body := get(q)
			pages = append(pages, body)
			var page struct {
				Next *int64 `json:"next_before"`
			}
			if err := json.Unmarshal(body, &page); err != nil {
				t.Fatal(err)
			}
			q = ""
			if page.Next != nil {
				q = fmt.Sprintf("/api/v1/events?limit=7&name=%s&before=%d", name, *page.Next)
			}
		}
		out[name+" pages"], _ = json.Marshal(pages)
		// A before that is not an event of this name.
		out[name+"&before=150"] = get("/api/v1/events?limit=20&before=150&name=" + name)
	}
	var jobs struct {
		Jobs []struct {
			Name     string   `json:"name"`
			Runs     int      `json:"runs"`
			Failures int      `json:"failures"`
			P50      *float64 `json:"p50_ms"`
			P95      *float64 `json:"p95_ms"`
		} `json:"jobs"`
	}
	if err := json.Unmarshal(get("/api/v1/jobs"), &jobs); err != nil {
		t.Fatal(err)
	}
	out["jobs"], _ = json.Marshal(jobs.Jobs)
	for _, name := range namechainNames {
		var one struct {
			P50 *float64 `json:"p50_ms"`
			P95 *float64 `json:"p95_ms"`
		}
		if err := json.Unmarshal(get("/api/v1/jobs/"+name), &one); err != nil {
			t.Fatal(err)
		}
		out["job "+name], _ = json.Marshal(one)
	}
	return out
}

func namechainUpgrade(t *testing.T, db string) {
	old := upgradeRun(t, upgradeOldBinary(t, namechainUpgradeFrom), db)
	key, _ := newSession(t, old)
	namechainPost(t, old, key, "a", 400)
	before := namechainAnswers(t, old, key)
	if r := old.stop(); strings.Contains(r, "panic") {
		t.Fatalf("the old server: %s", r)
	}

	p := upgradeRun(t, binary, db)
	after := namechainAnswers(t, p, key)
	for q, want := range before {
		if !namechainJSONEqual(t, after[q], want) {
			t.Errorf("%s after the upgrade:\n%s\nwant (the old server's):\n%s", q, after[q], want)
		}
	}
	var rare struct {
		Events []struct{ Seq int64 } `json:"events"`
	}
	if err := json.Unmarshal(after["rare"], &rare); err != nil || len(rare.Events) != 10 {
		t.Fatalf("rare events after the upgrade: %s, %v; want 10", after["rare"], err)
	}

	// New events chain on to the migrated ones.
	namechainPost(t, p, key, "b", 200)
	var all struct {
		Events []struct{ Seq int64 } `json:"events"`
	}
	mustCall(t, http.StatusOK, "GET", p.url+"/api/v1/events?limit=200&name=rare", key, "", &all)
	if len(all.Events) != 15 || all.Events[5].Seq != rare.Events[0].Seq {
		t.Fatalf("rare after more events: %+v; want 5 new ones, then the 10 old ones from %d", all.Events, rare.Events[0].Seq)
	}
}

func namechainJSONEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%v in %s", err, a)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%v in %s", err, b)
	}
	return reflect.DeepEqual(x, y)
}

func TestNamechainUpgradeSQLite(t *testing.T) {
	namechainUpgrade(t, filepath.Join(t.TempDir(), "old.sqlite"))
}

func TestNamechainUpgradePostgres(t *testing.T) {
	if os.Getenv(pgtest.EnvURL) == "" {
		if _, err := exec.LookPath("pg_ctl"); err != nil {
			t.Skipf("no PostgreSQL: set %s (scripts/postgres.sh start) to run the upgrade on PostgreSQL", pgtest.EnvURL)
		}
	}
	namechainUpgrade(t, pgtest.NewDatabase(t))
}
