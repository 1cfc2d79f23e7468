package api

// The routes of the published observable-code SDK (PyPI, 0.1.0 to 0.2.0),
// a different codebase from ours that users already have: its events, its
// `observable setup` and its pairing poll work unchanged against this
// server.

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/secret"
)

const compatEventsPath = "/api/events"

// compatSessionsPrefix begins the published SDK's session paths, whose next
// segment is a session key.
const compatSessionsPrefix = "/api/sessions/"

// shownPath is a request's path as an error may repeat it: never with the
// session key that the published SDK's status route carries.
func shownPath(p string) string {
	if strings.HasPrefix(p, compatSessionsPrefix) {
		return compatSessionsPrefix + "{key}/…"
	}
	return p
}

// postCompatEvents takes both of the published SDK's shapes: 0.1.x sends a
// flat error_type/error_message and trace() data as metadata; 0.2.0 sends
// a nested error, trace() data as traces and event() kwargs as metadata.
// The body is turned into a v1 event and takes the v1 path from there.
func (s *Server) postCompatEvents(w http.ResponseWriter, r *http.Request) error {
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	v1, err := compatToV1(body)
	if err != nil {
		return err
	}
	return s.acceptEvents(w, r, v1)
}

// compatToV1 rewrites an old SDK's event as a v1 event. A body that is not
// a JSON object, or a v1 batch, is passed on as it is: the v1 parser gives
// it the contract's error or takes it.
func compatToV1(body []byte) ([]byte, error) {
	var ev map[string]json.RawMessage
	if err := json.Unmarshal(body, &ev); err != nil || ev == nil {
		return body, nil
	}
	if _, batch := ev["events"]; batch {
		return body, nil
	}
	present := func(k string) bool { v, ok := ev[k]; return ok && !bytes.Equal(bytes.TrimSpace(v), []byte("null")) }
	if present("error_type") || present("error_message") {
		if !present("error") {
			typ, msg := ev["error_type"], ev["error_message"]
			if !present("error_type") {
				typ = json.RawMessage(`"Error"`)
			}
			if !present("error_message") {
				msg = json.RawMessage(`""`)
			}
			ev["error"], _ = json.Marshal(map[string]json.RawMessage{"type": typ, "message": msg})
		}
	}
	delete(ev, "error_type")
	delete(ev, "error_message")
	if present("traces") {
		if !present("metadata") {
			ev["metadata"] = ev["traces"]
		} else {
			var meta map[string]json.RawMessage
			if err := json.Unmarshal(ev["metadata"], &meta); err != nil {
				e := domain.Errorf(domain.EInvalidEvent, "metadata must be a JSON object when traces are sent too")
				e.Field = "metadata"
				return nil, e
			}
			if _, taken := meta["traces"]; !taken {
				meta["traces"] = ev["traces"]
			}
			ev["metadata"], _ = json.Marshal(meta)
		}
	}
	delete(ev, "traces")
	return json.Marshal(ev)
}

// createCompatSession is POST /api/sessions: the published SDK posts no
// body and reads sessionId and pairingToken from a 201.
func (s *Server) createCompatSession(w http.ResponseWriter, r *http.Request) error {
	if err := s.allowNewSession(r); err != nil {
		return err
	}
	if _, err := s.readBody(w, r); err != nil { // ignored: the old SDK sends none
		return err
	}
	key, code, _, err := s.openSession(r, "")
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]string{"sessionId": key, "pairingToken": code})
	return nil
}

// compatSessionStatus is GET /api/sessions/{key}/status: the session key is
// in the path, so nothing here may echo it, and the access log names the
// route pattern only (middleware).
func (s *Server) compatSessionStatus(w http.ResponseWriter, r *http.Request) error {
	sess, err := s.deps.Store.SessionByKey(r.Context(), secret.Hash(r.PathValue("key")))
	if errors.Is(err, domain.ErrNotFound) {
		return domain.Errorf(domain.ENotFound, "no session has that key; run `observable setup` again to make a new one")
	}
	if err != nil {
		return dbOp("read session", err)
	}
	st, err := s.deps.Store.SessionStatus(r.Context(), sess.ID)
	if err != nil {
		return dbOp("read session", err)
	}
	status := "pending"
	if st.Paired {
		status = "paired"
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": status})
	return nil
}
