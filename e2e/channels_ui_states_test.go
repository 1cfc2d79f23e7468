package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// chuiRewriteList changes the page's next GET /api/v1/channels answer with
// edit, to show states the server reaches only with time (a channel turned
// off after an hour of failures) or with a mail server (an address waiting
// for its confirmation). Every other call, and every later list, is the
// server's own. The service worker is bypassed so the page's own request is
// the one paused.
func chuiRewriteList(p *phone, edit func([]map[string]any) []map[string]any) {
	p.t.Helper()
	paused := chromedp.Events(p.ctx, fetch.RequestPaused)
	p.do("intercept the channel list", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		if _, err := chromedp.Call(ctx, network.SetBypassServiceWorker, network.SetBypassServiceWorkerParams{Bypass: true}); err != nil {
			return err
		}
		_, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{
			{URLPattern: "*/api/v1/channels", RequestStage: fetch.RequestStageResponse}}})
		return err
	}))
	go func() {
		done := false
		for ev, err := range paused {
			if err != nil {
				return
			}
			if done || ev.Request.Method != http.MethodGet {
				chromedp.Call(p.ctx, fetch.ContinueResponse, fetch.ContinueResponseParams{RequestID: ev.RequestID})
				continue
			}
			done = true
			body, err := chromedp.Call(p.ctx, fetch.GetResponseBody, fetch.GetResponseBodyParams{RequestID: ev.RequestID})
			var list struct {
				Channels []map[string]any `json:"channels"`
			}
			if err == nil {
				err = json.Unmarshal(body.Body, &list)
			}
			if err != nil {
				p.t.Errorf("read the channel list to rewrite: %v", err)
				chromedp.Call(p.ctx, fetch.ContinueResponse, fetch.ContinueResponseParams{RequestID: ev.RequestID})
				continue
			}
			list.Channels = edit(list.Channels)
			out, _ := json.Marshal(list)
			chromedp.Call(p.ctx, fetch.FulfillRequest, fetch.FulfillRequestParams{RequestID: ev.RequestID, ResponseCode: 200,
				ResponseHeaders: []*fetch.HeaderEntry{{Name: "Content-Type", Value: "application/json"}}, Body: out})
		}
	}()
}

// A channel that turned itself off says when and why and offers to turn
// it on again (a real PATCH); an email address not confirmed yet says so.
func TestChannelsUIStates(t *testing.T) {
	recv, srv, p := chuiStart(t)
	token := p.deviceToken()
	var hook chuiChannel
	if code := srv.call("POST", "/api/v1/channels", token, map[string]any{"type": "webhook", "url": recv.URL + "/hook"}, &hook); code != http.StatusCreated {
		t.Fatalf("POST /api/v1/channels: status %d", code)
	}
	off := time.Date(2026, 3, 9, 8, 0, 0, 0, time.UTC)
	const reason = "Turned off after 5 failed deliveries: the receiver answered 500"
	chuiRewriteList(p, func(list []map[string]any) []map[string]any {
		for _, c := range list {
			if c["id"] == hook.ID {
				c["notify"], c["disabled_at"] = "off", off.Format(time.RFC3339)
				c["last_error"] = map[string]any{"at": off.Format(time.RFC3339), "message": reason}
			}
		}
		return append(list, map[string]any{"id": "ch_unconfirmed", "type": "email", "notify": "failures", "muted": []string{},
			"verified": false, "last_error": nil, "disabled_at": nil, "address": "ana@example.com", "created_at": off.Format(time.RFC3339)})
	})
	p.open("/settings")
	p.wait("the two channels", `document.querySelectorAll('.chan').length === 2`)

	id := "#ch-" + hook.ID
	lines := p.text(id + " .chan-state")
	if want := "Turned off on " + off.Format("Jan 2, 2006") + " after repeated failures"; !strings.Contains(lines, want) || !strings.Contains(lines, reason) {
		t.Errorf("the turned-off channel says %q; want %q and the reason", lines, want)
	}
	if got := p.text("#ch-ch_unconfirmed .chan-state"); !strings.HasPrefix(got, "Waiting for you to confirm ana@example.com") {
		t.Errorf("the unconfirmed address says %q", got)
	}
	checkContrast(t, p, "channel states")
	p.dark(true)
	checkContrast(t, p, "channel states, dark")
	p.dark(false)

	// Turning it on again is the server's PATCH; the page follows its answer.
	p.tap(id + "-on")
	p.wait("on again", `document.querySelector('`+id+`-note').textContent.startsWith('On again')`)
	p.wait("focus on the rule", `document.activeElement === document.querySelector('`+id+`-rule')`)
	var after struct {
		Rule string
		Off  bool
	}
	p.js(`({Rule: document.querySelector('`+id+`-rule').value, Off: Boolean(document.querySelector('`+id+` .chan-off'))})`, &after)
	if after.Rule != "failures" || after.Off {
		t.Errorf("after turning it on: rule %q, still shown off %v", after.Rule, after.Off)
	}
	if got := chuiByType(t, chuiList(t, srv, token), "webhook"); got.Notify != "failures" {
		t.Errorf("the API has notify %q after Turn on again, want failures", got.Notify)
	}
}
