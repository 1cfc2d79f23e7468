package api

import (
	"net/http"
	"strconv"

	"github.com/observable-code/observable/internal/live"
	"github.com/observable-code/observable/internal/secret"
)

// streamEvents serves Server-Sent Events. It resumes after Last-Event-ID,
// or after ?after= (EventSource cannot set headers on its first request).
func (s *Server) streamEvents(w http.ResponseWriter, r *http.Request) {
	// Before the credential is checked: an unpairing in between is caught.
	revocations := s.deps.Broker.Revocations()
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
	req := live.StreamRequest{SessionID: who.sessionID, Addr: addrKey(s.clientAddr(r)), After: after, Revocations: revocations}
	if who.device != nil {
		// Kept to recheck, on a revocation notice, that the device still stands.
		req.DeviceID, req.TokenHash = who.device.ID, secret.Hash(deviceTokenOf(r))
	}
	s.deps.Broker.Serve(w, r, req)
}

// deviceTokenOf is the device token authenticate accepted: the bearer
// token, or else the cookie.
func deviceTokenOf(r *http.Request) string {
	if t := bearer(r); t != "" {
		return t
	}
	if c, err := r.Cookie(DeviceCookie); err == nil {
		return c.Value
	}
	return ""
}
