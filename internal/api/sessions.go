package api

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/qr"
	"github.com/observable-code/observable/internal/secret"
)

// MaxWait is the longest GET /api/v1/session?wait=paired may wait.
const MaxWait = 60 * time.Second

type pairingJSON struct {
	Code      string      `json:"code"`
	URL       string      `json:"url"`
	ExpiresAt domain.Time `json:"expires_at"`
}

func (s *Server) createSession(w http.ResponseWriter, r *http.Request) {
	if ok, wait := s.createLimit.allow(addrKey(s.clientAddr(r)), 1, s.now()); !ok {
		s.deps.Metrics.RateLimited.WithLabelValues("sessions_per_address").Inc()
		retryAfter(w, wait)
		writeError(w, http.StatusTooManyRequests, "rate_limited", "too many new sessions from this address; wait and retry, or reuse the session in ~/.observable-code/config.json")
		return
	}
	var body struct {
		Host string `json:"host"`
	}
	if !s.decodeJSON(w, r, &body) {
		return
	}
	if utf8.RuneCountInString(body.Host) > 255 {
		writeError(w, http.StatusBadRequest, "invalid_host", "host must be at most 255 characters")
		return
	}
	if refuseText(w, "invalid_host", "host", body.Host) {
		return
	}
	key := secret.SessionKey()
	now := s.now()
	code, p := s.pairingFor(0, false, now)
	// One transaction: a session without its pairing could never be paired.
	_, err := s.deps.Store.CreateSessionWithPairing(r.Context(), secret.Hash(key), strings.TrimSpace(body.Host), now, p)
	if s.storeError(w, "create session", err) {
		return
	}
	s.deps.Metrics.SessionsCreated.Inc()
	writeJSON(w, http.StatusCreated, map[string]any{"session_id": key, "pairing": s.pairingAnswer(code, p)})
}

// pairingFor makes a new pairing code and the record stored under its hash.
func (s *Server) pairingFor(sessionID int64, replace bool, now time.Time) (string, domain.Pairing) {
	code := secret.PairingCode()
	return code, domain.Pairing{CodeHash: secret.Hash(code), SessionID: sessionID, CreatedAt: domain.NewTime(now),
		ExpiresAt: domain.NewTime(now.Add(s.cfg.PairingTTL)), Replace: replace}
}

func (s *Server) pairingAnswer(code string, p domain.Pairing) pairingJSON {
	return pairingJSON{Code: code, URL: s.cfg.PublicURL + "/pair/" + code, ExpiresAt: p.ExpiresAt}
}

func (s *Server) newPairing(w http.ResponseWriter, r *http.Request, sessionID int64, replace bool, now time.Time) (pairingJSON, bool) {
	code, p := s.pairingFor(sessionID, replace, now)
	if s.storeError(w, "create pairing", s.deps.Store.CreatePairing(r.Context(), p)) {
		return pairingJSON{}, false
	}
	return s.pairingAnswer(code, p), true
}

func (s *Server) createPairing(w http.ResponseWriter, r *http.Request) {
	who, ok := s.authenticate(w, r, sessionKey)
	if !ok {
		return
	}
	var body struct {
		Replace bool `json:"replace"`
	}
	if !s.decodeJSON(w, r, &body) {
		return
	}
	if p, ok := s.newPairing(w, r, who.sessionID, body.Replace, s.now()); ok {
		writeJSON(w, http.StatusCreated, p)
	}
}

func (s *Server) getSession(w http.ResponseWriter, r *http.Request) {
	who, ok := s.authenticate(w, r, sessionKey)
	if !ok {
		return
	}
	q := r.URL.Query()
	var wait time.Duration
	if q.Get("wait") != "" {
		if q.Get("wait") != "paired" {
			writeError(w, http.StatusBadRequest, "invalid_wait", `wait must be "paired"`)
			return
		}
		secs, err := strconv.ParseFloat(q.Get("timeout"), 64)
		if err != nil || secs < 0 || secs > MaxWait.Seconds() {
			writeError(w, http.StatusBadRequest, "invalid_timeout", "timeout must be a number of seconds from 0 to 60")
			return
		}
		wait = time.Duration(secs * float64(time.Second))
	}
	// Register before the first read, so that a pairing between the read
	// and the wait still wakes us.
	var woke <-chan struct{}
	if wait > 0 {
		ch, stop := s.deps.Broker.WaitPaired(who.sessionID)
		defer stop()
		woke = ch
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(wait + 10*time.Second))
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		st, err := s.deps.Store.SessionStatus(r.Context(), who.sessionID)
		if s.storeError(w, "read session", err) {
			return
		}
		if st.Paired || wait == 0 {
			writeJSON(w, http.StatusOK, st)
			return
		}
		select {
		case <-woke:
		case <-deadline.C:
			wait = 0
		case <-s.drained:
			wait = 0
		case <-r.Context().Done():
			return
		}
	}
}

