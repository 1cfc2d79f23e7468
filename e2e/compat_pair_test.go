package e2e

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// compatSession is a session with one event, so that the feed the phone
// opens after pairing has something to show.
func compatSession(srv *server) session {
	s := srv.newSession("ana-laptop")
	srv.post(s.Key, map[string]any{"name": "nightly_sync", "status": "completed", "duration_ms": 1200})
	return s
}

// compatBeforeLoad runs a script in every document the phone opens from
// now on, before the app's own scripts.
func compatBeforeLoad(p *phone, js string) {
	p.t.Helper()
	p.do("add a script before load", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: js})
		return err
	}))
}

// compatNotPaired opens the app on a phone that has never paired.
func compatNotPaired(p *phone) {
	p.t.Helper()
	// Unpaired, the app's first calls get 401 (which Chromium logs): that is
	// how it knows to show the not-paired screen.
	p.allowHTTP("/api/v1/", 401)
	p.open("/")
	p.wait("the not-paired screen", `document.querySelector('#not-paired') && document.querySelector('#pair-link')`)
}

// compatFeed waits for the feed of a paired phone.
const compatFeed = `location.pathname === '/' && document.querySelectorAll('.events > li').length > 0`

// compatPaired checks that the session has exactly one device now.
func compatPaired(t *testing.T, srv *server, s session) {
	t.Helper()
	var st struct {
		Paired  bool `json:"paired"`
		Devices []struct {
			Name string `json:"name"`
		} `json:"devices"`
	}
	if code := srv.call("GET", "/api/v1/session", s.Key, nil, &st); code != http.StatusOK || !st.Paired || len(st.Devices) != 1 {
		t.Fatalf("GET /api/v1/session: status %d, %+v; want one paired device", code, st)
	}
}

// The published observable-code CLI shows obsapp://pair?token=<code>: pasted
// into the not-paired screen (as a person pastes: inserted text, not keys),
// it pairs the phone.
func TestCompatPastedObsappLinkPairs(t *testing.T) {
	srv := startServer(t)
	s := compatSession(srv)
	p := newPhone(t, srv)
	// Where the browser has no BarcodeDetector there is no scan button.
	compatBeforeLoad(p, `delete window.BarcodeDetector; Object.defineProperty(window, 'BarcodeDetector', {value: undefined});`)
	compatNotPaired(p)
	var scan struct {
		Detector string `json:"detector"`
		Button   bool   `json:"button"`
	}
	// pairentry.js decides synchronously once it runs; give its promise a turn.
	p.js(`new Promise((r) => setTimeout(() => r({detector: typeof window.BarcodeDetector, button: !!document.querySelector('#pair-scan')}), 50))`, &scan)
	if scan.Detector != "undefined" || scan.Button {
		t.Errorf("without BarcodeDetector: typeof %q, scan button shown %v; want no button", scan.Detector, scan.Button)
	}

	// A mistyped code is explained, not sent.
	p.do("type a short code", chromedp.SendKeys(chromedp.CSS("#pair-link"), "AbC123"))
	p.tap("#pair-paste button[type=submit]")
	p.wait("the explanation", `/too short/.test(document.querySelector('#pair-paste .form-status').textContent)`)

	p.js(`(() => { const i = document.querySelector('#pair-link'); i.value = ''; i.focus(); return true; })()`, new(bool))
	p.do("paste the obsapp link", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, input.InsertText, input.InsertTextParams{Text: "  obsapp://pair?token=" + s.Code + "\n"})
		return err
	}))
	p.tap("#pair-paste button[type=submit]")
	p.wait("the feed", compatFeed)
	compatPaired(t, srv, s)
	if p.deviceToken() == "" {
		t.Errorf("no observable_device cookie after pairing")
	}
}

// The bare code, typed key by key as a person copies it from the terminal,
// pairs the phone too.
func TestCompatTypedBareCodePairs(t *testing.T) {
	srv := startServer(t)
	s := compatSession(srv)
	p := newPhone(t, srv)
	compatNotPaired(p)
	p.do("type the whole code", chromedp.SendKeys(chromedp.CSS("#pair-link"), s.Code))
	var typed string
	p.js(`document.querySelector('#pair-link').value`, &typed)
	if typed != s.Code {
		t.Fatalf("the field holds %q after typing, want the code %q", typed, s.Code)
	}
	p.tap("#pair-paste button[type=submit]")
	p.wait("the feed", compatFeed)
	compatPaired(t, srv, s)
	if p.deviceToken() == "" {
		t.Errorf("no observable_device cookie after pairing")
	}
}

