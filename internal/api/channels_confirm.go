package api

// The email confirmation page: an address gets nothing but its
// confirmation message until the link in it is opened and its button
// pressed. Mail scanners and link previews fetch links on their own (GET
// only): the GET shows a button and changes nothing; the POST confirms.
// The token is a credential: it is never logged (the access log names the
// route pattern, never the path or query) and never put in an error.

import (
	"bytes"
	"context"
	"errors"
	"html/template"
	"net/http"
	"strconv"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/secret"
)

const confirmPath = "/channels/confirm"

// chanConfirmCSS is the app's stylesheet. Web serves a static file asked
// for under any version as today's (cached briefly), so the page needs no
// version of its own.
const chanConfirmCSS = "/s/page/app.css"

// confirmTokenLen is the length of randomToken's 32 bytes in base64url.
const confirmTokenLen = 43

// confirmData fills the page.
type confirmData struct {
	Title string
	// State: "ask" (the button), "done", "unknown" (a used or unknown
	// link), "retry" (the database did not answer), "failed".
	State   string
	Address string
	Token   string
	CSS     string
}

var confirmTmpl = template.Must(template.New("confirm").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1, viewport-fit=cover">
<meta name="color-scheme" content="light dark">
<meta name="robots" content="noindex, nofollow">
<title>{{.Title}} · Observable Code</title>
<link rel="stylesheet" href="{{.CSS}}">
</head>
<body class="page">
<main id="main" class="sheet">
<p class="brand brand-page">Observable Code</p>
{{if eq .State "ask"}}<h1>Confirm this email address?</h1>
<p class="lead">Someone added {{if .Address}}<strong dir="auto">{{.Address}}</strong>{{else}}this address{{end}} in the Observable Code app, to get alerts about their jobs by email.</p>
<p>Nothing is sent to it until you confirm. If you did not ask for this, close this page: you will get no more mail.</p>
<form method="post" action="/channels/confirm" class="stack">
<input type="hidden" name="token" value="{{.Token}}">
<button type="submit" class="button primary">Confirm</button>
</form>
{{else if eq .State "done"}}<h1>Address confirmed</h1>
<p class="lead">Alerts will go to {{if .Address}}<strong dir="auto">{{.Address}}</strong>{{else}}this address{{end}}, by the rules set for it in the app.</p>
<p>To stop them, remove the channel in the app: Settings, Channels.</p>
{{else if eq .State "unknown"}}<h1>This link was already used, or is not known</h1>
<p>The address may already be confirmed: the app shows it under Settings, Channels.</p>
<p>If it is not, or the channel was removed, add the address again from the app (Settings, Channels); it sends a new link. Use the newest link you got, and open it whole rather than typing it.</p>
{{else if eq .State "retry"}}<h1>Try again</h1>
<p>The server could not read this link just now. Reload this page in a few seconds; the link stays valid.</p>
{{else}}<h1>Something went wrong</h1>
<p>The server could not confirm this address; the failure has been logged. Try the link again later.</p>
{{end}}</main>
</body>
</html>
`))

// confirmHeaders are the app's page headers (web's htmlHeaders), with a
// policy of its own: no script at all, and forms only to this server.
// Referrer-Policy is same-origin, not the server's no-referrer: under
// no-referrer a browser sends "Origin: null" with the form's POST, which
// the cross-site check would refuse. Same-origin requests are the only
// ones that get the URL (and its token) as Referer, and the server logs
// no Referer.
func confirmHeaders(h http.Header) {
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Robots-Tag", "noindex, nofollow")
}

func (s *Server) renderConfirm(w http.ResponseWriter, status int, d confirmData) error {
	d.CSS = chanConfirmCSS
	var buf bytes.Buffer
	if err := confirmTmpl.Execute(&buf, d); err != nil {
		return err // a bug: serve answers it
	}
	confirmHeaders(w.Header())
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes())
	return nil
}

// confirmFailed answers a store failure as a page (never with its error's
// text in it).
func (s *Server) confirmFailed(w http.ResponseWriter, r *http.Request, err error) error {
	switch code := domain.ErrorCode(err); code {
	case domain.ENotFound:
		return s.renderConfirm(w, http.StatusNotFound, confirmData{Title: "Link used or unknown", State: "unknown"})
	case domain.EDatabaseUnavailable, domain.EDiskFull, domain.EShuttingDown:
		retryAfter(w, domain.DefaultWait(code))
		return s.renderConfirm(w, http.StatusServiceUnavailable, confirmData{Title: "Try again", State: "retry"})
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	s.log.Error("email confirmation page", "err", err)
	return s.renderConfirm(w, http.StatusInternalServerError, confirmData{Title: "Something went wrong", State: "failed"})
}

// confirmPage is GET /channels/confirm?token=…: it only reads.
func (s *Server) confirmPage(w http.ResponseWriter, r *http.Request) error {
	token := r.URL.Query().Get("token")
	if len(token) != confirmTokenLen {
		return s.confirmFailed(w, r, domain.ErrNotFound)
	}
	d := confirmData{Title: "Confirm your email address", State: "ask", Token: token}
	// The address is named before the button is pressed; an unknown or used
	// link says so at once.
	c, err := s.deps.Store.ChannelByConfirmHash(r.Context(), secret.Hash(token))
	if err != nil {
		return s.confirmFailed(w, r, err)
	}
	d.Address = c.Shown["address"]
	return s.renderConfirm(w, http.StatusOK, d)
}

// confirmChannel is the page's POST: the form's token confirms the
// address. A page of another site must not confirm on a visitor's behalf:
// an Origin given must be ours.
func (s *Server) confirmChannel(w http.ResponseWriter, r *http.Request) error {
	if r.Header.Get("Origin") != "" && !s.sameOrigin(r) {
		return domain.Errorf(domain.EBadOrigin, "an email address is confirmed on %s%s, not from another site", s.opts.PublicURL, confirmPath)
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<10)
	if err := r.ParseForm(); err != nil {
		s.bodies.finished(w, false)
		return domain.Errorf(domain.EBadBody, "the form could not be read; open the link from the email again")
	}
	s.bodies.finished(w, true)
	token := r.PostForm.Get("token")
	if len(token) != confirmTokenLen {
		return s.confirmFailed(w, r, domain.ErrNotFound)
	}
	c, err := s.deps.Store.ConfirmChannel(r.Context(), secret.Hash(token), s.now())
	if err != nil {
		return s.confirmFailed(w, r, err)
	}
	return s.renderConfirm(w, http.StatusOK, confirmData{Title: "Address confirmed", State: "done", Address: c.Shown["address"]})
}
