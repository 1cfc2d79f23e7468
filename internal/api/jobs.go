package api

import "net/http"

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) {
	who, ok := s.authenticate(w, r, either)
	if !ok {
		return
	}
	jobs, err := s.deps.Store.Jobs(r.Context(), who.sessionID)
	if s.storeError(w, "list jobs", err) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"jobs": jobs})
}
