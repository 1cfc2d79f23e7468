// Package api serves the v1 wire contract over HTTP: sessions, pairing,
// events, streams, jobs, the device calls and the operations endpoints.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/ingest"
	"github.com/observable-code/observable/internal/live"
	"github.com/observable-code/observable/internal/metrics"
	"github.com/observable-code/observable/internal/store"
)

// Push is what the API needs of Web Push: the public key phones subscribe
// with, and the check that an endpoint belongs to a browser's push service.
type Push interface {
	PublicKey() string
	CheckEndpoint(endpoint string) error
}

// Store is what the handlers read and write: the few store methods they
// call, so that any store (or a stand-in in a test) serves.
type Store interface {
	CreateSessionWithPairing(ctx context.Context, keyHash []byte, host string, now time.Time, p domain.Pairing) (domain.Session, error)
	SessionByKey(ctx context.Context, keyHash []byte) (domain.Session, error)
	SessionStatus(ctx context.Context, id int64) (domain.SessionStatus, error)
	CreatePairing(ctx context.Context, p domain.Pairing) error
	Pairing(ctx context.Context, codeHash []byte) (domain.Pairing, error)
	ClaimPairingAgain(ctx context.Context, codeHash []byte, d domain.Device, tokenHash []byte, previous string, now time.Time) (domain.Device, error)
	DeviceByToken(ctx context.Context, tokenHash []byte) (domain.Device, error)
	TouchDevice(ctx context.Context, deviceID string, now time.Time) error
	UpdateDevice(ctx context.Context, deviceID string, s domain.DeviceSettings) error
	DeleteDevice(ctx context.Context, deviceID string) error
	SetPush(ctx context.Context, deviceID string, sub *domain.PushSubscription) error
	ListEvents(ctx context.Context, sessionID int64, q store.EventQuery) ([]domain.StoredEvent, error)
	Event(ctx context.Context, sessionID, seq int64) (domain.StoredEvent, error)
	Jobs(ctx context.Context, sessionID int64) ([]domain.Job, error)
	Job(ctx context.Context, sessionID int64, name string) (domain.Job, error)
	// The job model (jobpatch.go).
	UpdateJob(ctx context.Context, sessionID int64, name string, p domain.JobPatch, now time.Time) (domain.Job, error)
	Incidents(ctx context.Context, sessionID int64, name string, limit int) ([]domain.Incident, error)
	Ping(ctx context.Context) error
	// For pings (pings.go): the server-held key their identifiers derive
	// from, and the store.Pings methods.
	Setting(ctx context.Context, key string) (string, error)
	SetSettingOnce(ctx context.Context, key, value string) (string, error)
	store.Pings
	// Channels (channels.go).
	CreateChannel(ctx context.Context, c domain.Channel, confirmHash []byte, now time.Time) error
	ListChannels(ctx context.Context, sessionID int64) ([]domain.Channel, error)
	GetChannel(ctx context.Context, sessionID int64, id string) (domain.Channel, error)
	UpdateChannel(ctx context.Context, sessionID int64, id string, p domain.ChannelPatch) (domain.Channel, error)
	DeleteChannel(ctx context.Context, sessionID int64, id string) error
	ConfirmChannel(ctx context.Context, tokenHash []byte, now time.Time) (domain.Channel, error)
	ChannelByConfirmHash(ctx context.Context, tokenHash []byte) (domain.Channel, error)
	QueueChannelMessage(ctx context.Context, sessionID int64, id, kind string, now time.Time) error
}

// Options are the settings the API reads (from config.Config, by the
// instance).
type Options struct {
	// PublicURL is where phones reach the server: pairing links, the
	// Origin check and the cookie's Secure flag follow it.
	PublicURL      string
	MaxBodyBytes   int64
	MaxBatchEvents int
	// SessionRate and SessionBurst bound each session's events a second.
	SessionRate  float64
	SessionBurst int
	// SessionsPerMinute and QRPerMinute bound new sessions and drawn QR
	// codes per client address; 0 turns a bound off.
	SessionsPerMinute int
	QRPerMinute       int
	PairingTTL        time.Duration
	// PingBodyLimit is how many bytes of a ping's body are kept
	// (Ping-Body-Limit); 0 is DefaultPingBodyLimit.
	PingBodyLimit int
	// TrustProxy lists the proxies whose X-Forwarded-* headers count.
	TrustProxy []netip.Prefix
}

