package channel

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"html/template"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/observable-code/observable/internal/alerttext"
	"github.com/observable-code/observable/internal/domain"
)

type emailSender struct {
	cfg     *SMTPConfig
	host    string // of Message-IDs, and the HELO name
	now     func() time.Time
	timeout time.Duration
}

func newEmailSender(o Options) *emailSender {
	host := o.PublicHost
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "" {
		host = "observable.invalid"
	}
	return &emailSender{cfg: o.SMTP, host: host, now: o.Now, timeout: o.Timeout}
}

func (s *emailSender) Send(ctx context.Context, c domain.Channel, sec domain.ChannelSecrets, m Message) error {
	if s.cfg == nil {
		return permanent("this server cannot send email (its operator removed --smtp-url); remove the channel or ask the operator")
	}
	if sec.Address == "" {
		return permanent("the email channel has no address; add it again")
	}
	if m.Kind == domain.ChannelKindConfirm && sec.ConfirmToken == "" {
		return permanent("the email channel has no confirmation link to send; add it again")
	}
	msg, err := s.compose(sec.Address, m)
	if err != nil {
		return permanent("cannot write the email: %v", err)
	}
	return s.cfg.deliver(ctx, s.host, sec.Address, msg, s.timeout)
}

// threadIDs are the Message-ID of m and the one it answers: an incident's
// opening alert is <incident-ID@host>, and what follows in the incident
// (its recovery, the runs of a notify "all" channel) answers it, so that a
// mail reader shows one thread per incident.
func (s *emailSender) threadIDs(m Message) (id, parent string) {
	var r [8]byte
	rand.Read(r[:])
	unique := hex.EncodeToString(r[:])
	in := m.Incident
	switch {
	case in != nil && opens(m.Kind):
		return fmt.Sprintf("<incident-%d@%s>", in.ID, s.host), ""
	case in != nil && m.Kind == domain.AlertRecovered:
		return fmt.Sprintf("<incident-%d-recovered@%s>", in.ID, s.host), fmt.Sprintf("<incident-%d@%s>", in.ID, s.host)
	case in != nil:
		return fmt.Sprintf("<incident-%d-%s@%s>", in.ID, unique, s.host), fmt.Sprintf("<incident-%d@%s>", in.ID, s.host)
	}
	return fmt.Sprintf("<%s-%s@%s>", strings.ReplaceAll(m.Kind, "_", "-"), unique, s.host), ""
}

// subject keeps one subject per incident: the opening's words, with "Re: "
// on what follows.
func subject(m Message) string {
	in := m.Incident
	if in == nil || opens(m.Kind) {
		return m.Title
	}
	name := "A job"
	if m.Event != nil {
		name = alerttext.Clip(alerttext.Clean(m.Event.Name), nameRunes)
	}
	return "Re: " + alerttext.Headline(in.Kind, name, "")
}

func (s *emailSender) compose(to string, m Message) ([]byte, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	id, parent := s.threadIDs(m)
	h := []struct{ k, v string }{
		{"From", s.cfg.From.String()},
		{"To", to},
		{"Subject", mime.QEncoding.Encode("utf-8", alerttext.Clean(subject(m)))},
		{"Date", s.now().Format(time.RFC1123Z)},
		{"Message-ID", id},
	}
	if parent != "" {
		h = append(h, struct{ k, v string }{"In-Reply-To", parent}, struct{ k, v string }{"References", parent})
	}
	h = append(h,
		struct{ k, v string }{"MIME-Version", "1.0"},
		struct{ k, v string }{"Content-Type", "multipart/alternative; boundary=" + strconv.Quote(mw.Boundary())},
		// RFC 3834: a machine's message; auto-responders stay quiet.
		struct{ k, v string }{"Auto-Submitted", "auto-generated"},
		struct{ k, v string }{"X-Auto-Response-Suppress", "All"},
	)
	var head bytes.Buffer
	for _, f := range h {
		head.WriteString(f.k + ": " + f.v + "\r\n")
	}
	head.WriteString("\r\n")
	if err := part(mw, "text/plain; charset=utf-8", []byte(plainText(m))); err != nil {
		return nil, err
	}
	var html bytes.Buffer
	if err := emailHTML.Execute(&html, htmlData(m)); err != nil {
		return nil, err
	}
	if err := part(mw, "text/html; charset=utf-8", html.Bytes()); err != nil {
		return nil, err
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return append(head.Bytes(), buf.Bytes()...), nil
}

func part(mw *multipart.Writer, ctype string, body []byte) error {
	w, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {ctype}, "Content-Transfer-Encoding": {"quoted-printable"}})
	if err != nil {
		return err
	}
	q := quotedprintable.NewWriter(w)
	if _, err := q.Write(body); err != nil {
		return err
	}
	return q.Close()
}

const emailFooter = "Observable Code sends this because this address is an alert channel of one of its sessions. To stop it, remove the channel in the app's Settings."

func plainText(m Message) string {
	var b strings.Builder
	b.WriteString(m.Body + "\n\n")
	if m.Kind == domain.ChannelKindConfirm {
		b.WriteString("Confirm: " + m.ConfirmURL + "\n")
		return b.String()
	}
	for _, d := range details(m) {
		if strings.Contains(d.value, "\n") {
			b.WriteString(d.label + ":\n    " + strings.ReplaceAll(d.value, "\n", "\n    ") + "\n")
		} else {
			b.WriteString(d.label + ": " + d.value + "\n")
		}
	}
	b.WriteString("\nOpen: " + m.URL + "\n\n-- \n" + emailFooter + "\n")
	return b.String()
}

type emailView struct {
	Title, Body, URL, Link, Footer string
	Confirm                        bool
	Details                        []detail
}

func htmlData(m Message) emailView {
	v := emailView{Title: m.Title, Body: m.Body, URL: m.URL, Link: "Open in Observable Code", Footer: emailFooter}
	if m.Kind == domain.ChannelKindConfirm {
		v.Confirm, v.URL, v.Link, v.Footer = true, m.ConfirmURL, "Confirm this address", ""
		return v
	}
	if m.Seq > 0 {
		v.Link = "Open the run"
	}
	v.Details = details(m)
	return v
}

// emailHTML escapes every value (html/template): an error message holding
// "<script>" arrives as text.
var emailHTML = template.Must(template.New("email").Funcs(template.FuncMap{
	"label": func(d detail) string { return d.label },
	"value": func(d detail) string { return d.value },
}).Parse(`<!DOCTYPE html>
<html><body style="font-family: -apple-system, Segoe UI, Roboto, sans-serif; color: #1c2024; max-width: 40em">
<h2 style="margin: 0 0 .5em">{{.Title}}</h2>
<p>{{.Body}}</p>
{{if .Details}}<table style="border-collapse: collapse">{{range .Details}}
<tr><th style="text-align: left; vertical-align: top; padding: 2px 12px 2px 0">{{label .}}</th><td style="white-space: pre-wrap; font-family: ui-monospace, monospace">{{value .}}</td></tr>{{end}}
</table>{{end}}
<p><a href="{{.URL}}" style="display: inline-block; padding: 8px 14px; background: #0d74ce; color: #fff; border-radius: 6px; text-decoration: none">{{.Link}}</a></p>
{{if .Confirm}}<p style="color: #60646c">Or copy this link into the browser: {{.URL}}</p>{{end}}
{{if .Footer}}<p style="color: #60646c; font-size: 90%">{{.Footer}}</p>{{end}}
</body></html>
`))
