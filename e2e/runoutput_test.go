package e2e

import (
	"fmt"
	"net/http"
	"testing"
)

// What `observable run` stores for a command that printed more than
// --head + --tail: its output's start and end, as text, lines and all.
const (
	runOutputHead = "pg_dump: dumping contents of table \"users\"\n<b>x</b> <img src=x onerror=\"document.title='owned'\">\n\ttabbed line\n"
	runOutputTail = "  last line but one\nbackup done: 42 tables\n"
)

func TestRunOutputShowsOnTheRunPageAsMultiLineText(t *testing.T) {
	needBrowser(t)
	srv := startServer(t)
	s := srv.newSession("backup-host")
	srv.post(s.Key, map[string]any{"name": "nightly_backup", "status": "failed", "run": "0123abcd",
		"duration_ms": 4200, "error": map[string]any{"type": "exit_status", "message": "exited with status 3"},
		"metadata": map[string]any{"command": "/usr/local/bin/backup.sh", "run": "0123abcd", "exit_status": 3,
			"output_head": runOutputHead, "output_tail": runOutputTail,
			"output_bytes": 123456, "output_skipped_bytes": 123456 - len(runOutputHead) - len(runOutputTail),
			"cpu_s": 0.25, "max_rss_kib": 20480}})
	var list struct {
		Events []struct {
			Seq int64 `json:"seq"`
		} `json:"events"`
	}
	if code := srv.call("GET", "/api/v1/events?limit=1", s.Key, nil, &list); code != http.StatusOK || len(list.Events) != 1 {
		t.Fatalf("GET /api/v1/events: status %d, %d events", code, len(list.Events))
	}

	p := newPhone(t, srv)
	p.pair(s)
	p.open(fmt.Sprintf("/runs/%d", list.Events[0].Seq))
	p.wait("the run's metadata", `[...document.querySelectorAll('#view dt')].some(dt => dt.textContent === 'output_tail')`)

	type shown struct {
		Text, Rendered, WhiteSpace string
		Elements                   int
	}
	var got map[string]shown
	p.js(`(() => {
		const out = {};
		for (const dt of document.querySelectorAll('#view dt')) {
			if (!dt.textContent.startsWith('output_')) continue;
			const dd = dt.nextElementSibling;
			out[dt.textContent] = {Text: dd.textContent, Rendered: dd.innerText,
				WhiteSpace: getComputedStyle(dd).whiteSpace, Elements: dd.querySelectorAll('*').length};
		}
		return out;
	})()`, &got)
	for key, want := range map[string]string{"output_head": runOutputHead, "output_tail": runOutputTail} {
		g, ok := got[key]
		if !ok {
			t.Errorf("the run page shows no %s; it shows %v", key, got)
			continue
		}
		if g.Text != want {
			t.Errorf("%s shows as %q, want exactly %q", key, g.Text, want)
		}
		if g.Elements != 0 {
			t.Errorf("%s: the output became %d elements, want text only", key, g.Elements)
		}
		// Its lines show as lines: innerText is what is laid out on screen.
		if g.WhiteSpace != "pre-wrap" || g.Rendered != want {
			t.Errorf("%s is laid out with white-space %q as %q, want its lines kept (%q)", key, g.WhiteSpace, g.Rendered, want)
		}
	}
	var title string
	var bold int
	p.js(`document.title`, &title)
	p.js(`document.querySelectorAll('#view dd b, #view dd img').length`, &bold)
	if title == "owned" || bold != 0 {
		t.Errorf("the output became markup: title %q, %d <b>/<img> elements", title, bold)
	}
}
