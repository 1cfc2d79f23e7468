package api

import (
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

// MaxHostLen bounds the host a new session names, in characters.
const MaxHostLen = 255

type pairingJSON struct {
	Code      string      `json:"code"`
	URL       string      `json:"url"`
	ExpiresAt domain.Time `json:"expires_at"`
}

func (s *Server) createSession(w http.ResponseWriter, r *http.Request) error {
	if err := s.allowNewSession(r); err != nil {
		return err
	}
	var body struct {
		Host string `json:"host"`
	}
	if err := s.decodeJSON(w, r, &body); err != nil {
		return err
	}
	if utf8.RuneCountInString(body.Host) > MaxHostLen {
		return domain.Errorf(domain.EInvalidHost, "host must be at most %d characters", MaxHostLen)
	}
	if err := refuseText(domain.EInvalidHost, "host", body.Host); err != nil {
		return err
	}
	key, code, p, err := s.openSession(r, strings.TrimSpace(body.Host))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"session_id": key, "pairing": s.pairingAnswer(code, p)})
	return nil
}

// openSession stores a new session with its first pairing and returns the
// session key and pairing code (v1 and the published SDK's route).
func (s *Server) openSession(r *http.Request, host string) (string, string, domain.Pairing, error) {
	key := secret.SessionKey()
	now := s.now()
	code, p := s.pairingFor(0, false, now)
	// One transaction: a session without its pairing could never be paired.
	if _, err := s.deps.Store.CreateSessionWithPairing(r.Context(), secret.Hash(key), host, now, p); err != nil {
		return "", "", p, dbOp("create session", err)
	}
	s.deps.Metrics.SessionsCreated.Inc()
	return key, code, p, nil
}

// allowNewSession applies the per-address bound on new sessions.
func (s *Server) allowNewSession(r *http.Request) error {
	if ok, wait := s.createLimit.allow(addrKey(s.clientAddr(r)), 1, s.now()); !ok {
		s.deps.Metrics.RateLimited.WithLabelValues("sessions_per_address").Inc()
		return rateLimited(wait, "too many new sessions from this address; wait and retry, or reuse the session in ~/.observable-code/config.json")
	}
	return nil
}

// rateLimited is a 429 whose Retry-After is wait.
func rateLimited(wait time.Duration, message string) error {
	e := domain.Errorf(domain.ERateLimited, "%s", message)
	e.RetryAfter = wait
	return e
}

// pairingFor makes a new pairing code and the record stored under its hash.
func (s *Server) pairingFor(sessionID int64, replace bool, now time.Time) (string, domain.Pairing) {
	code := secret.PairingCode()
	return code, domain.Pairing{CodeHash: secret.Hash(code), SessionID: sessionID, CreatedAt: domain.NewTime(now),
		ExpiresAt: domain.NewTime(now.Add(s.opts.PairingTTL)), Replace: replace}
}

func (s *Server) pairingAnswer(code string, p domain.Pairing) pairingJSON {
	return pairingJSON{Code: code, URL: s.opts.PublicURL + "/pair/" + code, ExpiresAt: p.ExpiresAt}
}

func (s *Server) createPairing(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Replace bool `json:"replace"`
	}
	if err := s.decodeJSON(w, r, &body); err != nil {
		return err
	}
	code, p := s.pairingFor(callerOf(r).sessionID, body.Replace, s.now())
	if err := s.deps.Store.CreatePairing(r.Context(), p); err != nil {
		return dbOp("create pairing", err)
	}
	writeJSON(w, http.StatusCreated, s.pairingAnswer(code, p))
	return nil
}

func (s *Server) getSession(w http.ResponseWriter, r *http.Request) error {
	who := callerOf(r)
	q := r.URL.Query()
	var wait time.Duration
	if q.Get("wait") != "" {
		if q.Get("wait") != "paired" {
			return domain.Errorf(domain.EInvalidWait, `wait must be "paired"`)
		}
		secs, err := strconv.ParseFloat(q.Get("timeout"), 64)
		if err != nil || secs < 0 || secs > MaxWait.Seconds() {
			return domain.Errorf(domain.EInvalidTimeout, "timeout must be a number of seconds from 0 to %d", int64(MaxWait/time.Second))
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
		if err != nil {
			return dbOp("read session", err)
		}
		if st.Paired || wait == 0 {
			pingKey, err := s.pingKey(r.Context(), who.sessionID)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, struct {
				domain.SessionStatus
				PingKey string `json:"ping_key"`
			}{st, pingKey})
			return nil
		}
		select {
		case <-woke:
		case <-deadline.C:
			wait = 0
		case <-s.drained:
			wait = 0
		case <-r.Context().Done():
			return nil
		}
	}
}

