package e2e

import (
	"context"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

func TestAppOpensOfflineFromTheServiceWorker(t *testing.T) {
	srv := startServer(t)
	s := srv.newSession("etl-01")
	srv.post(s.Key,
		map[string]any{"name": "nightly_sync", "status": "completed", "duration_ms": 2100},
		map[string]any{"name": "nightly_sync", "status": "failed", "duration_ms": 3300,
			"error": map[string]any{"type": "KeyError", "message": "'customer_id'"}})
	p := newPhone(t, srv)
	p.pair(s)
	p.wait("the feed", `document.querySelectorAll('.events > li').length === 2`)
	p.wait("the service worker in control", `navigator.serviceWorker.controller !== null`)
	// Now controlled, a second load passes the API through the worker,
	// which keeps its answers for offline use.
	p.open("/")
	p.wait("the feed through the worker", `document.querySelectorAll('.events > li').length === 2 && document.querySelector('#conn').dataset.state === 'live'`)

	// The server goes away (the phone loses the network).
	p.allowNetworkDown()
	srv.stop()
	p.open("/")
	p.wait("the feed from saved data", `document.querySelectorAll('.events > li').length === 2`)
	p.wait("the offline notice", `document.querySelector('#conn-text').textContent === 'Offline · saved data'`)
	if got := p.text(".events > li:first-child"); !strings.Contains(got, "KeyError") {
		t.Errorf("offline feed shows %q, want the saved failure", got)
	}
}

// TestFirstLoadIsUnder100KB measures every byte a phone downloads to open
// the app the first time (empty cache), by the browser's own network events:
// bodies as decoded, which is their size before any compression.
func TestFirstLoadIsUnder100KB(t *testing.T) {
	srv := startServer(t)
	s := srv.newSession("etl-01")
	seedJobs(srv, s.Key)
	var claim struct {
		Token string `json:"device_token"`
	}
	if code := srv.call("POST", "/api/v1/pairings/"+s.Code+"/claim", "", map[string]string{"name": "bench"}, &claim); code != http.StatusCreated {
		t.Fatalf("claim: status %d", code)
	}
	p := newPhone(t, srv)
	u, _ := url.Parse(srv.URL)
	p.do("set the device cookie", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, network.SetCookie, network.SetCookieParams{
			Name: "observable_device", Value: claim.Token, Domain: u.Hostname(), Path: "/", HTTPOnly: new(true)})
		return err
	}))

	var mu sync.Mutex
	urls := map[network.RequestID]string{}
	sizes := map[network.RequestID]int64{}
	responses := chromedp.Events(p.ctx, network.ResponseReceived)
	data := chromedp.Events(p.ctx, network.DataReceived)
	go func() {
		for ev, err := range responses {
			if err != nil {
				return
			}
			mu.Lock()
			urls[ev.RequestID] = ev.Response.URL
			mu.Unlock()
		}
	}()
	go func() {
		for ev, err := range data {
			if err != nil {
				return
			}
			mu.Lock()
			sizes[ev.RequestID] += ev.DataLength
			mu.Unlock()
		}
	}()
	p.open("/")
	p.wait("the feed", `document.querySelectorAll('.events > li').length === 50 && document.querySelector('#conn').dataset.state === 'live'`)
	// The icon loads after the feed shows: wait for its bytes (bounded; what
	// arrived is measured either way). Chromium fetches the manifest only
	// when it needs it (installing), so it is not awaited.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		icon := false
		for id, u := range urls {
			icon = icon || strings.Contains(u, "/icon.svg") && sizes[id] > 0
		}
		mu.Unlock()
		if icon {
			break
		}
	}

	mu.Lock()
	defer mu.Unlock()
	var app, apiData int64
	var lines []string
	for id, size := range sizes {
		path := strings.TrimPrefix(urls[id], srv.URL)
		if strings.HasPrefix(path, "/api/") {
			apiData += size
		} else {
			app += size
		}
		lines = append(lines, path+" "+strconv.FormatInt(size, 10))
	}
	sort.Strings(lines)
	t.Logf("first load of /: app files %d bytes (%.1f KB), API data %d bytes (%.1f KB), %d responses:\n  %s",
		app, float64(app)/1024, apiData, float64(apiData)/1024, len(lines), strings.Join(lines, "\n  "))
	if app == 0 || len(lines) < 10 {
		t.Fatalf("measured %d bytes in %d responses: the probe saw nothing", app, len(lines))
	}
	if app >= 100*1024 {
		t.Errorf("the app's first load is %d bytes, over the 100 KB budget", app)
	}
}
