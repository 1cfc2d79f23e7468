package e2e

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

// seedJobs posts a day of realistic runs: a nightly job that sometimes
// fails, a steady report, a price fetch whose last run failed, a deploy.
// It returns how many runs of nightly_sync failed.
func seedJobs(srv *server, key string) (nightlyFailures int) {
	now := time.Now().UTC()
	at := func(ago time.Duration) string { return now.Add(-ago).Format(time.RFC3339Nano) }
	var events []map[string]any
	for i := range 30 {
		ev := map[string]any{"name": "nightly_sync", "status": "completed",
			"duration_ms": 2400 + 900*math.Sin(float64(i)/3) + float64(i*35),
			"timestamp":   at(time.Duration(30-i) * 47 * time.Minute),
			"metadata":    map[string]any{"records_processed": 480 + i, "source": "s3://acme-exports"},
			"source":      map[string]any{"host": "etl-01", "pid": 4100 + i}}
		if i == 7 || i == 18 || i == 26 {
			nightlyFailures++
			ev["status"] = "failed"
			ev["duration_ms"] = 3200 + float64(i*40)
			ev["error"] = map[string]any{"type": "KeyError", "message": "'customer_id'",
				"traceback": "Traceback (most recent call last):\n  File \"/srv/etl/sync.py\", line 88, in sync\n    row[\"customer_id\"]\nKeyError: 'customer_id'"}
		}
		events = append(events, ev)
	}
	for i := range 10 {
		events = append(events, map[string]any{"name": "send_report", "status": "completed",
			"duration_ms": 780 + 60*i, "timestamp": at(time.Duration(10-i) * 2 * time.Hour)})
	}
	for i := range 20 {
		ev := map[string]any{"name": "fetch_prices", "status": "completed",
			"duration_ms": 210 + 15*(i%7), "timestamp": at(time.Duration(20-i)*23*time.Minute + 3*time.Minute)}
		if i == 19 {
			ev["status"], ev["duration_ms"] = "failed", 5000
			ev["error"] = map[string]any{"type": "TimeoutError", "message": "prices.example.com did not answer in 5 s"}
		}
		events = append(events, ev)
	}
	events = append(events, map[string]any{"name": "deploy", "status": "started", "timestamp": at(2 * time.Minute)})
	srv.post(key, events...)
	return nightlyFailures
}

func TestJobsChartAndRunPage(t *testing.T) {
	srv := startServer(t)
	s := srv.newSession("etl-01")
	failures := seedJobs(srv, s.Key)
	p := newPhone(t, srv)
	p.pair(s)
	p.wait("the feed", `document.querySelectorAll('.events > li').length === 50`)
	checkContrast(t, p, "feed with jobs")
	p.shot("feed")
	p.dark(true)
	p.shot("feed-dark")
	p.dark(false)

	p.tap(`#tabs a[data-tab="jobs"]`)
	p.wait("the jobs", `location.pathname === '/jobs' && document.querySelectorAll('.jobs > li').length === 4`)
	var rows []string
	p.js(`[...document.querySelectorAll('.job-name')].map(e => e.textContent)`, &rows)
	if len(rows) != 4 || rows[0] != "fetch_prices" {
		t.Errorf("jobs %q, want 4 with the failing fetch_prices first", rows)
	}
	if got := p.text(".jobs"); !strings.Contains(got, "30 runs · 90% ok") || !strings.Contains(got, "typically") {
		t.Errorf("jobs list does not show nightly_sync's success rate and typical duration:\n%s", got)
	}
	checkContrast(t, p, "jobs")
	p.shot("jobs")

	p.tap(`.jobs a[href="/jobs/nightly_sync"]`)
	p.wait("the chart", `location.pathname === '/jobs/nightly_sync' && document.querySelector('svg.chart')`)
	var chart struct {
		Bars, Failed, Marks int
		Label               string
		FailedFill, OKFill  string
	}
	p.js(`(() => {
		const svg = document.querySelector('svg.chart');
		return {Bars: svg.querySelectorAll('g[data-seq]').length, Failed: svg.querySelectorAll('rect.bar-fail').length,
			Marks: svg.querySelectorAll('path.mark').length, Label: svg.getAttribute('aria-label'),
			FailedFill: getComputedStyle(svg.querySelector('rect.bar-fail')).fill, OKFill: getComputedStyle(svg.querySelector('rect.bar-ok')).fill};
	})()`, &chart)
	if chart.Bars != 30 || chart.Failed != failures || chart.Marks != failures {
		t.Errorf("chart has %d bars, %d red and %d crosses; want 30 bars and %d failures marked both ways", chart.Bars, chart.Failed, chart.Marks, failures)
	}
	if chart.FailedFill == chart.OKFill {
		t.Errorf("failed and completed bars have the same colour %s", chart.FailedFill)
	}
	if !strings.Contains(chart.Label, fmt.Sprintf("%d failed", failures)) {
		t.Errorf("chart's accessible label %q does not say how many failed", chart.Label)
	}
	if got := p.text(".stats"); !strings.Contains(got, "90%") {
		t.Errorf("job stats %q, want a 90%% success rate", got)
	}
	checkContrast(t, p, "job page")
	p.shot("job")
	p.dark(true)
	checkContrast(t, p, "job page, dark")
	p.shot("job-dark")
	p.dark(false)

	// Tapping a failed bar opens that run, with its whole error.
	p.tap(`svg.chart g[data-status="failed"] rect.bar-hit`)
	p.wait("the run page", `location.pathname.startsWith('/runs/') && document.querySelector('pre.trace')`)
	// The heading that replaced "Loading…" still has the focus.
	p.wait("focus on the run's heading", `document.activeElement === document.querySelector('#view h1') && document.activeElement.textContent === 'nightly_sync'`)
	got := p.text("main")
	for _, want := range []string{"KeyError", "'customer_id'", "sync.py\", line 88", "records_processed", "etl-01"} {
		if !strings.Contains(got, want) {
			t.Errorf("run page does not show %q:\n%s", want, got)
		}
	}
	checkContrast(t, p, "run page")
	p.shot("run")

	// Back returns to the job; a new run arrives live in its list and chart.
	p.tap(`a.back`)
	p.wait("the job page again", `location.pathname === '/jobs/nightly_sync' && document.querySelector('svg.chart')`)
	srv.post(s.Key, map[string]any{"name": "nightly_sync", "status": "failed", "duration_ms": 4100,
		"error": map[string]any{"type": "KeyError", "message": "'customer_id'"}})
	p.wait("the live run in the chart", fmt.Sprintf(`document.querySelectorAll('svg.chart rect.bar-fail').length === %d`, failures+1))
}