// Deps are the parts the API is built on.
type Deps struct {
	Store     Store
	Committer *ingest.Committer
	Broker    *live.Broker
	Metrics   *metrics.Metrics
	Logger    *slog.Logger
	// Push may be nil while push is not set up: its routes answer 503.
	Push Push
	// Web serves the phone app (GET /) and PairPage the pairing page.
	Web      http.Handler
	PairPage http.Handler
	// Channels are the channels routes' parts (channels.go).
	Channels ChannelDeps
	// Now is the clock (tests may move it).
	Now func() time.Time
}

// Server holds the handlers' shared state.
type Server struct {
	opts Options
	deps Deps
	log  *slog.Logger
	now  func() time.Time

	sessionKeys  *keyCache
	sessionLimit *limiter
	createLimit  *limiter
	qrLimit      *limiter
	draining     atomic.Bool
	// drained is closed by Drain: long polls answer at once.
	drained   chan struct{}
	drainOnce sync.Once
	outageLog throttle
	bodies    bodyReads
	pings     pingState
	chanTests *limiter
}

// handlerFunc is a handler that returns its failure for serve to answer.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// Route is one entry of the router: what it needs of the caller, and its
// handler. Auth says which credentials it takes (none: anyone); the caller
// is authenticated before the handler runs (callerOf reads who it is).
type Route struct {
	Method  string
	Pattern string
	Auth    credentials
	handler handlerFunc
}

// New builds the API.
func New(opts Options, deps Deps) *Server {
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	s := &Server{opts: opts, deps: deps, log: deps.Logger, now: deps.Now, sessionKeys: newKeyCache(100_000), drained: make(chan struct{}),
		outageLog: throttle{interval: 5 * time.Second}}
	s.sessionLimit = newLimiter(opts.SessionRate, float64(opts.SessionBurst))
	s.createLimit = newLimiter(float64(opts.SessionsPerMinute)/60, float64(opts.SessionsPerMinute))
	s.qrLimit = newLimiter(float64(opts.QRPerMinute)/60, float64(opts.QRPerMinute))
	s.chanTests = newLimiter(1/chanTestEvery.Seconds(), 1)
	return s
}

// Routes lists every route the server answers.
func (s *Server) Routes() []Route {
	return []Route{
		{"POST", "/api/v1/sessions", none, s.createSession},
		{"GET", "/api/v1/session", sessionKey, s.getSession},
		{"POST", "/api/v1/pairings", sessionKey, s.createPairing},
		{"GET", "/api/v1/pairings/{code}/qr", none, s.pairingQR},
		// The claim sets the device cookie: a page of another site must not
		// make a phone pair (originChecked: any Origin given must be ours).
		{"POST", "/api/v1/pairings/{code}/claim", originChecked, s.claimPairing},
		{"POST", eventsPath, sessionKey, s.postEvents},
		{"GET", "/api/v1/events", either, s.listEvents},
		{"GET", "/api/v1/events/stream", either, s.streamEvents},
		{"GET", "/api/v1/events/{seq}", either, s.getEvent},
		{"GET", "/api/v1/jobs", either, s.listJobs},
		{"GET", "/api/v1/jobs/{name}", either, s.getJob},
		{"PATCH", "/api/v1/jobs/{name}", deviceToken, s.patchJob},
		{"GET", "/api/v1/jobs/{name}/ping", either, s.getJobPing},
		{"GET", "/api/v1/ping-key", either, s.getPingKey},
		{"GET", "/api/v1/push/key", none, s.pushKey},
		{"PUT", "/api/v1/device/push", deviceToken, s.putPush},
		{"DELETE", "/api/v1/device/push", deviceToken, s.deletePush},
		{"GET", "/api/v1/device", deviceToken, s.getDevice},
		{"PATCH", "/api/v1/device", deviceToken, s.patchDevice},
		{"DELETE", "/api/v1/device", deviceToken, s.deleteDevice},
		// Channels (channels.go); the confirmation page takes no credential:
		// its token is one (channels_confirm.go).
		{"GET", "/api/v1/channels", deviceToken, s.listChannels},
		{"POST", "/api/v1/channels", deviceToken, s.createChannel},
		{"PATCH", "/api/v1/channels/{id}", deviceToken, s.patchChannel},
		{"DELETE", "/api/v1/channels/{id}", deviceToken, s.deleteChannel},
		{"POST", "/api/v1/channels/{id}/test", deviceToken, s.testChannel},
		{"GET", confirmPath, none, s.confirmPage},
		{"POST", confirmPath, none, s.confirmChannel},
		// The published observable-code SDK (compat.go).
		{"POST", compatEventsPath, sessionKey, s.postCompatEvents},
		{"POST", "/api/sessions", none, s.createCompatSession},
		{"GET", "/api/sessions/{key}/status", none, s.compatSessionStatus},
		// Healthchecks-style pings (pings.go): GET also answers HEAD.
		// /ping/{code}/{action} is also /ping/<ping key>/<slug>.
		{"GET", "/ping/{code}", none, s.ping},
		{"POST", "/ping/{code}", none, s.ping},
		// Healthchecks answers /ping/<uuid>/ as /ping/<uuid> (a success).
		{"GET", "/ping/{code}/", none, s.pingTrailingSlash},
		{"POST", "/ping/{code}/", none, s.pingTrailingSlash},
		{"GET", "/ping/{code}/{action}", none, s.ping},
		{"POST", "/ping/{code}/{action}", none, s.ping},
		{"GET", "/ping/{key}/{slug}/{action}", none, s.ping},
		{"POST", "/ping/{key}/{slug}/{action}", none, s.ping},
		{"GET", "/healthz", none, s.healthz},
		{"GET", "/readyz", none, s.readyz},
		{"GET", "/metrics", none, s.metricsHandler},
		{"GET", "/pair/{code}", none, s.pairPage},
		{"GET", "/", none, s.web},
	}
}

