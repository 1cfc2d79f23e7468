package channel

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/domain"
)

func TestParseSMTPURL(t *testing.T) {
	c, err := ParseSMTPURL("smtp://alerts%40example.com:p%40ss@mail.example.com", "Observable <alerts@example.com>")
	if err != nil {
		t.Fatal(err)
	}
	if c.Host != "mail.example.com" || c.Port != "587" || c.TLS || c.Username != "alerts@example.com" || c.Password != "p@ss" || c.From.Address != "alerts@example.com" || c.From.Name != "Observable" {
		t.Errorf("smtp: %+v", c)
	}
	c, err = ParseSMTPURL("smtps://mail.example.com", "alerts@example.com")
	if err != nil || !c.TLS || c.Port != "465" || c.Username != "" {
		t.Errorf("smtps: %+v, %v", c, err)
	}
	for _, tc := range []struct{ url, from, words string }{
		{"http://mail.example.com", "a@b.co", "smtp://"},
		{"mail.example.com:25", "a@b.co", "smtp://"},
		{"smtp://mail.example.com/path", "a@b.co", "no path"},
		{"smtp://mail.example.com:0", "a@b.co", "port"},
		{"smtp://:pw@mail.example.com", "a@b.co", "user name"},
		{"smtp://mail.example.com", "", "--smtp-from is required"},
		{"smtp://mail.example.com", "not an address", "--smtp-from"},
	} {
		if _, err := ParseSMTPURL(tc.url, tc.from); err == nil || !strings.Contains(err.Error(), tc.words) {
			t.Errorf("ParseSMTPURL(%q, %q) = %v, want an error saying %q", tc.url, tc.from, err, tc.words)
		}
	}
}

// TestEmailThreading reads the composed messages back with net/mail: one
// thread per incident, a stable subject, both parts, HTML escaped.
func TestEmailThreading(t *testing.T) {
	cfg, _ := ParseSMTPURL("smtp://127.0.0.1:2525", "Observable Code <alerts@obs.example.com>")
	s := newEmailSender(Options{SMTP: cfg, PublicHost: "obs.example.com:8443", Now: func() time.Time { return testT0 }})
	read := func(m Message) (*mail.Message, map[string]string) {
		raw, err := s.compose("ann@example.com", m)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("%v\n%s", err, raw)
		}
		_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
		if err != nil {
			t.Fatal(err)
		}
		parts := map[string]string{}
		mr := multipart.NewReader(msg.Body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(p) // quoted-printable is decoded by NextPart
			ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
			parts[ct] = string(b)
		}
		return msg, parts
	}
	open, parts := read(NewMessage(failedJob(), domain.ChannelSecrets{}, "https://obs.example.com:8443"))
	if got := open.Header.Get("Message-ID"); got != "<incident-7@obs.example.com>" {
		t.Errorf("opening Message-ID %q", got)
	}
	if open.Header.Get("Subject") != "nightly_sync failed" || open.Header.Get("In-Reply-To") != "" || open.Header.Get("Auto-Submitted") != "auto-generated" {
		t.Errorf("opening headers %v", open.Header)
	}
	if !strings.Contains(parts["text/plain"], "<script>alert(1)</script>") || !strings.Contains(parts["text/plain"], "https://obs.example.com:8443/runs/42") {
		t.Errorf("plain part:\n%s", parts["text/plain"])
	}
	if strings.Contains(parts["text/html"], "<script>") || !strings.Contains(parts["text/html"], "&lt;script&gt;") {
		t.Errorf("html part not escaped:\n%s", parts["text/html"])
	}
	rec, _ := read(NewMessage(recoveredJob(), domain.ChannelSecrets{}, "https://obs.example.com"))
	if rec.Header.Get("In-Reply-To") != "<incident-7@obs.example.com>" || rec.Header.Get("References") != "<incident-7@obs.example.com>" ||
		rec.Header.Get("Subject") != "Re: nightly_sync failed" || rec.Header.Get("Message-ID") == "<incident-7@obs.example.com>" {
		t.Errorf("recovery headers %v", rec.Header)
	}
	j := failedJob()
	j.Event.Name = "sync – täglich"
	uni, _ := read(NewMessage(j, domain.ChannelSecrets{}, "https://obs.example.com"))
	if dec, err := new(mime.WordDecoder).DecodeHeader(uni.Header.Get("Subject")); err != nil || dec != "sync – täglich failed" {
		t.Errorf("a non-ASCII subject: %q (%v)", uni.Header.Get("Subject"), err)
	}
	a, b := NewMessage(store0(domain.ChannelKindTest), domain.ChannelSecrets{}, "https://x"), NewMessage(store0(domain.ChannelKindTest), domain.ChannelSecrets{}, "https://x")
	ida, _ := s.threadIDs(a)
	idb, _ := s.threadIDs(b)
	if ida == idb || !strings.HasSuffix(ida, "@obs.example.com>") {
		t.Errorf("test Message-IDs %q %q", ida, idb)
	}
}
