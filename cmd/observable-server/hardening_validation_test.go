package main

// Issue 9, findings 4 and 5: strings no database stores as sent (NUL,
// invalid UTF-8) are refused with a 400 naming the field, on SQLite and on
// PostgreSQL, while the honest posts of other sessions that share their
// group commits are all stored; and what GET /api/v1/events serves is
// strict JSON.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/observable-code/observable/internal/pgtest"
)

func TestValidHostileStringsSQLite(t *testing.T) {
	validHostileStrings(t, filepath.Join(t.TempDir(), "valid.db"))
}

func TestValidHostileStringsPostgres(t *testing.T) {
	validHostileStrings(t, pgtest.NewDatabase(t))
}

// validCase is one hostile request and the field its 400 must name.
type validCase struct {
	method, path, body string
	token              string // "" for the hostile session's key
	field              string
	index              int // -1: not a batch
}

// validErrorBody is the contract's error body.
type validErrorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
		Index   *int   `json:"index"`
	} `json:"error"`
}

func validHostileStrings(t *testing.T, db string) {
	p := launch(t, db)
	awaitReady(t, 30*time.Second, p)
	hostile, code := newSession(t, p)
	const nul, ff = `\u0000`, "\xff"

	// The phone's strings: at the claim, then in its settings.
	r := callAPI("POST", p.url+"/api/v1/pairings/"+code+"/claim", "", `{"name":"phone`+nul+`"}`)
	validExpect(t, r, "claim", "name", -1)
	validExpect(t, callAPI("POST", p.url+"/api/v1/pairings/"+code+"/claim", "", `{"name":"phone\ud800"}`), "claim", "name", -1)
	device := claimPairing(t, p, code)
	validExpect(t, callAPI("POST", p.url+"/api/v1/sessions", "", `{"host":"build`+nul+`"}`), "session host", "host", -1)
	validExpect(t, callAPI("POST", p.url+"/api/v1/sessions", "", `{"host":"build\udbff"}`), "session host", "host", -1)

	cases := []validCase{
		{"POST", "/api/v1/events", `{"name":"job` + nul + `","status":"failed"}`, "", "name", -1},
		{"POST", "/api/v1/events", `{"name":"job` + ff + `","status":"failed"}`, "", "name", -1},
		{"POST", "/api/v1/events", `{"name":"j","status":"failed","error":{"type":"E","message":"m` + nul + `"}}`, "", "error.message", -1},
		{"POST", "/api/v1/events", `{"name":"j","status":"failed","error":{"type":"E` + ff + `","message":""}}`, "", "error.type", -1},
		{"POST", "/api/v1/events", `{"name":"j","status":"completed","source":{"host":"h` + nul + `"}}`, "", "source", -1},
		{"POST", "/api/v1/events", `{"name":"j","status":"completed","metadata":{"k":"v` + nul + `"}}`, "", "metadata", -1},
		{"POST", "/api/v1/events", `{"name":"j","status":"completed","metadata":{"k":{"deep":["v` + ff + `"]}}}`, "", "metadata", -1},
		{"POST", "/api/v1/events", `{"events":[{"name":"ok","status":"completed"},{"name":"j","status":"completed","metadata":{"k` + ff + `":1}}]}`, "", "metadata", 1},
		{"POST", "/api/v1/events", `{"name":"j","status":"completed","duration_ms":"slow"}`, "", "duration_ms", -1},
		{"PATCH", "/api/v1/device", `{"name":"phone` + nul + `"}`, device, "name", -1},
		{"PATCH", "/api/v1/device", `{"muted":["ok","job` + nul + `"]}`, device, "muted[1]", -1},
		{"GET", "/api/v1/events?name=job%00", "", "", "name", -1},
		{"GET", "/api/v1/events?name=job%FF", "", "", "name", -1},
		{"GET", "/api/v1/events?status=failed%00", "", "", "status", -1},
		// Unpaired surrogate escapes (the audit's G2): no character, and
		// refused by strict parsers (and PostgreSQL's jsonb); metadata and
		// source used to keep them as sent, strings to turn them into U+FFFD.
		{"POST", "/api/v1/events", `{"name":"j","status":"completed","metadata":{"k":"\ud800"}}`, "", "metadata", -1},
		{"POST", "/api/v1/events", `{"name":"j","status":"completed","metadata":{"a":[{"\udc00":1}]}}`, "", "metadata", -1},
		{"POST", "/api/v1/events", `{"name":"j","status":"completed","source":{"argv":["x\ud83d\u0041"]}}`, "", "source", -1},
		{"POST", "/api/v1/events", `{"events":[{"name":"ok","status":"completed"},{"name":"j\ud800","status":"completed"}]}`, "", "name", 1},
		{"POST", "/api/v1/events", `{"name":"j","status":"failed","error":{"type":"E","message":"\udfff"}}`, "", "error.message", -1},
		{"POST", "/api/v1/events", `{"name":"j","status":"completed","run":"r\ud800"}`, "", "run", -1},
		{"PATCH", "/api/v1/device", `{"name":"phone\ud800"}`, device, "name", -1},
		{"PATCH", "/api/v1/device", `{"muted":["ok","job\udc00"]}`, device, "muted[1]", -1},
		{"PATCH", "/api/v1/device", `{"muted":["ok","job` + ff + `"]}`, device, "muted[1]", -1},
	}

	// Honest sessions post while the hostile one does, so that both share
	// group commits: on PostgreSQL one bad string used to fail them all.
	const sessions, posts = 8, 40
	keys := make([]string, sessions)
	for i := range keys {
		keys[i], _ = newSession(t, p)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var honestFailures []string
	done := make(chan struct{})
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < sessions*posts; i += 16 {
				key := keys[i%sessions]
				r := callAPI("POST", p.url+"/api/v1/events", key,
					fmt.Sprintf(`{"id":"h%d","name":"honest_%d","status":"completed","metadata":{"i":%d,"t":"caf\u00e9 é \ud83d\ude00"}}`, i, i%5, i))
				if r.status != http.StatusAccepted {
					mu.Lock()
					honestFailures = append(honestFailures, fmt.Sprintf("%d %v %s", r.status, r.err, r.body))
					mu.Unlock()
				}
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()
	rounds := 0
	for running := true; running && rounds < 30; rounds++ {
		for _, c := range cases {
			token := c.token
			if token == "" {
				token = hostile
			}
			validExpect(t, callAPI(c.method, p.url+c.path, token, c.body), c.method+" "+c.path+" "+c.body, c.field, c.index)
		}
		select {
		case <-done:
			running = false
		default:
		}
	}
	<-done
	t.Logf("%d rounds of %d hostile requests during %d honest posts", rounds, len(cases), sessions*posts)
	if len(honestFailures) > 0 {
		t.Fatalf("%d of %d honest posts failed while another session posted hostile strings (%d rounds), e.g. %s",
			len(honestFailures), sessions*posts, rounds, honestFailures[0])
	}

	// Every honest event is stored once; every answer is strict JSON.
	for _, key := range append(keys, hostile, device) {
		total := 0
		for before := ""; ; {
			r := mustCall(t, http.StatusOK, "GET", p.url+"/api/v1/events?limit=200"+before, key, "", nil)
			if !json.Valid(r.body) || !utf8.Valid(r.body) {
				t.Fatalf("GET /api/v1/events is not strict JSON: %q", r.body)
			}
			var page struct {
				Events     []json.RawMessage `json:"events"`
				NextBefore *int64            `json:"next_before"`
			}
			if err := json.Unmarshal(r.body, &page); err != nil {
				t.Fatal(err)
			}
			total += len(page.Events)
			if page.NextBefore == nil {
				break
			}
			before = fmt.Sprintf("&before=%d", *page.NextBefore)
		}
		switch {
		case key == hostile || key == device:
			if total != 0 {
				t.Fatalf("the hostile session has %d events stored, want none", total)
			}
		case total != posts:
			t.Fatalf("an honest session has %d events stored, want %d", total, posts)
		}
	}
}

// validExpect checks that r is a 400 naming field (and index, for a batch).
func validExpect(t *testing.T, r apiReply, what, field string, index int) {
	t.Helper()
	var e validErrorBody
	if r.err != nil || r.status != http.StatusBadRequest || json.Unmarshal(r.body, &e) != nil {
		t.Fatalf("%s: %d %v %s; want 400 naming %s", what, r.status, r.err, r.body, field)
	}
	if e.Error.Field != field || (index >= 0) != (e.Error.Index != nil) || (index >= 0 && *e.Error.Index != index) {
		t.Fatalf("%s: %s; want field %q index %d", what, r.body, field, index)
	}
}
