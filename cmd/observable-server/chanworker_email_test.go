package main

import (
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/mailpittest"
)

var chanwConfirmLink = regexp.MustCompile(`https?://[^\s"<>]+/channels/confirm\?token=([A-Za-z0-9_-]+)`)

// An email channel gets its confirmation first and nothing else until the
// link's page is submitted; then alerts arrive.
func TestChanwEmailConfirmedFirst(t *testing.T) {
	mp := mailpittest.Start(t)
	p := launch(t, filepath.Join(t.TempDir(), "ch.db"), "--smtp-url", "smtp://"+mp.SMTP, "--smtp-from", "alerts@example.com")
	awaitReady(t, 15*time.Second, p)
	key, token := chanwPhone(t, p)
	c := chanwAdd(t, p, token, `{"type":"email","address":"oncall@example.com"}`)
	if c.Verified {
		t.Fatalf("a new email channel is verified: %+v", c)
	}
	first := mp.Messages(t, 1, p.stop)[0]
	if len(first.To) != 1 || first.To[0].Address != "oncall@example.com" {
		t.Fatalf("confirmation to %+v; want oncall@example.com", first.To)
	}
	m := chanwConfirmLink.FindStringSubmatch(first.Text)
	if m == nil {
		t.Fatalf("no confirmation link in:\n%s", first.Text)
	}
	// An alert before the confirmation is not queued for the address.
	chanwPost(t, p, key, "unconfirmed_job", "failed")
	// Opening the link shows a page; it does not confirm (mail scanners
	// fetch links).
	mustCall(t, http.StatusOK, "GET", m[0], "", "", nil)
	if chanwList(t, p, token)[0].Verified {
		t.Fatal("GET of the confirmation link confirmed the address")
	}
	form := url.Values{"token": {m[1]}}.Encode()
	req, _ := http.NewRequest("POST", p.url+"/channels/confirm", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("POST the confirmation: %v %v", resp, err)
	}
	resp.Body.Close()
	if !chanwList(t, p, token)[0].Verified {
		t.Fatal("the address is not verified after the confirmation")
	}
	chanwPost(t, p, key, "nightly_sync", "failed")
	got := mp.Messages(t, 2, p.stop)
	if len(got) != 2 || !strings.Contains(got[1].Subject, "nightly_sync") || !strings.Contains(got[1].Text, "nightly_sync") {
		t.Fatalf("%d messages, the second %q; want the confirmation and then nightly_sync's alert only", len(got), got[len(got)-1].Subject)
	}
	for _, mail := range got {
		if strings.Contains(mail.Subject+mail.Text, "unconfirmed_job") {
			t.Fatalf("a message about a failure before the confirmation: %q", mail.Subject)
		}
	}
}
