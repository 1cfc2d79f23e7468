package web

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/secret"
)

// pairData fills the pairing page.
type pairData struct {
	Title string
	// State is "fresh", "used" or "expired".
	State string
	// Server is the address the phone reached.
	Server string
	// Host is the computer the CLI ran on, when it said.
	Host string
	// DeviceName is the name offered for this phone, guessed from its
	// browser by the same rule a claim without a name follows.
	DeviceName string
	// CreatedISO is for <time datetime>; CreatedText and CreatedAgo are
	// what a reader sees before the page's script localises the time.
	CreatedISO, CreatedText, CreatedAgo string
	ExpiresIn                           string
	TTL                                 string
	Replace                             bool
	// Insecure is set for plain HTTP from an address that is not this
	// machine: phones then give the app no service worker and no push.
	Insecure bool
}

// PairPage serves GET /pair/{code}: it describes the pairing and lets a
// person confirm it with one tap. It only reads the pairing, never claims
// it, because chat apps and link previews fetch links on their own.
func (s *Site) PairPage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code := r.PathValue("code")
		if !domain.PlausibleCode(code) {
			s.pairingFailed(w, domain.UnknownCode())
			return
		}
		ctx := r.Context()
		// A used or expired pairing is still read, and the page says which.
		p, err := s.opts.Store.Pairing(ctx, secret.Hash(code))
		if err != nil {
			s.pairingFailed(w, err)
			return
		}
		sess, err := s.opts.Store.Session(ctx, p.SessionID)
		if err != nil {
			s.pairingFailed(w, err)
			return
		}
		now := s.now()
		created := sess.CreatedAt.Time
		d := pairData{
			Title:       "Pair this phone",
			State:       "fresh",
			Server:      r.Host,
			Host:        sess.Host,
			DeviceName:  domain.DeviceNameFromAgent(r.UserAgent()),
			CreatedISO:  sess.CreatedAt.UTC().Format(time.RFC3339),
			CreatedText: created.UTC().Format("15:04 UTC on 2 January 2006"),
			CreatedAgo:  ago(now.Sub(created)),
			ExpiresIn:   inAbout(p.ExpiresAt.Sub(now)),
			TTL:         inAbout(p.ExpiresAt.Sub(p.CreatedAt.Time)),
			Replace:     p.Replace,
			Insecure:    !s.secureRequest(r),
		}
		status := http.StatusOK
		// Whether it can be claimed is domain's rule (the claim's too); the
		// page only says which way it cannot.
		if !p.Usable(now) {
			d.State, d.Title, status = "expired", "Pairing code expired", http.StatusGone
			if !p.UsedAt.IsZero() {
				d.State, d.Title = "used", "Pairing code already used"
			}
		}
		s.pages.render(w, status, "pair", d, s.log)
	})
}

// unavailableReason says why the page cannot be shown for now, by the
// error's code: a phone's user should not hear "the database did not
// answer" when the disk is full or the server is restarting.
var unavailableReason = map[string]string{
	domain.EDatabaseUnavailable: "Its database did not answer.",
	domain.EDiskFull:            "Its disk is full; the server's operator must free space.",
	domain.EShuttingDown:        "It is restarting.",
}

// pairingFailed answers a pairing page that cannot be shown, by the
// error's code: an unknown code, a database that does not answer (the code
// stays valid: reload), or the server's own failure (logged).
func (s *Site) pairingFailed(w http.ResponseWriter, err error) {
	switch domain.ErrorCode(err) {
	case domain.EUnknownCode, domain.ENotFound:
		s.pages.render(w, http.StatusNotFound, "message", messagePage{
			Title:   "Unknown pairing code",
			Heading: "This pairing link is not valid",
			Lines: []string{
				"The server does not know this code. The link may be incomplete: scan the QR code again rather than typing it.",
				"For a new code, run this on your computer and scan the code it shows:",
			},
			Command: "observable pair",
		}, s.log)
	case domain.EDatabaseUnavailable, domain.EDiskFull, domain.EShuttingDown:
		code := domain.ErrorCode(err)
		s.log.Warn("pairing page", "code", code, "err", err)
		w.Header().Set("Retry-After", strconv.Itoa(int(domain.DefaultWait(code).Seconds())))
		s.pages.render(w, s.status(code), "message", messagePage{
			Title:   "Try again",
			Heading: "The server could not read this pairing code",
			Lines:   []string{unavailableReason[code] + " Reload this page in a few seconds; the code stays valid until it expires."},
		}, s.log)
	default:
		s.log.Error("pairing page", "err", err)
		s.pages.render(w, http.StatusInternalServerError, "message", messagePage{
			Title:   "Something went wrong",
			Heading: "The server could not show this pairing code",
			Lines:   []string{"The failure has been logged. Reload this page; if it keeps failing, run `observable pair` on your computer for a new code."},
		}, s.log)
	}
}

// status is the HTTP status of an error code: the API's table (Options.Status),
// so that the page and the API answer a full disk alike.
func (s *Site) status(code string) int {
	if s.opts.Status != nil {
		return s.opts.Status(code)
	}
	return http.StatusServiceUnavailable
}

// secureRequest reports whether the browser sees this page as a secure
// context: HTTPS (here or at a proxy in front of us), or this machine
// itself, which browsers trust over plain HTTP. The proxy headers are not
// authenticated, but a forged one only hides a warning from its sender.
func (s *Site) secureRequest(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	if strings.EqualFold(strings.TrimSpace(proto), "https") {
		return true
	}
	if strings.Contains(strings.ToLower(r.Header.Get("Forwarded")), "proto=https") {
		return true
	}
	if pub, err := url.Parse(s.opts.PublicURL); err == nil && pub.Scheme == "https" && strings.EqualFold(pub.Host, r.Host) {
		return true
	}
	return isLocalHost(r.Host)
}

// isLocalHost reports whether a Host header names this machine.
func isLocalHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// ago says how long ago something happened, in words.
func ago(d time.Duration) string {
	switch {
	case d < 45*time.Second:
		return "just now"
	case d < 90*time.Second:
		return "a minute ago"
	case d < time.Hour:
		return fmt.Sprintf("%d minutes ago", int(d.Round(time.Minute)/time.Minute))
	case d < 2*time.Hour:
		return "an hour ago"
	case d < 48*time.Hour:
		return fmt.Sprintf("%d hours ago", int(d/time.Hour))
	}
	return fmt.Sprintf("%d days ago", int(d/(24*time.Hour)))
}

// inAbout says a span of time in words, rounding down.
func inAbout(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "less than a minute"
	case d < 2*time.Minute:
		return "1 minute"
	case d < 2*time.Hour:
		return fmt.Sprintf("%d minutes", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d hours", int(d/time.Hour))
	}
	return fmt.Sprintf("%d days", int(d/(24*time.Hour)))
}
