// Package e2e drives the phone app in a real headless Chromium, at a
// phone's screen size with touch, against the real server binary on real
// SQLite over real HTTP.
//
//	go test ./e2e/                        # the browser tests
//	go test ./e2e/ -update-screenshots    # and write docs/screenshots/*.png
package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

const chromiumPath = "/usr/bin/chromium"

var (
	updateShots = flag.Bool("update-screenshots", false, "write the phone screenshots to docs/screenshots")

	// serverBin is the server binary built for this run.
	serverBin string
	// browser is the one Chromium of the run; each test opens a fresh
	// browser context in it (its own cookies, storage and service worker).
	browser context.Context
	// setupErr explains why the browser tests cannot run here.
	setupErr error
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "observable-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)

	serverBin = filepath.Join(dir, "observable-server")
	build := exec.Command("go", "build", "-o", serverBin, "./cmd/observable-server")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: build the server: %v\n%s", err, out)
		return 1
	}

	if _, err := os.Stat(chromiumPath); err != nil {
		setupErr = fmt.Errorf("no Chromium at %s (apt-get install chromium): %w", chromiumPath, err)
		return m.Run()
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox, // the tests run as root in a container
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(filepath.Join(dir, "chromium")),
		// Without these Chromium calls home and floods a closed network.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.Flag("lang", "en-US"),
		chromedp.Env("TZ=UTC", "LANG=en_US.UTF-8"),
	)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	start, cancelStart := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelStart()
	go func() {
		<-start.Done()
		if start.Err() == context.DeadlineExceeded {
			cancel()
		}
	}()
	if err := chromedp.Do(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: start Chromium: %v\n", err)
		return 1
	}
	cancelStart()
	browser = ctx
	return m.Run()
}

// needBrowser skips a test, saying why, where there is no Chromium.
func needBrowser(t *testing.T) {
	t.Helper()
	if setupErr != nil {
		t.Skipf("browser tests need Chromium: %v", setupErr)
	}
}
