package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/serviceworker"
	"github.com/chromedp/chromedp"
)

// A phone-sized screen, as an iPhone 14 or a Pixel 7 has.
const (
	phoneW, phoneH = 390, 844
	phoneUA        = "Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Mobile Safari/537.36"
	// The longest any single wait may take; most take milliseconds.
	waitFor = 10 * time.Second
)

// cspProbe reports every Content-Security-Policy violation (Trusted Types
// included) as a console error, which fails the test.
const cspProbe = `document.addEventListener('securitypolicyviolation', (e) => {
  console.error('CSP violation: ' + e.violatedDirective + ' blocked ' + (e.blockedURI || e.sample));
}, true);`

// phone is one browser tab in its own browser context: its own cookies,
// storage and service worker, like a phone of its own.
type phone struct {
	t   *testing.T
	ctx context.Context
	srv *server

	mu      sync.Mutex
	console []chromedp.ConsoleMessage
	dialogs []string
	// swErrors are errors the service worker reported.
	swErrors []string
	// expected are browser network-log lines a test causes on purpose.
	expected []func(chromedp.ConsoleMessage) bool
}

// allowHTTP accepts Chromium's network log line for an answer with this
// status from a URL containing path ("Failed to load resource: the server
// responded with a status of 401"): the app asked, and the status is the
// expected answer, e.g. 401 for an unpaired phone. Script errors, CSP
// violations and other log lines still fail the test.
func (p *phone) allowHTTP(path string, status int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.expected = append(p.expected, func(m chromedp.ConsoleMessage) bool {
		return m.Source == "network" && strings.Contains(m.URL, path) && strings.Contains(m.Text, fmt.Sprintf("status of %d ", status))
	})
}

// allowNetworkDown accepts the network log lines of requests that failed
// because the test stopped the server.
func (p *phone) allowNetworkDown() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.expected = append(p.expected, func(m chromedp.ConsoleMessage) bool {
		return m.Source == "network" && strings.Contains(m.Text, "net::ERR_")
	})
}

func newPhone(t *testing.T, srv *server) *phone {
	t.Helper()
	needBrowser(t)
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	p := &phone{t: t, ctx: ctx, srv: srv}
	// Cleanups run last-in first-out: check the console, then close.
	t.Cleanup(cancel)
	t.Cleanup(p.checkConsole)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	messages := chromedp.Console(ctx)
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	swErrors := chromedp.Events(ctx, serviceworker.WorkerErrorReported)
	go func() {
		for e, err := range swErrors {
			if err != nil {
				return
			}
			p.mu.Lock()
			p.swErrors = append(p.swErrors, fmt.Sprintf("%s:%d: %s", e.ErrorMessage.SourceURL, e.ErrorMessage.LineNumber, e.ErrorMessage.ErrorMessage))
			p.mu.Unlock()
		}
	}()
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			p.mu.Lock()
			p.console = append(p.console, m)
			p.mu.Unlock()
		}
	}()
	go func() {
		for d, err := range dialogs {
			if err != nil {
				return
			}
			p.mu.Lock()
			p.dialogs = append(p.dialogs, d.Message)
			p.mu.Unlock()
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	p.do("set up the phone",
		chromedp.EmulateViewport(phoneW, phoneH, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait, chromedp.EmulateScale(2)),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			if _, err := chromedp.Call(ctx, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{
				UserAgent: phoneUA, AcceptLanguage: "en-US", Platform: "Linux armv8l",
			}); err != nil {
				return err
			}
			if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspProbe}); err != nil {
				return err
			}
			// Reports the service worker's own errors (WorkerErrorReported).
			_, err := chromedp.Call(ctx, serviceworker.Enable, cdp.Empty{})
			return err
		}))
	return p
}

// checkConsole fails the test for any console error, warning, uncaught
// exception, CSP violation or JavaScript dialog the app caused.
func (p *phone) checkConsole() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range p.console {
		switch m.Type {
		case chromedp.ConsoleError, chromedp.ConsoleException, chromedp.ConsoleWarning, "assert":
			if slices.ContainsFunc(p.expected, func(ok func(chromedp.ConsoleMessage) bool) bool { return ok(m) }) {
				continue
			}
			p.t.Errorf("console %s at %s:%d: %s", m.Type, m.URL, m.Line+1, m.Text)
		}
	}
	for _, e := range p.swErrors {
		p.t.Errorf("service worker error: %s", e)
	}
	for _, d := range p.dialogs {
		p.t.Errorf("the page opened a JavaScript dialog: %q", d)
	}
}

func (p *phone) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitFor)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.t.Fatalf("%s: %v\npage: %s", what, err, p.pageText())
	}
}

// open loads a path of the server and waits for its load event.
func (p *phone) open(path string) {
	p.t.Helper()
	p.do("open "+path, chromedp.Navigate(p.srv.URL+path))
}

