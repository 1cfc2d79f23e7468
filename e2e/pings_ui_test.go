package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// pingsUIURL is a job's Healthchecks-style ping URL (`observable ping-url NAME`).
func pingsUIURL(t *testing.T, srv *server, key, name string) string {
	t.Helper()
	var out struct {
		PingURL string `json:"ping_url"`
	}
	if code := srv.call("GET", "/api/v1/jobs/"+url.PathEscape(name)+"/ping", key, nil, &out); code != http.StatusOK || out.PingURL == "" {
		t.Fatalf("GET /api/v1/jobs/%s/ping: status %d, %+v", name, code, out)
	}
	return out.PingURL
}

// pingsUIPing posts a ping with a body, as `curl --data-raw "$m" "$URL/$?"` does.
func pingsUIPing(t *testing.T, u, body string) {
	t.Helper()
	res, err := http.Post(u, "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || string(answer) != "OK" {
		t.Fatalf("POST %s: %d %q; want 200 OK", u, res.StatusCode, answer)
	}
}

// The settings page shows the session's ping key, the one GET
// /api/v1/session gives the session key, and the ping base built from it.
func TestPingsUISettingsShowThePingKey(t *testing.T) {
	needBrowser(t)
	srv := startServer(t)
	s := srv.newSession("cron-box")
	var sess struct {
		PingKey string `json:"ping_key"`
	}
	if code := srv.call("GET", "/api/v1/session", s.Key, nil, &sess); code != http.StatusOK || sess.PingKey == "" {
		t.Fatalf("GET /api/v1/session: status %d, ping_key %q", code, sess.PingKey)
	}
	p := newPhone(t, srv)
	p.pair(s)
	p.open("/settings")
	p.wait("the ping key", `document.querySelector('#ping-key') && document.querySelector('#ping-key').textContent !== ''`)
	var shown struct{ Key, Section string }
	p.js(`({Key: document.querySelector('#ping-key').textContent,
		Section: document.querySelector('#ping-key').closest('section').textContent})`, &shown)
	if shown.Key != sess.PingKey {
		t.Errorf("the settings page shows ping key %q; the session's is %q", shown.Key, sess.PingKey)
	}
	if base := srv.URL + "/ping/" + sess.PingKey + "/<job-slug>"; !strings.Contains(shown.Section, base) {
		t.Errorf("the ping key's section does not show %s: %q", base, shown.Section)
	}
}

// A ping's body is shown on its run's page as text, its lines kept: a
// line that looks like HTML stays text.
func TestPingsUIBodyOnTheRunPage(t *testing.T) {
	needBrowser(t)
	srv := startServer(t)
	s := srv.newSession("backup-host")
	const body = "copied 12 files\n<b>warning</b>: disk 91% full <img src=x onerror=\"document.title='owned'\">"
	pingsUIPing(t, pingsUIURL(t, srv, s.Key, "nightly_backup")+"/3", body)
	var list struct {
		Events []struct {
			Seq      int64          `json:"seq"`
			Status   string         `json:"status"`
			Metadata map[string]any `json:"metadata"`
		} `json:"events"`
	}
	if code := srv.call("GET", "/api/v1/events?limit=1", s.Key, nil, &list); code != http.StatusOK || len(list.Events) != 1 || list.Events[0].Status != "failed" {
		t.Fatalf("GET /api/v1/events: status %d, %+v; want the failed ping", code, list.Events)
	}

	p := newPhone(t, srv)
	p.pair(s)
	p.open(fmt.Sprintf("/runs/%d", list.Events[0].Seq))
	p.wait("the ping's body", `[...document.querySelectorAll('#view dt')].some(dt => dt.textContent === 'body')`)
	var got struct {
		Text, Rendered string
		Elements       int
		Title          string
		Message        string
	}
	p.js(`(() => {
		const dd = [...document.querySelectorAll('#view dt')].find(dt => dt.textContent === 'body').nextElementSibling;
		return {Text: dd.textContent, Rendered: dd.innerText, Elements: dd.querySelectorAll('*').length,
			Title: document.title, Message: (document.querySelector('.err-msg') || {}).textContent || ''};
	})()`, &got)
	if got.Text != body {
		t.Errorf("the body shows as %q, want exactly %q", got.Text, body)
	}
	if got.Rendered != body {
		t.Errorf("the body is laid out as %q, want its two lines kept (%q)", got.Rendered, body)
	}
	if got.Elements != 0 || got.Title == "owned" {
		t.Errorf("the body became markup: %d elements inside it, title %q", got.Elements, got.Title)
	}
	if got.Message != "exit status 3" {
		t.Errorf("the run's error shows %q, want exit status 3", got.Message)
	}
}
