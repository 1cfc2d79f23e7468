package e2e

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

func TestSettingsRoundTripAndUnpair(t *testing.T) {
	srv := startServer(t)
	s := srv.newSession("etl-01")
	seedJobs(srv, s.Key)
	p := newPhone(t, srv)
	p.pair(s)
	p.wait("the feed", `document.querySelectorAll('.events > li').length > 0`)

	p.tap(`#tabs a[data-tab="settings"]`)
	p.wait("the settings", `location.pathname === '/settings' && document.querySelector('#push-switch')`)
	p.wait("focus on the heading", `document.activeElement === document.querySelector('#view h1')`)
	var before struct {
		Notify     string
		Permission string
		Switch     string
	}
	p.js(`({Notify: document.querySelector('input[name=notify]:checked').value, Permission: Notification.permission,
		Switch: document.querySelector('#push-switch').getAttribute('aria-checked')})`, &before)
	if before.Notify != "failures" || before.Switch != "false" {
		t.Errorf("fresh settings: notify %q, push switch %s; want failures and off", before.Notify, before.Switch)
	}
	// Nothing asks for permission until the user taps the switch.
	if before.Permission != "default" {
		t.Errorf("Notification.permission is %q before any tap, want default (never prompted)", before.Permission)
	}
	checkContrast(t, p, "settings")
	p.shot("settings")
	p.dark(true)
	checkContrast(t, p, "settings, dark")
	p.shot("settings-dark")
	p.dark(false)

	// Change everything, then reload.
	p.tap(`input[name=notify][value=all]`)
	p.wait("the rule saved", `document.querySelector('fieldset .hint[role=status]').textContent === 'Saved.'`)
	p.tap(`input[name=muted][value=send_report]`)
	p.wait("the mute saved", `document.querySelectorAll('.set')[1].querySelector('[role=status]').textContent === 'Saved.'`)
	p.js(`(() => { const i = document.querySelector('#device-name'); i.value = 'Ana’s Pixel'; return true; })()`, new(bool))
	p.tap(`#device-name + button, .row button[type=submit]`)
	p.wait("the name saved", `document.querySelectorAll('.set')[2].querySelector('[role=status]').textContent === 'Saved.'`)

	p.open("/settings")
	p.wait("the settings after reload", `document.querySelector('input[name=notify]:checked')`)
	var after struct {
		Notify string
		Muted  []string
		Name   string
	}
	p.js(`({Notify: document.querySelector('input[name=notify]:checked').value,
		Muted: [...document.querySelectorAll('input[name=muted]:checked')].map(i => i.value),
		Name: document.querySelector('#device-name').value})`, &after)
	if after.Notify != "all" || !slices.Equal(after.Muted, []string{"send_report"}) || after.Name != "Ana’s Pixel" {
		t.Errorf("after reload: %+v; want notify all, send_report muted, the new name", after)
	}

	// The API agrees: ask it with the phone's own device token.
	token := p.deviceToken()
	var dev struct {
		Name   string   `json:"name"`
		Notify string   `json:"notify"`
		Muted  []string `json:"muted"`
	}
	if code := srv.call("GET", "/api/v1/device", token, nil, &dev); code != http.StatusOK ||
		dev.Notify != "all" || !slices.Equal(dev.Muted, []string{"send_report"}) || dev.Name != "Ana’s Pixel" {
		t.Errorf("GET /api/v1/device: status %d, %+v", code, dev)
	}

	// The job page's switch is the same muted list, seen from the job.
	p.open("/jobs/send_report")
	p.wait("the job's notification switch", `document.querySelector('.switch[role=switch]')`)
	if got := p.text(".set"); !strings.Contains(got, "Notifications from this job") {
		t.Errorf("job page notification row: %q", got)
	}
	var checked string
	p.js(`document.querySelector('.set .switch').getAttribute('aria-checked')`, &checked)
	if checked != "false" {
		t.Errorf("send_report is muted but its switch says notifications are %s", checked)
	}

	// Unpair: the not-paired screen, and the token is dead at once.
	p.open("/settings")
	p.wait("the unpair button", `document.querySelector('#unpair')`)
	p.tap("#unpair")
	p.wait("the confirmation", `document.querySelector('dialog[open]')`)
	// Unpaired, the app's calls get 401 (which Chromium logs): that is
	// how it knows to show the not-paired screen.
	p.allowHTTP("/api/v1/", 401)
	p.tap("#confirm-unpair")
	p.wait("the not-paired screen", `document.querySelector('#not-paired') && document.body.classList.contains('unpaired')`)
	if got := p.text("#not-paired"); !strings.Contains(got, "observable pair") || !strings.Contains(got, "observable setup") {
		t.Errorf("not-paired screen does not say how to pair:\n%s", got)
	}
	if code := srv.call("GET", "/api/v1/device", token, nil, nil); code != http.StatusUnauthorized {
		t.Errorf("GET /api/v1/device with the unpaired token: status %d, want 401", code)
	}
	checkContrast(t, p, "not-paired screen")
	p.shot("not-paired")
	// Opening the app again still shows it.
	p.open("/")
	p.wait("the not-paired screen after reload", `document.querySelector('#not-paired')`)

	// An installed app pairs by pasting the link `observable pair` prints.
	var pairing struct {
		URL string `json:"url"`
	}
	if code := srv.call("POST", "/api/v1/pairings", s.Key, map[string]bool{"replace": false}, &pairing); code != http.StatusCreated {
		t.Fatalf("POST /api/v1/pairings: status %d", code)
	}
	p.do("paste the link", chromedp.SendKeys(chromedp.CSS("#pair-link"), pairing.URL))
	p.tap("#pair-paste button[type=submit]")
	p.wait("the feed after pasting", `location.pathname === '/' && document.querySelectorAll('.events > li').length > 0`)
	if p.deviceToken() == token {
		t.Errorf("pairing again kept the unpaired token")
	}
}
