package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chuiDelivery is one request a channel made to the test's receiver.
type chuiDelivery struct {
	Path   string
	Header http.Header
	Body   []byte
}

// chuiReceiver stands in for ntfy and a webhook's receiver (200 to all),
// and for a deleted Slack webhook (404 at /gone).
type chuiReceiver struct {
	*httptest.Server
	mu  sync.Mutex
	got []chuiDelivery
}

func chuiReceive(t *testing.T) *chuiReceiver {
	r := &chuiReceiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, chuiDelivery{Path: req.URL.Path, Header: req.Header.Clone(), Body: body})
		r.mu.Unlock()
		if req.URL.Path == "/gone" {
			http.Error(w, "no_service", http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(r.Close)
	return r
}

// chuiWaitFor polls the receiver until a request to path has arrived.
func (r *chuiReceiver) chuiWaitFor(t *testing.T, path string) chuiDelivery {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r.mu.Lock()
		i := slices.IndexFunc(r.got, func(d chuiDelivery) bool { return d.Path == path })
		var d chuiDelivery
		if i >= 0 {
			d = r.got[i]
		}
		r.mu.Unlock()
		if i >= 0 {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing arrived at %s within 20 s", path)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// chuiChannel is the part of a CHANNEL the test looks at.
type chuiChannel struct {
	ID        string   `json:"id"`
	Type      string   `json:"type"`
	Notify    string   `json:"notify"`
	Muted     []string `json:"muted"`
	URL       string   `json:"url"`
	Secret    string   `json:"secret"`
	Server    string   `json:"server"`
	Topic     string   `json:"topic"`
	LastError *struct {
		At      string `json:"at"`
		Message string `json:"message"`
	} `json:"last_error"`
}

func chuiList(t *testing.T, srv *server, token string) []chuiChannel {
	t.Helper()
	var out struct {
		Channels []chuiChannel `json:"channels"`
	}
	if code := srv.call("GET", "/api/v1/channels", token, nil, &out); code != http.StatusOK {
		t.Fatalf("GET /api/v1/channels: status %d", code)
	}
	return out.Channels
}

func chuiByType(t *testing.T, list []chuiChannel, typ string) chuiChannel {
	t.Helper()
	i := slices.IndexFunc(list, func(c chuiChannel) bool { return c.Type == typ })
	if i < 0 {
		t.Fatalf("the API lists no %s channel: %+v", typ, list)
	}
	return list[i]
}

// chuiChoose picks an option of a select as a person would: the value,
// then the change event.
func chuiChoose(p *phone, css, value string) {
	p.t.Helper()
	p.js(fmt.Sprintf(`(() => { const s = document.querySelector(%q); s.value = %q;
		s.dispatchEvent(new Event('change', {bubbles: true})); return s.value; })()`, css, value), new(string))
}

// chuiAdd fills in the add form for typ and taps Add.
func chuiAdd(p *phone, typ string, fields map[string]string) {
	p.t.Helper()
	chuiChoose(p, "#chan-type", typ)
	for name, v := range fields {
		p.do("type "+name, chromedp.SendKeys(chromedp.CSS(`.chan-add input[name=`+name+`]`), v))
	}
	p.tap(`.chan-add button[type=submit]`)
}

// chuiCheckFits fails the test when anything is wider than the phone's
// screen (the page would scroll sideways), naming what sticks out.
func chuiCheckFits(t *testing.T, p *phone, where string) {
	t.Helper()
	var wide []string
	p.js(`[...document.querySelectorAll('main *')].filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
		.map((e) => e.tagName.toLowerCase() + '.' + (e.getAttribute('class') || '') + '#' + e.id + ' ' + Math.round(e.getBoundingClientRect().right) + 'px')`, &wide)
	if len(wide) > 0 {
		t.Errorf("%s: wider than the %d px screen: %v", where, phoneW, wide)
	}
}

// chuiStart is a receiver, a server allowed to deliver to it (it is on
// 127.0.0.1) and a phone paired with a session that has jobs.
func chuiStart(t *testing.T) (*chuiReceiver, *server, *phone) {
	t.Helper()
	recv := chuiReceive(t)
	srv := startServer(t, "--channel-allow", "127.0.0.1")
	s := srv.newSession("etl-01")
	seedJobs(srv, s.Key)
	p := newPhone(t, srv)
	p.pair(s)
	return recv, srv, p
}

// The Channels section of Settings: add ntfy and a webhook (its secret
// shown once), change a rule, mute a job, test (the receiver gets it,
// signed with the secret the page showed), see a failed delivery, remove
// one, and the errors next to the fields they are about.
func TestChannelsUI(t *testing.T) {
	recv, srv, p := chuiStart(t)
	// Refusals are answers the test asks for: Chromium logs them.
	p.allowHTTP("/api/v1/channels", http.StatusUnprocessableEntity)
	p.allowHTTP("/api/v1/channels", http.StatusServiceUnavailable)
	p.open("/settings")
	p.wait("the channels section", `document.querySelector('#chan-type') && document.querySelector('.chan-add')`)
	if got := p.text(`section[aria-labelledby=chan-h]`); !strings.Contains(got, "None yet") {
		t.Errorf("a new session's channels: %q, want None yet", got)
	}
	token := p.deviceToken()

	// The form's own check, before any call: the field says what is missing.
	chuiChoose(p, "#chan-type", "slack")
	p.tap(`.chan-add button[type=submit]`)
	p.wait("the missing URL", `document.activeElement.name === 'url' && document.activeElement.getAttribute('aria-invalid') === 'true'`)
	if got := p.text(`.chan-add .field-error:not([hidden])`); got != "Enter the webhook URL." {
		t.Errorf("empty Slack URL: %q", got)
	}

	// ntfy: the topic is a secret on ntfy.sh, so the page shows its end only.
	const topic = "observable-e2e-k3v9x2m7"
	chuiAdd(p, "ntfy", map[string]string{"server": recv.URL, "topic": topic})
	p.wait("the ntfy channel", `document.querySelectorAll('.chan').length === 1`)
	p.wait("focus on the new channel", `document.activeElement.matches('.chan h3')`)
	name := p.text(".chan h3")
	if !strings.HasPrefix(name, "ntfy · http://127.0.0.1") || !strings.Contains(name, "…") || strings.Contains(name, topic) {
		t.Errorf("the ntfy channel is shown as %q; want its type, server and the topic masked", name)
	}
	if got := p.text(`section[aria-labelledby=chan-h]`); strings.Contains(got, "null") || strings.Contains(got, "undefined") {
		t.Errorf("the section shows a missing value as text:\n%s", got)
	}
	if got := p.text(".chan .chan-sum"); got != "Failures · No jobs muted" {
		t.Errorf("the new channel's summary: %q", got)
	}

	// The webhook: the server makes the secret and shows it this once.
	chuiAdd(p, "webhook", map[string]string{"url": recv.URL + "/hooks/observable-e2e"})
	p.wait("the webhook channel", `document.querySelectorAll('.chan').length === 2 && document.querySelector('.chan-secret input')`)
	var shown struct {
		Secret, Words, Name string
		ReadOnly            bool
	}
	p.js(`(() => { const i = document.querySelector('.chan-secret input'); const box = i.closest('.chan');
		return {Secret: i.value, ReadOnly: i.readOnly, Words: box.querySelector('.chan-secret').innerText, Name: box.querySelector('h3').innerText}; })()`, &shown)
	if len(shown.Secret) < 32 || !shown.ReadOnly || !strings.Contains(shown.Words, "Save it now: it is shown only once") {
		t.Errorf("the one-time secret: %+v", shown)
	}
	if !strings.HasPrefix(shown.Name, "Webhook · http://127.0.0.1") || strings.Contains(shown.Name, "hooks/observable-e2e") {
		t.Errorf("the webhook is shown as %q; want its URL masked", shown.Name)
	}
	p.tap(".chan-secret button")
	p.wait("the copy note", `document.querySelector('.chan-secret [role=status]').textContent !== ''`)

	list := chuiList(t, srv, token)
	hook, nt := chuiByType(t, list, "webhook"), chuiByType(t, list, "ntfy")
	if !strings.HasPrefix(hook.Secret, "…") || !strings.HasSuffix(shown.Secret, strings.TrimPrefix(hook.Secret, "…")) {
		t.Errorf("GET shows the webhook secret as %q; want it masked, ending as the one shown (%q) does", hook.Secret, shown.Secret)
	}
	if strings.Contains(nt.Topic, topic) {
		t.Errorf("GET shows the ntfy topic in full: %q", nt.Topic)
	}
	checkContrast(t, p, "settings with channels")
	chuiCheckFits(t, p, "settings with channels")
	p.dark(true)
	checkContrast(t, p, "settings with channels, dark")
	p.dark(false)

	// The rule and the muted jobs, each saved at once; the API agrees.
	ntID := "#ch-" + nt.ID
	chuiChoose(p, ntID+"-rule", "all")
	p.wait("the rule saved", fmt.Sprintf(`document.querySelector(%q).textContent === 'Saved: Everything.'`, ntID+"-note"))
	p.tap(ntID + " .chan-mutes summary")
	p.tap(ntID + ` input[value=send_report]`)
	p.wait("the mute saved", fmt.Sprintf(`document.querySelector(%q).textContent === 'Saved.' &&
		document.querySelector(%q).textContent === 'Everything · 1 job muted'`, ntID+"-note", ntID+" .chan-sum"))
	if got := chuiByType(t, chuiList(t, srv, token), "ntfy"); got.Notify != "all" || !slices.Equal(got.Muted, []string{"send_report"}) {
		t.Errorf("after the changes the API has notify %q, muted %v; want all, [send_report]", got.Notify, got.Muted)
	}

	// A test: the page says where to look, and the receiver gets it,
	// signed with the secret the page showed.
	hookID := "#ch-" + hook.ID
	p.tap(hookID + "-test")
	p.wait("the test note", fmt.Sprintf(`document.querySelector(%q).textContent.startsWith('Test sent — check your receiver at 127.0.0.1')`, hookID+"-note"))
	d := recv.chuiWaitFor(t, "/hooks/observable-e2e")
	mac := hmac.New(sha256.New, []byte(shown.Secret))
	mac.Write([]byte(d.Header.Get("X-Observable-Timestamp") + "." + string(d.Body)))
	if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); d.Header.Get("X-Observable-Signature") != want {
		t.Errorf("the test message's signature %q does not check with the secret the page showed", d.Header.Get("X-Observable-Signature"))
	}

	// A Slack webhook that was deleted: its failure shows, in words.
	chuiAdd(p, "slack", map[string]string{"url": recv.URL + "/gone"})
	p.wait("the Slack channel", `document.querySelectorAll('.chan').length === 3`)
	slack := chuiByType(t, chuiList(t, srv, token), "slack")
	p.tap("#ch-" + slack.ID + "-test")
	recv.chuiWaitFor(t, "/gone")
	deadline := time.Now().Add(20 * time.Second)
	for slack.LastError == nil {
		if time.Now().After(deadline) {
			t.Fatalf("the failed delivery left no last_error within 20 s:\n%s", srv.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
		slack = chuiByType(t, chuiList(t, srv, token), "slack")
	}
	p.open("/settings")
	p.wait("the last error", `document.querySelector('.chan-error')`)
	if got := p.text(".chan-error"); !strings.HasPrefix(got, "Last delivery failed") || !strings.Contains(got, slack.LastError.Message) {
		t.Errorf("the failed channel shows %q; want the error %q with when", got, slack.LastError.Message)
	}
	var still bool
	p.js(`Boolean(document.querySelector('.chan-secret'))`, &still)
	if still {
		t.Errorf("the webhook's secret is still shown after Settings was opened again")
	}
	chuiCheckFits(t, p, "a failed channel")
	p.js(`(document.querySelector('.chan-error').closest('.chan').scrollIntoView(), true)`, new(bool))
	p.shot("settings-channels")
	p.dark(true)
	checkContrast(t, p, "a failed channel, dark")
	p.shot("settings-channels-dark")
	p.dark(false)

	// Remove, asked in the page first (never confirm()).
	p.tap(ntID + "-remove")
	p.wait("the question", fmt.Sprintf(`document.activeElement === document.querySelector(%q)`, ntID+"-remove-no"))
	if got := p.text(ntID + " .chan-confirm"); !strings.HasPrefix(got, "Remove ntfy · ") {
		t.Errorf("the question: %q", got)
	}
	p.tap(ntID + "-remove-yes")
	p.wait("the channel gone", fmt.Sprintf(`!document.querySelector(%q) && document.activeElement.id === 'chan-h'`, ntID))
	for _, c := range chuiList(t, srv, token) {
		if c.ID == nt.ID {
			t.Errorf("the API still lists the removed channel %s", c.ID)
		}
	}

	// The server's refusals appear under the field they are about.
	chuiAdd(p, "webhook", map[string]string{"url": "http://example.com"})
	p.wait("the refused URL", `document.activeElement.name === 'url' && document.activeElement.getAttribute('aria-invalid') === 'true'`)
	var refused struct{ Error, Described string }
	p.js(`(() => { const i = document.activeElement; const e = i.closest('.field').querySelector('.field-error');
		return {Error: e.hidden ? '' : e.textContent, Described: i.getAttribute('aria-describedby')}; })()`, &refused)
	if !strings.Contains(refused.Error, "https") {
		t.Errorf("http://example.com: the URL field says %q; want the server's reason (https)", refused.Error)
	}
	if !strings.Contains(refused.Described, "-err") {
		t.Errorf("the error is not tied to its input (aria-describedby %q)", refused.Described)
	}
	// No --smtp-url here: email is refused, and said at the type.
	chuiAdd(p, "email", map[string]string{"address": "ana@example.com"})
	p.wait("email refused", `document.activeElement.id === 'chan-type' && document.activeElement.getAttribute('aria-invalid') === 'true'`)
	if got := p.text(`#chan-type-err`); !strings.Contains(got, "email") {
		t.Errorf("email without SMTP: the type field says %q", got)
	}
	if n := len(chuiList(t, srv, token)); n != 2 {
		t.Errorf("the API lists %d channels, want 2 (the webhook and Slack)", n)
	}
}
