package channel

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/observable-code/observable/internal/alerttext"
	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/retryafter"
)

// Options configure the senders NewSenders makes.
type Options struct {
	Guard      *Guard
	SMTP       *SMTPConfig   // nil: no email
	Timeout    time.Duration // per delivery; DefaultTimeout when 0
	UserAgent  string        // "observable-server/<version>"
	PublicHost string        // the host of Message-IDs
	Now        func() time.Time
}

// NewSenders makes one Sender per channel type. Without SMTP the email
// sender refuses every message (Validate refuses email channels then, so
// only a channel made before --smtp-url was removed reaches it).
func NewSenders(o Options) map[string]Sender {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.UserAgent == "" {
		o.UserAgent = "observable-server"
	}
	if o.Guard == nil {
		o.Guard = &Guard{}
	}
	h := &httpSender{client: o.Guard.Client(o.Timeout), ua: o.UserAgent, now: o.Now, timeout: o.Timeout}
	return map[string]Sender{
		domain.ChannelWebhook: &webhookSender{h},
		domain.ChannelSlack:   &slackSender{h},
		domain.ChannelDiscord: &discordSender{h},
		domain.ChannelNtfy:    &ntfySender{h},
		domain.ChannelEmail:   newEmailSender(o),
	}
}

// Webhook signature headers (docs/channels.md): a receiver recomputes
// HMAC-SHA256(secret, timestamp + "." + body) and rejects a timestamp more
// than 5 minutes away from its clock, so a captured request cannot be
// replayed later.
const (
	HeaderTimestamp = "X-Observable-Timestamp"
	HeaderSignature = "X-Observable-Signature"
)

// Sign is the X-Observable-Signature value of body sent at ts.
func Sign(secret string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(ts, 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// webhookBody is the documented JSON of a generic webhook.
type webhookBody struct {
	Kind       string           `json:"kind"`
	Job        string           `json:"job"`
	Title      string           `json:"title"`
	Body       string           `json:"body"`
	URL        string           `json:"url"`
	At         domain.Time      `json:"at"`
	Seq        *int64           `json:"seq"`
	Status     *string          `json:"status"`
	DurationMS *float64         `json:"duration_ms"`
	Error      *webhookError    `json:"error"`
	Incident   *webhookIncident `json:"incident"`
	Channel    string           `json:"channel"`
}

type webhookError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

type webhookIncident struct {
	ID       int64        `json:"id"`
	Kind     string       `json:"kind"`
	OpenedAt domain.Time  `json:"opened_at"`
	ClosedAt *domain.Time `json:"closed_at"`
	Runs     int64        `json:"runs"`
}

type webhookSender struct{ h *httpSender }

func (s *webhookSender) Send(ctx context.Context, c domain.Channel, sec domain.ChannelSecrets, m Message) error {
	b := webhookBody{Kind: m.Kind, Job: m.Job, Title: m.Title, Body: m.Body, URL: m.URL, At: domain.NewTime(m.At), Channel: c.ID}
	if ev := m.Event; ev != nil {
		if ev.Seq > 0 {
			seq := ev.Seq
			b.Seq = &seq
		}
		st := ev.Status
		b.Status, b.DurationMS = &st, ev.DurationMS
		if ev.Error != nil {
			// The receiver is a program: it gets the error as sent, only made
			// valid UTF-8 by the JSON encoder.
			b.Error = &webhookError{Type: ev.Error.Type, Message: ev.Error.Message}
		}
	}
	if in := m.Incident; in != nil {
		b.Incident = &webhookIncident{ID: in.ID, Kind: in.Kind, OpenedAt: in.OpenedAt, ClosedAt: in.ClosedAt, Runs: in.Runs}
	}
	body, err := encodeJSON(b)
	if err != nil {
		return permanent("cannot encode the webhook's message: %v", err)
	}
	hdr := map[string]string{"Content-Type": "application/json"}
	if sec.Secret != "" {
		ts := s.h.now().Unix()
		hdr[HeaderTimestamp] = strconv.FormatInt(ts, 10)
		hdr[HeaderSignature] = Sign(sec.Secret, ts, body)
	}
	host := hostOf(sec.URL)
	r, err := s.h.post(ctx, sec.URL, hdr, body, sec.URL, sec.Secret)
	if err != nil {
		return err
	}
	return r.classify(host, func(status int) string {
		switch status {
		case http.StatusUnauthorized, http.StatusForbidden:
			return "the receiver refused the request; check that it verifies signatures with this channel's secret"
		case http.StatusNotFound, http.StatusGone:
			return "no webhook at this URL; check the receiver and add the channel again with the right URL"
		case http.StatusRequestEntityTooLarge:
			return "the receiver refused the message's size"
		}
		return "the receiver refused the message"
	}, s.h.now)
}

// httpSender makes the one POST of the HTTP channel types and turns what
// went wrong into a DeliveryError.
type httpSender struct {
	client  *http.Client
	ua      string
	now     func() time.Time
	timeout time.Duration
}

// reply is an answer, its body already read (at most maxBody).
type reply struct {
	status  int
	header  http.Header
	body    []byte
	secrets []string // redacted from any excerpt
}

// post sends body to rawURL. secrets (the URL, tokens) are taken out of
// every text that could reach the phone or a log.
func (h *httpSender) post(ctx context.Context, rawURL string, hdr map[string]string, body []byte, secrets ...string) (reply, error) {
	secrets = append(secrets, urlSecrets(rawURL)...)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return reply{}, permanent("the channel's URL is not usable; add the channel again")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	req.Header.Set("User-Agent", h.ua)
	resp, err := h.client.Do(req)
	if err != nil {
		return reply{}, h.transportError(err, hostOf(rawURL), secrets)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil && (resp.StatusCode < 200 || resp.StatusCode > 299) {
		return reply{}, h.transportError(err, hostOf(rawURL), secrets)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b, secrets: secrets}, nil
}

// urlSecrets are the parts of a URL that must never be shown: its path and
// query (the host is what messages name).
func urlSecrets(raw string) []string {
	u, err := url.Parse(raw)
	if err != nil {
		return []string{raw}
	}
	out := []string{raw}
	for _, p := range strings.Split(strings.Trim(u.EscapedPath(), "/"), "/") {
		out = append(out, p)
		if q, err := url.PathUnescape(p); err == nil && q != p {
			out = append(out, q)
		}
	}
	if u.RawQuery != "" {
		out = append(out, u.RawQuery)
	}
	return out
}

// redact takes every secret of at least 4 characters out of s. Shorter
// path segments ("api", "v1") say nothing and are left.
func redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "…")
		}
	}
	return s
}

