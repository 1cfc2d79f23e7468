package api

import (
	"net/http"
	"strconv"
)

// streamEvents serves Server-Sent Events. It resumes after Last-Event-ID,
// or after ?after= (EventSource cannot set headers on its first request).
func (s *Server) streamEvents(w http.ResponseWriter, r *http.Request) {
	who, ok := s.authenticate(w, r, either)
	if !ok {
		return
	}
	after := int64(-1)
	for _, v := range []string{r.Header.Get("Last-Event-ID"), r.URL.Query().Get("after")} {
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "invalid_last_event_id", "Last-Event-ID (or after) must be the seq of the last event received")
			return
		}
		after = n
		break
	}
	s.deps.Broker.Serve(w, r, who.sessionID, after)
}
