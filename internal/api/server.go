// Package api serves the v1 wire contract over HTTP: sessions, pairing,
// events, streams, jobs, the device calls and the operations endpoints.
package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/observable-code/observable/internal/config"
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

// Deps are the parts the API is built on.
type Deps struct {
	Store     store.Store
	Committer *ingest.Committer
	Broker    *live.Broker
	Metrics   *metrics.Metrics
	Logger    *slog.Logger
	// Push may be nil while push is not set up: its routes answer 503.
	Push Push
	// Web serves the phone app (GET /) and PairPage the pairing page.
	Web      http.Handler
	PairPage http.Handler
	// Now is the clock (tests may move it).
	Now func() time.Time
}

// Server holds the handlers' shared state.
type Server struct {
	cfg  config.Config
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
}

// Route is one entry of the router, listed for the OpenAPI check.
type Route struct {
	Method  string
	Pattern string
	handler http.HandlerFunc
}

// New builds the API.
func New(cfg config.Config, deps Deps) *Server {
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, deps: deps, log: deps.Logger, now: deps.Now, sessionKeys: newKeyCache(100_000), drained: make(chan struct{}),
		outageLog: throttle{interval: 5 * time.Second}}
	s.sessionLimit = newLimiter(cfg.SessionRate, float64(cfg.SessionBurst))
	s.createLimit = newLimiter(float64(cfg.SessionsPerMinute)/60, float64(cfg.SessionsPerMinute))
	s.qrLimit = newLimiter(float64(cfg.QRPerMinute)/60, float64(cfg.QRPerMinute))
	return s
}

// Routes lists every route the server answers.
func (s *Server) Routes() []Route {
	return []Route{
		{"POST", "/api/v1/sessions", s.createSession},
		{"GET", "/api/v1/session", s.getSession},
		{"POST", "/api/v1/pairings", s.createPairing},
		{"GET", "/api/v1/pairings/{code}/qr", s.pairingQR},
		{"POST", "/api/v1/pairings/{code}/claim", s.claimPairing},
		{"POST", "/api/v1/events", s.postEvents},
		{"GET", "/api/v1/events", s.listEvents},
		{"GET", "/api/v1/events/stream", s.streamEvents},
		{"GET", "/api/v1/events/{seq}", s.getEvent},
		{"GET", "/api/v1/jobs", s.listJobs},
		{"GET", "/api/v1/jobs/{name}", s.getJob},
		{"GET", "/api/v1/push/key", s.pushKey},
		{"PUT", "/api/v1/device/push", s.putPush},
		{"DELETE", "/api/v1/device/push", s.deletePush},
		{"GET", "/api/v1/device", s.getDevice},
		{"PATCH", "/api/v1/device", s.patchDevice},
		{"DELETE", "/api/v1/device", s.deleteDevice},
		{"GET", "/healthz", s.healthz},
		{"GET", "/readyz", s.readyz},
		{"GET", "/metrics", s.metricsHandler},
		{"GET", "/pair/{code}", s.pairPage},
		{"GET", "/", s.web},
	}
}

// Handler is the whole HTTP surface, with its middleware.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, r := range s.Routes() {
		pattern := r.Method + " " + r.Pattern
		if r.Pattern == "/" {
			// A method here would conflict with the /api/ catch-all below.
			pattern = "/"
		}
		mux.HandleFunc(pattern, r.handler)
	}
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		if allow := allowedMethods(mux, r); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed on "+r.URL.Path+"; use "+strings.Join(allow, " or "))
			return
		}
		writeError(w, http.StatusNotFound, "not_found", "no such API route: "+r.Method+" "+r.URL.Path+"; see docs/openapi.yaml")
	})
	return s.middleware(mux)
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
					writeError(rec, http.StatusInternalServerError, "internal", "the server failed; it has been logged")
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

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "shutting_down", "this instance is shutting down; use another")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	err := s.deps.Store.Ping(ctx)
	if errors.Is(err, store.ErrDiskFull) {
		s.deps.Metrics.DatabaseErrors.WithLabelValues("ping").Inc()
		w.Header().Set("Retry-After", "30")
		writeError(w, http.StatusServiceUnavailable, "disk_full", "the database's disk is full and writes fail; free space on it: readiness returns by itself")
		return
	}
	if err != nil {
		s.deps.Metrics.DatabaseErrors.WithLabelValues("ping").Inc()
		if n, ok := s.outageLog.due(s.now()); ok {
			s.log.Warn("readiness: database does not answer", "err", err, "refused_since_last_warning", n)
		}
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "database_unavailable", "the database does not answer; the server retries by itself")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (s *Server) metricsHandler(w http.ResponseWriter, r *http.Request) {
	s.deps.Metrics.Handler().ServeHTTP(w, r)
}

func (s *Server) web(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed here")
		return
	}
	if s.deps.Web == nil {
		writeError(w, http.StatusNotFound, "not_found", "the phone app is not built into this server")
		return
	}
	s.deps.Web.ServeHTTP(w, r)
}

func (s *Server) pairPage(w http.ResponseWriter, r *http.Request) {
	if s.deps.PairPage == nil {
		writeError(w, http.StatusNotFound, "not_found", "the pairing page is not built into this server")
		return
	}
	s.deps.PairPage.ServeHTTP(w, r)
}