// transportError words a request that got no answer. The cause never
// repeats the URL (url.Error's text does, with the secret in it).
func (h *httpSender) transportError(err error, host string, secrets []string) error {
	var refused *refusedError
	var redir *redirectError
	var ce *tls.CertificateVerificationError
	var he x509.HostnameError
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if de, ok := domain.AsError(err); ok {
		return permanent("%s", de.Message)
	}
	switch {
	case errors.As(err, &refused):
		return permanent("%s", refused.Error())
	case errors.As(err, &redir):
		return permanent("%s", redact(redir.msg, secrets))
	case errors.As(err, &ce), errors.As(err, &he):
		return permanent("could not verify %s's TLS certificate (%s); the receiver must have a valid certificate", host, redact(alerttext.Clip(alerttext.Clean(err.Error()), 160), secrets))
	case isTimeout(err):
		return temporary("%s did not answer within %s; trying again later", host, h.timeout)
	case errors.Is(err, syscall.ECONNREFUSED):
		return temporary("could not reach %s: connection refused", host)
	case errors.Is(err, syscall.ECONNRESET):
		return temporary("could not reach %s: the connection was reset", host)
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		if dns.IsNotFound {
			return temporary("could not reach %s: no such host", host)
		}
		return temporary("could not reach %s: the name did not resolve (%s)", host, alerttext.Clip(alerttext.Clean(dns.Err), 80))
	}
	return temporary("could not reach %s: %s", host, redact(alerttext.Clip(alerttext.Clean(err.Error()), 160), secrets))
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// maxRetryAfter caps a receiver's Retry-After at a day, so that a huge
// value cannot park a message for ever.
const maxRetryAfter = 24 * time.Hour

// classify turns an answer into nil (2xx) or a DeliveryError: temporary for
// 408, 429 and 5xx (with the answer's Retry-After on 429 and 503),
// permanent for the rest, with hint(status) saying what to do.
func (r reply) classify(who string, hint func(int) string, now func() time.Time) error {
	st := r.status
	switch {
	case st >= 200 && st < 300:
		return nil
	case st == http.StatusTooManyRequests || st == http.StatusRequestTimeout || st >= 500:
		msg := fmt.Sprintf("%s answered %d", who, st)
		switch {
		case st == http.StatusTooManyRequests:
			msg += ": too many messages"
		case st == http.StatusRequestTimeout:
			msg += ": it timed out reading the message"
		default:
			msg += ": it has a problem of its own"
		}
		if ex := r.excerpt(); ex != "" {
			msg += " (" + ex + ")"
		}
		e := &DeliveryError{Message: msg + "; trying again later"}
		if st == http.StatusTooManyRequests || st == http.StatusServiceUnavailable {
			e.RetryAfter = retryafter.Parse(r.header.Get("Retry-After"), now(), maxRetryAfter)
		}
		return e
	case st >= 300 && st < 400:
		return permanent("%s answered %d, a redirect that was not followed; use the final URL", who, st)
	}
	msg := fmt.Sprintf("%s answered %d: %s", who, st, hint(st))
	if ex := r.excerpt(); ex != "" {
		msg += " (" + ex + ")"
	}
	return &DeliveryError{Message: msg, Permanent: true}
}

// excerpt is a short, cleaned piece of the answer's body for the message:
// the "message" or "error" of a JSON body, or the start of a text one.
func (r reply) excerpt() string {
	text := strings.TrimSpace(string(r.body))
	var j map[string]any
	if json.Unmarshal(r.body, &j) == nil {
		text = ""
		for _, k := range []string{"message", "error", "detail"} {
			if s, ok := j[k].(string); ok && s != "" {
				text = s
				break
			}
		}
	} else if strings.HasPrefix(text, "<") { // an HTML error page says nothing readable
		return ""
	}
	return alerttext.Clip(strings.TrimSpace(redact(alerttext.Clean(text), r.secrets)), 120)
}

// encodeJSON is json.Marshal without HTML escaping: the receivers read
// JSON, not HTML, and "\u003c" only costs bytes of each service's limits.
func encodeJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