// Handler is the whole HTTP surface, with its middleware.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.Routes() {
		pattern := rt.Method + " " + rt.Pattern
		if rt.Pattern == "/" {
			// A method here would conflict with the /api/ catch-all below.
			pattern = "/"
		}
		mux.Handle(pattern, s.serve(rt))
	}
	mux.Handle("/ping/", s.serve(Route{handler: s.pingMethods})) // OPTIONS, PUT…: 405 (pings.go)
	mux.Handle("/api/", s.serve(Route{handler: func(w http.ResponseWriter, r *http.Request) error {
		if allow := allowedMethods(mux, r); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			return domain.Errorf(domain.EMethodNotAllowed, "%s is not allowed on %s; use %s", r.Method, shownPath(r.URL.Path), strings.Join(allow, " or "))
		}
		return domain.Errorf(domain.ENotFound, "no such API route: %s %s; see docs/openapi.yaml", r.Method, shownPath(r.URL.Path))
	}}))
	return s.middleware(mux)
}

// serve runs a route: the caller's credentials first, as the route asks,
// then the handler; whatever fails is answered in the contract's shape.
func (s *Server) serve(rt Route) http.Handler {
	h := func(w http.ResponseWriter, r *http.Request) error {
		r, err := s.withCaller(w, r, rt.Auth)
		if err != nil {
			return err
		}
		return rt.handler(w, r)
	}
	if rt.Method == http.MethodPost && (rt.Pattern == eventsPath || rt.Pattern == compatEventsPath) {
		h = s.countRejected(h)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeErr(w, r, err)
		}
	})
}

// allowedMethods lists the methods that have a route for r's path, so that
// a wrong method gets 405 in the contract's error format (the catch-all
// above hides the mux's own plain-text 405).
func allowedMethods(mux *http.ServeMux, r *http.Request) []string {
	var allow []string
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := mux.Handler(probe); pattern != "/api/" && pattern != "" {
			allow = append(allow, m)
		}
	}
	return allow
}

// Drain makes /readyz fail, so load balancers stop sending new requests
// while the server shuts down.
func (s *Server) Drain() {
	s.draining.Store(true)
	s.drainOnce.Do(func() { close(s.drained) })
	s.bodies.drain() // a half-sent request must not hold the shutdown
}

func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		// Pairing URLs hold codes: never leak them in a Referer.
		h.Set("Referrer-Policy", "no-referrer")
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		if r.ContentLength != 0 { // -1: chunked
			defer s.bodies.track(rec)()
		}
		start := time.Now()
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("handler panic", "route", r.Pattern, "panic", v)
				if !rec.wrote {
					writeErrorBody(rec, http.StatusInternalServerError, apiError{Code: domain.EInternal, Message: "the server failed; it has been logged"})
				}
			}
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			s.deps.Metrics.Requests.WithLabelValues(route, statusText(rec.status)).Inc()
			// The route pattern, never the path: paths can hold pairing codes.
			// A 503 is an outage or a shutdown, a 507 a full disk: both
			// already reported, once every few seconds.
			if rec.status >= 500 && rec.status != http.StatusServiceUnavailable && rec.status != http.StatusInsufficientStorage {
				s.log.Warn("request failed", "method", r.Method, "route", route, "status", rec.status)
			} else {
				s.log.Debug("request", "method", r.Method, "route", route, "status", rec.status, "took", time.Since(start))
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

// statusRecorder remembers the status for metrics and logs. It unwraps to
// the real writer, so streams can take the connection over.
type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func statusText(code int) string {
	const digits = "0123456789"
	if code < 100 || code > 999 {
		return "other"
	}
	return string([]byte{digits[code/100], digits[code/10%10], digits[code%10]})
}
