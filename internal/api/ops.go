package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/store"
)

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// readyz answers every failure with 503 (a full disk included, which
// requests get as 507): 503 is what load balancers take for "not ready".
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	if s.draining.Load() {
		s.writeErrStatus(w, r, domain.Errorf(domain.EShuttingDown, "this instance is shutting down; use another"), http.StatusServiceUnavailable)
		return nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	err := s.deps.Store.Ping(ctx)
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
		return nil
	case errors.Is(err, store.ErrDiskFull):
		err = domain.Wrap(err, domain.EDiskFull, "the database's disk is full and writes fail; free space on it: readiness returns by itself")
	default:
		err = domain.Wrap(err, domain.EDatabaseUnavailable, "the database does not answer; the server retries by itself")
	}
	s.writeErrStatus(w, r, dbOp("ping", err), http.StatusServiceUnavailable)
	return nil
}

func (s *Server) metricsHandler(w http.ResponseWriter, r *http.Request) error {
	s.deps.Metrics.Handler().ServeHTTP(w, r)
	return nil
}

func (s *Server) web(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		return domain.Errorf(domain.EMethodNotAllowed, "%s is not allowed here", r.Method)
	}
	if s.deps.Web == nil {
		return domain.Errorf(domain.ENotFound, "the phone app is not built into this server")
	}
	s.deps.Web.ServeHTTP(w, r)
	return nil
}

func (s *Server) pairPage(w http.ResponseWriter, r *http.Request) error {
	if s.deps.PairPage == nil {
		return domain.Errorf(domain.ENotFound, "the pairing page is not built into this server")
	}
	s.deps.PairPage.ServeHTTP(w, r)
	return nil
}