// tap taps the element css names. The app redraws a section when data
// arrives, so the node found can be replaced before the tap lands ("Could
// not find node"): then the element is looked up again, a few times.
func (p *phone) tap(css string) {
	p.t.Helper()
	var err error
	for range 5 {
		ctx, cancel := context.WithTimeout(p.ctx, waitFor)
		err = chromedp.Do(ctx, chromedp.Tap(chromedp.CSS(css), chromedp.NodeVisible))
		cancel()
		if err == nil || !strings.Contains(err.Error(), "Could not find node") {
			break
		}
	}
	if err != nil {
		p.t.Fatalf("tap %s: %v\npage: %s", css, err, p.pageText())
	}
}

// eval runs an expression in the page and decodes its JSON value into out.
func (p *phone) eval(expr string, out any) error {
	ctx, cancel := context.WithTimeout(p.ctx, waitFor)
	defer cancel()
	// Promises are awaited, so expr may be async.
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](`(async () => JSON.stringify(await (`+expr+`)))()`, chromedp.EvalAwaitPromise))
	if err != nil {
		return err
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return fmt.Errorf("decode %s: %w", raw, err)
	}
	return json.Unmarshal([]byte(s), out)
}

// js evaluates an expression and fails the test if that fails.
func (p *phone) js(expr string, out any) {
	p.t.Helper()
	if err := p.eval(expr, out); err != nil {
		p.t.Fatalf("evaluate %s: %v", expr, err)
	}
}

// wait polls a JavaScript condition until it holds. chromedp's Poll
// compiles its predicate with new Function, which the app's CSP forbids,
// so this loop evaluates the expression itself.
func (p *phone) wait(what, cond string) {
	p.t.Helper()
	deadline := time.Now().Add(waitFor)
	var lastErr error
	for {
		var ok bool
		if lastErr = p.eval(`Boolean(await (`+cond+`))`, &ok); lastErr == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("waited %s for %s (%s); last error: %v\npage: %s", waitFor, what, cond, lastErr, p.pageText())
		}
		time.Sleep(40 * time.Millisecond)
	}
}

func (p *phone) text(css string) string {
	p.t.Helper()
	var s string
	p.js(fmt.Sprintf(`(document.querySelector(%q) || {}).innerText || ''`, css), &s)
	return s
}

// pageText is the visible text, for failure messages.
func (p *phone) pageText() string {
	var s string
	if err := p.eval(`location.pathname + ' | ' + document.body.innerText.slice(0, 600)`, &s); err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	return strings.Join(strings.Fields(s), " ")
}

// dark switches the emulated system colour scheme.
func (p *phone) dark(on bool) {
	p.t.Helper()
	p.media(on, false)
}

// media sets the emulated system preferences: colour scheme and motion.
func (p *phone) media(dark, reduceMotion bool) {
	p.t.Helper()
	scheme, motion := "light", "no-preference"
	if dark {
		scheme = "dark"
	}
	if reduceMotion {
		motion = "reduce"
	}
	p.do("emulate "+scheme+", motion "+motion, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}, {Name: "prefers-reduced-motion", Value: motion}},
		})
		return err
	}))
}

// shot captures the screen; with -update-screenshots it goes to the docs.
func (p *phone) shot(name string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitFor)
	defer cancel()
	// Let the new-event highlight finish and drop the caret, so the
	// picture is the screen at rest.
	p.js(`document.activeElement && document.activeElement.blur && document.activeElement.blur(), true`, new(bool))
	p.wait("animations to end", `document.getAnimations().every(a => a.effect.getComputedTiming().iterations === Infinity || a.playState !== 'running')`)
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := p.t.TempDir()
	if *updateShots {
		dir = filepath.Join("..", "docs", "screenshots")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			p.t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		p.t.Fatalf("save screenshot: %v", err)
	}
}

// deviceToken is the HttpOnly cookie the phone got when it paired: the
// test reads it through DevTools to ask the API what the phone's state is.
func (p *phone) deviceToken() string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitFor)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{p.srv.URL + "/"}})
	if err != nil {
		p.t.Fatalf("read cookies: %v", err)
	}
	for _, c := range res.Cookies {
		if c.Name == "observable_device" {
			if !c.HTTPOnly {
				p.t.Errorf("the device cookie is readable by scripts (HttpOnly is off)")
			}
			return c.Value
		}
	}
	return ""
}

// pair opens a pairing link and taps the button, as a person would after
// scanning the QR code, and waits for the app to open.
func (p *phone) pair(s session) {
	p.t.Helper()
	p.open("/pair/" + s.Code)
	p.wait("the pair button", `document.querySelector('#pair-button') && document.querySelector('#device-name').value !== ''`)
	p.tap("#pair-button")
	p.wait("the app after pairing", `location.pathname === '/' && document.querySelector('#view h1')`)
}