func (s *Server) pairingQR(w http.ResponseWriter, r *http.Request) {
	// Before the lookup: drawing costs CPU, and a code is read once or twice.
	if ok, wait := s.qrLimit.allow(addrKey(s.clientAddr(r)), 1, s.now()); !ok {
		s.deps.Metrics.RateLimited.WithLabelValues("qr_per_address").Inc()
		retryAfter(w, wait)
		writeError(w, http.StatusTooManyRequests, "rate_limited", "too many QR codes drawn for this address; wait for Retry-After seconds and retry")
		return
	}
	code := r.PathValue("code")
	p, err := s.deps.Store.Pairing(r.Context(), secret.Hash(code))
	if s.storeError(w, "pairing code", err) {
		return
	}
	if !p.Usable(s.now()) {
		writeError(w, http.StatusGone, "gone", "this pairing code was used or has expired; run `observable pair` for a new one")
		return
	}
	link := s.cfg.PublicURL + "/pair/" + code
	w.Header().Set("Cache-Control", "no-store")
	q := r.URL.Query()
	switch format := q.Get("format"); format {
	case "", "text":
		text, err := qr.Text(link, q.Get("invert") == "1" || q.Get("invert") == "true")
		if err != nil {
			writeError(w, http.StatusUnprocessableEntity, "url_too_long", err.Error()+"; use a shorter --public-url")
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte(text))
	case "svg":
		svg, err := qr.SVG(link)
		if err != nil {
			writeError(w, http.StatusUnprocessableEntity, "url_too_long", err.Error())
			return
		}
		w.Header().Set("Content-Type", "image/svg+xml")
		w.Write(svg)
	case "png":
		size := 320
		if v := q.Get("size"); v != "" {
			if size, err = strconv.Atoi(v); err != nil || size < qr.MinPNGSize || size > qr.MaxPNGSize {
				writeError(w, http.StatusBadRequest, "invalid_size", "size must be a number of pixels from "+strconv.Itoa(qr.MinPNGSize)+" to "+strconv.Itoa(qr.MaxPNGSize))
				return
			}
		}
		png, err := qr.PNG(link, size)
		if err != nil {
			writeError(w, http.StatusUnprocessableEntity, "url_too_long", err.Error())
			return
		}
		w.Header().Set("Content-Type", "image/png")
		w.Write(png)
	default:
		writeError(w, http.StatusBadRequest, "invalid_format", "format must be text, svg or png")
	}
}

func (s *Server) claimPairing(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Origin") != "" && !s.sameOrigin(r) {
		writeError(w, http.StatusForbidden, "bad_origin", "pairing must be confirmed on "+s.cfg.PublicURL+"/pair/…, not from another site")
		return
	}
	var body struct {
		Name string `json:"name"`
	}
	if !s.decodeJSON(w, r, &body) {
		return
	}
	name := strings.TrimSpace(body.Name)
	if name == "" {
		name = deviceNameFromAgent(r.UserAgent())
	}
	if utf8.RuneCountInString(name) > 100 {
		writeError(w, http.StatusBadRequest, "invalid_name", "name must be at most 100 characters")
		return
	}
	if refuseText(w, "invalid_name", "name", name) {
		return
	}
	token := secret.DeviceToken()
	d, err := s.deps.Store.ClaimPairing(r.Context(), secret.Hash(r.PathValue("code")),
		domain.Device{ID: secret.ID(), Name: name}, secret.Hash(token), s.now())
	switch {
	case errors.Is(err, domain.ErrNotFound):
		writeError(w, http.StatusNotFound, "unknown_code", "this pairing code does not exist; check the link, or run `observable pair` for a new one")
		return
	case errors.Is(err, domain.ErrGone):
		writeError(w, http.StatusGone, "code_used_or_expired", "this pairing code was already used or has expired; run `observable pair` for a new one")
		return
	case s.storeError(w, "claim pairing", err):
		return
	}
	s.forgetPreviousPairing(r, d)
	s.deps.Metrics.PairingsClaimed.Inc()
	s.deps.Broker.Notice(domain.Notice{SessionID: d.SessionID, Kind: domain.NoticePaired})
	// A replacing pairing (or forgetPreviousPairing) unpaired devices: their
	// streams end now. Streams whose device stands are left alone.
	s.deps.Broker.Notice(domain.Notice{SessionID: d.SessionID, Kind: domain.NoticeRevoked})
	http.SetCookie(w, s.deviceCookie(token, 400*24*3600))
	writeJSON(w, http.StatusCreated, map[string]string{"device_id": d.ID, "device_token": token})
}

// deviceNameFromAgent names a phone from its browser, for the CLI to say
// which device paired.
func deviceNameFromAgent(ua string) string {
	for _, c := range []struct{ needle, name string }{
		{"iPhone", "iPhone"}, {"iPad", "iPad"}, {"Android", "Android phone"},
		{"Macintosh", "Mac"}, {"Windows", "Windows PC"}, {"Linux", "Linux computer"},
	} {
		if strings.Contains(ua, c.needle) {
			return c.name
		}
	}
	return "phone"
}

// forgetPreviousPairing unpairs the device record a phone had before it
// paired again with the same session (its cookie says which), so the
// session does not list, or notify, one phone twice. Best effort: the new
// pairing stands either way.
func (s *Server) forgetPreviousPairing(r *http.Request, paired domain.Device) {
	c, err := r.Cookie(DeviceCookie)
	if err != nil || !secret.IsDeviceToken(c.Value) {
		return
	}
	old, err := s.deps.Store.DeviceByToken(r.Context(), secret.Hash(c.Value))
	if err != nil || old.SessionID != paired.SessionID || old.ID == paired.ID {
		return
	}
	if err := s.deps.Store.DeleteDevice(r.Context(), old.ID); err != nil {
		s.log.Warn("unpair the phone's previous record", "err", err)
	}
}
