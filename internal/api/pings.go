package api

// Healthchecks-style pings: the ping API of a self-hosted Healthchecks
// server (hc/api/urls.py, hc/api/views.py), so that its clients and the
// one-liners of its docs work by changing the base URL. A ping is an event
// like any other and takes the v1 path (submitEvents).

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/store"
)

// DefaultPingBodyLimit is how much of a ping's body is kept, as in
// Healthchecks' PING_BODY_LIMIT.
const DefaultPingBodyLimit = 10_000

// pingKeySetting is the settings key of the server-held secret the ping
// UUIDs and ping keys are derived from. Both must be shown again, so they
// are not random: derived, they need no clear copy in the database. Like the
// VAPID keys it is made once and shared by every instance.
const pingKeySetting = "ping.key"

// pingKnownMax bounds the cache of ping UUIDs already recorded.
const pingKnownMax = 100_000

type pingState struct {
	mu    sync.Mutex
	key   []byte
	known map[string]struct{}
}

// pingSecret reads (or makes, at first use) the server's ping key.
func (s *Server) pingSecret(ctx context.Context) ([]byte, error) {
	s.pings.mu.Lock()
	defer s.pings.mu.Unlock()
	if s.pings.key != nil {
		return s.pings.key, nil
	}
	stored, err := s.deps.Store.Setting(ctx, pingKeySetting)
	if errors.Is(err, domain.ErrNotFound) {
		fresh := make([]byte, 32)
		if _, err := rand.Read(fresh); err != nil {
			return nil, err
		}
		stored, err = s.deps.Store.SetSettingOnce(ctx, pingKeySetting, base64.RawURLEncoding.EncodeToString(fresh))
	}
	if err != nil {
		return nil, dbOp("read the ping key", err)
	}
	key, err := base64.RawURLEncoding.DecodeString(stored)
	if err != nil || len(key) < 32 {
		return nil, dbOp("read the ping key", errors.New("setting "+pingKeySetting+" is not 32 bytes of base64url; delete it to make a new one (every ping URL changes)"))
	}
	s.pings.key = key
	return key, nil
}

func pingMAC(key []byte, parts ...string) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return m.Sum(nil)
}

// pingKey is a session's ping key: its id and a MAC of it, so that it is
// checked by recomputing the MAC and is stored nowhere.
func (s *Server) pingKey(ctx context.Context, sessionID int64) (string, error) {
	key, err := s.pingSecret(ctx)
	if err != nil {
		return "", err
	}
	b := binary.BigEndian.AppendUint64(nil, uint64(sessionID))
	b = append(b, pingMAC(key, "ping-key", strconv.FormatInt(sessionID, 10))[:16]...)
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// sessionOfPingKey is the session a ping key names; false for any key not
// made by this server (compared in constant time).
func (s *Server) sessionOfPingKey(ctx context.Context, pingKey string) (int64, bool, error) {
	key, err := s.pingSecret(ctx)
	if err != nil {
		return 0, false, err
	}
	b, err := base64.RawURLEncoding.DecodeString(pingKey)
	if err != nil || len(b) != 24 {
		return 0, false, nil
	}
	id := int64(binary.BigEndian.Uint64(b))
	want := pingMAC(key, "ping-key", strconv.FormatInt(id, 10))[:16]
	return id, subtle.ConstantTimeCompare(b[8:], want) == 1, nil
}

// pingURL is a job's ping URL (pingURLs for one).
func (s *Server) pingURL(ctx context.Context, sessionID int64, name string) (string, error) {
	urls, err := s.pingURLs(ctx, sessionID, []string{name})
	if err != nil {
		return "", err
	}
	return urls[0], nil
}

// pingURLs are the ping URLs of a session's jobs. The hashes of their UUIDs
// are recorded (in one transaction, once per instance and UUID), so that a
// ping finds the job, which may not exist yet: the first ping makes it.
func (s *Server) pingURLs(ctx context.Context, sessionID int64, names []string) ([]string, error) {
	key, err := s.pingSecret(ctx)
	if err != nil {
		return nil, err
	}
	urls := make([]string, len(names))
	var fresh []store.PingCheck
	s.pings.mu.Lock()
	for i, name := range names {
		uuid := pingUUID(key, sessionID, name)
		urls[i] = s.opts.PublicURL + "/ping/" + uuid
		hash := sha256.Sum256([]byte(uuid))
		if _, known := s.pings.known[string(hash[:])]; !known {
			fresh = append(fresh, store.PingCheck{UUIDHash: hash[:], Name: name})
		}
	}
	s.pings.mu.Unlock()
	if len(fresh) == 0 {
		return urls, nil
	}
	if err := s.deps.Store.PutPingChecks(ctx, sessionID, fresh, s.now()); err != nil {
		return nil, dbOp("store the ping URLs", err)
	}
	s.pings.mu.Lock()
	if s.pings.known == nil || len(s.pings.known)+len(fresh) > pingKnownMax {
		s.pings.known = make(map[string]struct{})
	}
	for _, c := range fresh {
		s.pings.known[string(c.UUIDHash)] = struct{}{}
	}
	s.pings.mu.Unlock()
	return urls, nil
}

// pingUUID is a job's ping UUID: an HMAC of its session and name, shaped
// as a version 4 UUID for clients that check.
func pingUUID(key []byte, sessionID int64, name string) string {
	u := pingMAC(key, "ping-uuid", strconv.FormatInt(sessionID, 10), name)[:16]
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	h := hex.EncodeToString(u)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// pingText answers as Healthchecks does: plain text.
func pingText(w http.ResponseWriter, status int, text string) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(text))
	return nil
}