// compatFakeCamera stands in for a camera and a QR decoder: getUserMedia
// gives a canvas's stream, the page may use it, and BarcodeDetector "sees"
// first a QR code that is not a pairing link, then the given text.
const compatFakeCamera = `(() => {
  window.__detects = 0;
  window.BarcodeDetector = class {
    constructor(opts) { this.formats = (opts && opts.formats) || []; }
    static async getSupportedFormats() { return ['qr_code', 'ean_13']; }
    async detect(source) {
      window.__detects++;
      if (!(source instanceof HTMLVideoElement) || source.readyState < 2) return [];
      return window.__detects === 1 ? [{rawValue: 'https://example.com/menu', format: 'qr_code'}]
        : [{rawValue: %q, format: 'qr_code'}];
    }
  };
  const gum = async () => {
    const c = document.createElement('canvas');
    c.width = 64; c.height = 64;
    const g = c.getContext('2d');
    setInterval(() => { g.fillStyle = '#' + Math.floor(Math.random() * 4095).toString(16).padStart(3, '0'); g.fillRect(0, 0, 64, 64); }, 30);
    window.__stream = c.captureStream(30);
    return window.__stream;
  };
  Object.defineProperty(navigator, 'mediaDevices', {value: {getUserMedia: gum}});
  // The stand-in camera is allowed (the served Permissions-Policy decides
  // for a real one: see TestCompatScanFallsBackToAPhotoWithoutTheCamera).
  const allowed = {allowsFeature: () => true};
  Object.defineProperty(document, 'permissionsPolicy', {value: allowed});
  Object.defineProperty(document, 'featurePolicy', {value: allowed});
})();`

// Where the browser has BarcodeDetector, the not-paired screen offers to
// scan, reads the QR code from the camera (the published CLI's obsapp://
// link here), pairs, and lets the camera go.
func TestCompatScanButtonPairsWhereBarcodeDetectorExists(t *testing.T) {
	srv := startServer(t)
	s := compatSession(srv)
	p := newPhone(t, srv)
	compatBeforeLoad(p, fmt.Sprintf(compatFakeCamera, "obsapp://pair?token="+s.Code))
	compatNotPaired(p)
	p.wait("the scan button", `document.querySelector('#pair-scan')`)
	p.tap("#pair-scan")
	p.wait("the feed after scanning", compatFeed)
	compatPaired(t, srv, s)
}

// The scanner stops the camera when asked, and scans our own pairing URL.
func TestCompatScanStopsTheCameraAndReadsOurURL(t *testing.T) {
	srv := startServer(t)
	s := compatSession(srv)
	p := newPhone(t, srv)
	compatBeforeLoad(p, fmt.Sprintf(compatFakeCamera, s.PairURL))
	// This one never sees a code: its detector finds nothing.
	compatBeforeLoad(p, `window.__blind = true; const d = window.BarcodeDetector.prototype.detect;
window.BarcodeDetector.prototype.detect = function (v) { return window.__blind ? Promise.resolve([]) : d.call(this, v); };`)
	compatNotPaired(p)
	p.wait("the scan button", `document.querySelector('#pair-scan')`)
	p.tap("#pair-scan")
	p.wait("the viewfinder", `!document.querySelector('.scan-view').hidden && window.__stream.getTracks()[0].readyState === 'live'`)
	p.tap(".scan-view button")
	p.wait("the camera stopped", `document.querySelector('.scan-view').hidden && window.__stream.getTracks()[0].readyState === 'ended' && !document.querySelector('#pair-scan').hidden`)

	p.js(`(() => { window.__blind = false; window.__detects = 1; return true; })()`, new(bool))
	p.tap("#pair-scan")
	p.wait("the feed after scanning", compatFeed)
	compatPaired(t, srv, s)
}

// The page may not open the camera itself (its Permissions-Policy, or the
// person said no): the scan button then asks for a photo, which the phone's
// camera app takes, and reads the code from it. The real getUserMedia and
// the real policy are used here; only the QR decoder is a stand-in.
func TestCompatScanFallsBackToAPhotoWithoutTheCamera(t *testing.T) {
	srv := startServer(t)
	s := compatSession(srv)
	p := newPhone(t, srv)
	compatBeforeLoad(p, fmt.Sprintf(`window.BarcodeDetector = class {
  static async getSupportedFormats() { return ['qr_code']; }
  async detect(source) { return source instanceof ImageBitmap ? [{rawValue: %q, format: 'qr_code'}] : []; }
};`, "obsapp://pair?token="+s.Code))
	chooser := make(chan cdp.BackendNodeID, 1)
	go func() {
		for e, err := range chromedp.Events(p.ctx, page.FileChooserOpened) {
			if err != nil {
				return
			}
			chooser <- e.BackendNodeID
			return
		}
	}()
	p.do("intercept file choosers", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, page.SetInterceptFileChooserDialog, page.SetInterceptFileChooserDialogParams{Enabled: true})
		return err
	}))
	compatNotPaired(p)
	p.wait("the scan button", `document.querySelector('#pair-scan')`)
	p.tap("#pair-scan")
	var node cdp.BackendNodeID
	select {
	case node = <-chooser:
	case <-time.After(waitFor):
		t.Fatalf("the scan button opened neither the camera nor a photo picker\npage: %s", p.pageText())
	}
	if node == 0 {
		t.Fatalf("the photo picker is not an <input type=file>")
	}
	photo, err := filepath.Abs("../internal/web/static/icon-192.png")
	if err != nil {
		t.Fatal(err)
	}
	p.do("take the photo", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, dom.SetFileInputFiles, dom.SetFileInputFilesParams{Files: []string{photo}, BackendNodeID: node})
		return err
	}))
	p.wait("the feed after the photo", compatFeed)
	compatPaired(t, srv, s)
}