func (s *Server) pairingQR(w http.ResponseWriter, r *http.Request) error {
	// Before the lookup: drawing costs CPU, and a code is read once or twice.
	if ok, wait := s.qrLimit.allow(addrKey(s.clientAddr(r)), 1, s.now()); !ok {
		s.deps.Metrics.RateLimited.WithLabelValues("qr_per_address").Inc()
		return rateLimited(wait, "too many QR codes drawn for this address; wait for Retry-After seconds and retry")
	}
	code := r.PathValue("code")
	if !domain.PlausibleCode(code) {
		return domain.UnknownCode()
	}
	p, err := s.deps.Store.Pairing(r.Context(), secret.Hash(code))
	if err := domain.CheckPairing(p, err, s.now()); err != nil {
		return dbOp("pairing code", err)
	}
	link := s.opts.PublicURL + "/pair/" + code
	q := r.URL.Query()
	var img []byte
	var contentType string
	switch format := q.Get("format"); format {
	case "", "text":
		text, err := qr.Text(link, q.Get("invert") == "1" || q.Get("invert") == "true")
		if err != nil {
			return domain.Errorf(domain.EURLTooLong, "%v; use a shorter --public-url", err)
		}
		img, contentType = []byte(text), "text/plain; charset=utf-8"
	case "svg":
		if img, err = qr.SVG(link); err != nil {
			return domain.Errorf(domain.EURLTooLong, "%v", err)
		}
		contentType = "image/svg+xml"
	case "png":
		size := 320
		if v := q.Get("size"); v != "" {
			if size, err = strconv.Atoi(v); err != nil || size < qr.MinPNGSize || size > qr.MaxPNGSize {
				return domain.Errorf(domain.EInvalidSize, "size must be a number of pixels from %d to %d", qr.MinPNGSize, qr.MaxPNGSize)
			}
		}
		if img, err = qr.PNG(link, size); err != nil {
			return domain.Errorf(domain.EURLTooLong, "%v", err)
		}
		contentType = "image/png"
	default:
		return domain.Errorf(domain.EInvalidFormat, "format must be text, svg or png")
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", contentType)
	w.Write(img)
	return nil
}

func (s *Server) claimPairing(w http.ResponseWriter, r *http.Request) error {
	if !domain.PlausibleCode(r.PathValue("code")) {
		return domain.UnknownCode()
	}
	var body struct {
		Name string `json:"name"`
	}
	if err := s.decodeJSON(w, r, &body); err != nil {
		return err
	}
	name := strings.TrimSpace(body.Name)
	if name == "" {
		name = domain.DeviceNameFromAgent(r.UserAgent())
	}
	if utf8.RuneCountInString(name) > maxDeviceName {
		return domain.Errorf(domain.EInvalidName, "name must be at most %d characters", maxDeviceName)
	}
	if err := refuseText(domain.EInvalidName, "name", name); err != nil {
		return err
	}
	token := secret.DeviceToken()
	codeHash := secret.Hash(r.PathValue("code"))
	// A phone that was one of the session's devices (its cookie says which)
	// pairing again takes its own place, in the claim's transaction.
	var previous string
	if old, ok := s.cookieDevice(r); ok {
		previous = old.ID
	}
	d, err := s.deps.Store.ClaimPairingAgain(r.Context(), codeHash, domain.Device{ID: secret.ID(), Name: name}, secret.Hash(token), previous, s.now())
	if err != nil {
		// The claim decides usability in its transaction: only the lookup's
		// outcome is mapped here.
		return dbOp("claim pairing", domain.CheckPairing(domain.Pairing{}, err, time.Time{}))
	}
	s.deps.Metrics.PairingsClaimed.Inc()
	s.deps.Broker.Notice(domain.Notice{SessionID: d.SessionID, Kind: domain.NoticePaired})
	// A replacing pairing (or the phone's old record) unpaired devices: their
	// streams end now. Streams whose device stands are left alone.
	s.deps.Broker.Notice(domain.Notice{SessionID: d.SessionID, Kind: domain.NoticeRevoked})
	http.SetCookie(w, s.deviceCookie(token, 400*24*3600))
	writeJSON(w, http.StatusCreated, map[string]string{"device_id": d.ID, "device_token": token})
	return nil
}

// cookieDevice is the device the request's cookie names, if it stands.
func (s *Server) cookieDevice(r *http.Request) (domain.Device, bool) {
	c, err := r.Cookie(DeviceCookie)
	if err != nil || !secret.IsDeviceToken(c.Value) {
		return domain.Device{}, false
	}
	d, err := s.deps.Store.DeviceByToken(r.Context(), secret.Hash(c.Value))
	return d, err == nil
}