// ping serves /ping/<uuid>[/action] and /ping/<ping key>/<slug>[/action].
// pingTrailingSlash serves /ping/<uuid>/ as the success ping Healthchecks
// takes it for. Its pattern also catches deeper paths no other route
// matches (/ping/a/b/c/d): those are not pings.
func (s *Server) pingTrailingSlash(w http.ResponseWriter, r *http.Request) error {
	if r.URL.Path != "/ping/"+r.PathValue("code")+"/" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		_, err := io.WriteString(w, "not found")
		return err
	}
	return s.ping(w, r)
}

func (s *Server) ping(w http.ResponseWriter, r *http.Request) error {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Cache-Control", "no-store")
	ctx := r.Context()
	parts := []string{r.PathValue("code"), r.PathValue("action")}
	if r.PathValue("key") != "" {
		parts = []string{r.PathValue("key"), r.PathValue("slug"), r.PathValue("action")}
	} else if parts[1] == "" {
		parts = parts[:1]
	}
	var sessionID int64
	var name, action string
	created := false
	uuid := parts[0]
	switch {
	case isPathUUID(uuid) && len(parts) <= 2:
		if len(parts) == 2 {
			action = parts[1]
		}
		hash := sha256.Sum256([]byte(uuid))
		id, job, err := s.deps.Store.PingCheck(ctx, hash[:])
		if errors.Is(err, domain.ErrNotFound) {
			return pingText(w, http.StatusNotFound, "not found")
		}
		if err != nil {
			return dbOp("read ping check", err)
		}
		sessionID, name = id, job
	case len(parts) == 2 || len(parts) == 3:
		if !isSlug(parts[0]) || !isSlug(parts[1]) {
			return pingText(w, http.StatusNotFound, "not found")
		}
		if len(parts) == 3 {
			action = parts[2]
		}
		id, ok, err := s.sessionOfPingKey(ctx, parts[0])
		if err != nil {
			return err
		}
		if !ok {
			return pingText(w, http.StatusNotFound, "not found")
		}
		var matches []string
		jobs, err := s.deps.Store.Jobs(ctx, id)
		if err != nil {
			return dbOp("list jobs", err)
		}
		for _, j := range jobs {
			if j.Name == parts[1] || slugify(j.Name) == parts[1] {
				matches = append(matches, j.Name)
			}
		}
		switch {
		case len(matches) > 1:
			return pingText(w, http.StatusConflict, "ambiguous slug")
		case len(matches) == 1:
			name = matches[0]
		case r.URL.Query().Get("create") == "1":
			name, created = parts[1], true
		default:
			return pingText(w, http.StatusNotFound, "not found")
		}
		sessionID = id
	default:
		return pingText(w, http.StatusNotFound, "not found")
	}
	status, exit := "", -1
	switch action {
	case "":
		status = domain.StatusCompleted
	case "start":
		status = "started"
	case "fail":
		status = domain.StatusFailed
	case "log":
		status = "log"
	default:
		for _, c := range action {
			if c < '0' || c > '9' {
				return pingText(w, http.StatusNotFound, "not found")
			}
		}
		n, err := strconv.Atoi(action)
		if err != nil || n > 255 {
			return pingText(w, http.StatusBadRequest, "invalid url format")
		}
		exit, status = n, domain.StatusCompleted
		if n != 0 {
			status = domain.StatusFailed
		}
	}
	rid := r.URL.Query().Get("rid")
	if rid != "" {
		var ok bool
		if rid, ok = parseRunID(rid); !ok {
			return pingText(w, http.StatusBadRequest, "invalid uuid format")
		}
	}
	body, ok, err := s.readPingBody(w, r)
	if err != nil {
		return err
	}
	if !ok {
		return pingText(w, http.StatusRequestEntityTooLarge, "request body too large")
	}
	ev, ended, err := s.pingEvent(ctx, sessionID, name, status, exit, rid, r.Method, body)
	if err == nil {
		_, err = s.submitEvents(ctx, sessionID, []domain.Event{ev})
	}
	if err != nil {
		if ended != nil {
			// The end was not stored (429, a full session): its start goes
			// back, so that the client's retry (curl --retry 5 retries a 429)
			// still gets the run's duration.
			if err := s.deps.Store.StartPingRun(context.WithoutCancel(ctx), sessionID, name, rid, *ended); err != nil {
				return dbOp("store ping start", err)
			}
		}
		return err
	}
	if status == "started" {
		if err := s.deps.Store.StartPingRun(ctx, sessionID, name, rid, ev.Timestamp.Time); err != nil {
			return dbOp("store ping start", err)
		}
	}
	// Only a taken ping says how much of its body was kept, as Healthchecks
	// sets the header on its 200 (and the 201 made from it), not on refusals.
	h.Set("Ping-Body-Limit", strconv.Itoa(s.pingBodyLimit()))
	if created {
		return pingText(w, http.StatusCreated, "Created")
	}
	return pingText(w, http.StatusOK, "OK")
}

