package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// TestListsAreBoundedByBytes: GET /api/v1/events?limit=200 answered up to
// 200 whole events of up to --max-body-bytes each (200 MiB in one answer).
// Now an answer stops at a byte budget and next_before carries the client
// on, so paging still returns every event once.
func TestListsAreBoundedByBytes(t *testing.T) {
	p := startServer(t, filepath.Join(t.TempDir(), "o.db"), freePort(t))
	key := p.createSession()
	const n = 24
	big := strings.Repeat("x", 900<<10) // each event is ~0.9 MiB
	for i := range n {
		body := fmt.Sprintf(`{"id":"e%d","name":"big","status":"failed","error":{"type":"E","message":"m","traceback":%q}}`, i, big)
		if code, err := post(http.DefaultClient, p.url, key, body); err != nil || code != 202 {
			t.Fatalf("post %d: %d %v", i, code, err)
		}
	}
	seen := map[string]int{}
	before, pages := "", 0
	for {
		url := p.url + "/api/v1/events?limit=200" + before
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
		}
		if len(raw) > 4<<20 {
			t.Fatalf("one answer is %d bytes; want it bounded (≤ 4 MiB)", len(raw))
		}
		var page struct {
			Events []struct {
				ID string `json:"id"`
			} `json:"events"`
			NextBefore *int64 `json:"next_before"`
		}
		if err := json.Unmarshal(raw, &page); err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Events {
			seen[e.ID]++
		}
		pages++
		if page.NextBefore == nil {
			break
		}
		if pages > n {
			t.Fatalf("paging does not end after %d pages", pages)
		}
		before = fmt.Sprintf("&before=%d", *page.NextBefore)
	}
	if len(seen) != n {
		t.Fatalf("paging returned %d distinct events, want %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Fatalf("event %s returned %d times", id, c)
		}
	}
	if pages < 2 {
		t.Fatalf("%d events of 0.9 MiB came in %d answer(s): no byte bound", n, pages)
	}
}