// pingBodyMax is the largest ping body taken. Only its first
// Ping-Body-Limit bytes are kept and the rest is read and dropped, so that a
// job that posts its whole log (curl --data-binary @backup.log) still reports
// its end: --max-body-bytes (sized for batches of events) would refuse the
// ping and lose the failure. Healthchecks takes 2.5 MB (Django's
// DATA_UPLOAD_MAX_MEMORY_SIZE); this takes more, as the rest costs no memory.
const pingBodyMax = 16 << 20

// readPingBody reads a ping's body, keeping its first pingBodyLimit bytes;
// ok is false past pingBodyMax.
func (s *Server) readPingBody(w http.ResponseWriter, r *http.Request) (body []byte, ok bool, err error) {
	if r.ContentLength > pingBodyMax {
		s.bodies.finished(w, false)
		return nil, false, nil
	}
	all := http.MaxBytesReader(w, r.Body, pingBodyMax)
	body, err = io.ReadAll(io.LimitReader(all, int64(s.pingBodyLimit())))
	if err == nil {
		_, err = io.Copy(io.Discard, all)
	}
	s.bodies.finished(w, err == nil)
	var overLimit *http.MaxBytesError
	switch {
	case errors.As(err, &overLimit):
		return nil, false, nil
	case err != nil:
		// Never the error's text: it names the sockets' addresses.
		return nil, false, domain.Errorf(domain.EBadBody, "the request body could not be read: the connection was cut or the body came too slowly; send the ping again")
	}
	return body, true, nil
}

func (s *Server) pingBodyLimit() int {
	if s.opts.PingBodyLimit > 0 {
		return s.opts.PingBodyLimit
	}
	return DefaultPingBodyLimit
}

// pingEvent builds the ping's event as a v1 body and parses it the v1 way,
// so that it meets every rule an event posted to /api/v1/events meets.
// ended is the start this end took (nil if none): it is gone from the
// store, and must be put back if the event is not stored.
func (s *Server) pingEvent(ctx context.Context, sessionID int64, name, status string, exit int, rid, method string, body []byte) (ev domain.Event, ended *time.Time, err error) {
	now := s.now()
	raw := map[string]any{"name": name, "status": status, "timestamp": domain.NewTime(now),
		"source": map[string]string{"via": "ping"}}
	meta := map[string]any{"method": method}
	if len(body) > 0 {
		// Stored as text: invalid UTF-8 and NUL (which PostgreSQL refuses)
		// become U+FFFD, as a person reading the run page would see them.
		text := strings.ToValidUTF8(string(body), "\uFFFD")
		meta["body"] = strings.ReplaceAll(text, "\x00", "\uFFFD")
	}
	if rid != "" {
		meta["rid"] = rid
		raw["run"] = rid
	}
	if exit >= 0 {
		meta["exit_status"] = exit
	}
	raw["metadata"] = meta
	if status == domain.StatusFailed {
		msg := "the job pinged /fail"
		if exit > 0 {
			msg = "exit status " + strconv.Itoa(exit)
		}
		raw["error"] = map[string]string{"type": "ping", "message": msg}
	}
	if status == domain.StatusCompleted || status == domain.StatusFailed {
		started, ok, err := s.deps.Store.EndPingRun(ctx, sessionID, name, rid)
		if err != nil {
			return domain.Event{}, nil, dbOp("end ping run", err)
		}
		if ok {
			ended = &started
			if !now.Before(started) {
				raw["duration_ms"] = now.Sub(started).Milliseconds()
			}
		}
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return domain.Event{}, ended, err
	}
	events, _, err := domain.ParseEvents(b, 1)
	if err != nil {
		if _, coded := domain.AsError(err); !coded {
			return domain.Event{}, ended, domain.Errorf(domain.EInvalidEvent, "%v", err)
		}
		return domain.Event{}, ended, err
	}
	return events[0], ended, nil
}

// getJobPing answers a job's ping URL whether or not the job exists yet
// (`observable ping-url NAME`): its first ping makes it.
func (s *Server) getJobPing(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if err := checkJobName(name); err != nil {
		return err
	}
	url, err := s.pingURL(r.Context(), callerOf(r).sessionID, name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"name": name, "ping_url": url})
	return nil
}

// getPingKey answers the session's ping key to its key or a paired phone
// (the phone's settings show it; GET /api/v1/session is the session key's).
func (s *Server) getPingKey(w http.ResponseWriter, r *http.Request) error {
	key, err := s.pingKey(r.Context(), callerOf(r).sessionID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"ping_key": key, "ping_base": s.opts.PublicURL + "/ping/" + key})
	return nil
}
