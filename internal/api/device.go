package api

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/observable-code/observable/internal/domain"
)

// Bounds of a device's settings.
const (
	maxDeviceName = 100
	maxMuted      = 500
)

type deviceJSON struct {
	ID string `json:"id"`
	domain.DeviceSettings
	Push bool `json:"push"`
}

func settingsOf(d *domain.Device) deviceJSON {
	return deviceJSON{ID: d.ID, DeviceSettings: domain.DeviceSettings{Name: d.Name, Notify: d.Notify, Muted: d.Muted}, Push: d.HasPush}
}

func (s *Server) getDevice(w http.ResponseWriter, r *http.Request) {
	who, ok := s.authenticate(w, r, deviceToken)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, settingsOf(who.device))
}

func (s *Server) patchDevice(w http.ResponseWriter, r *http.Request) {
	who, ok := s.authenticate(w, r, deviceToken)
	if !ok {
		return
	}
	var body struct {
		Name   *string   `json:"name"`
		Notify *string   `json:"notify"`
		Muted  *[]string `json:"muted"`
	}
	if !s.decodeJSON(w, r, &body) {
		return
	}
	d := settingsOf(who.device)
	if body.Name != nil {
		name := strings.TrimSpace(*body.Name)
		if name == "" || utf8.RuneCountInString(name) > maxDeviceName {
			writeError(w, http.StatusBadRequest, "invalid_name", "name must be 1 to 100 characters")
			return
		}
		if refuseText(w, "invalid_name", "name", name) {
			return
		}
		d.Name = name
	}
	if body.Notify != nil {
		if !domain.ValidNotify(*body.Notify) {
			writeError(w, http.StatusBadRequest, "invalid_notify", `notify must be "failures", "all" or "off"`)
			return
		}
		d.Notify = *body.Notify
	}
	if body.Muted != nil {
		if len(*body.Muted) > maxMuted {
			writeError(w, http.StatusBadRequest, "invalid_muted", "at most 500 jobs can be muted")
			return
		}
		muted := make([]string, 0, len(*body.Muted))
		seen := map[string]bool{}
		for _, name := range *body.Muted {
			if n := utf8.RuneCountInString(name); n == 0 || n > domain.MaxNameLen {
				writeError(w, http.StatusBadRequest, "invalid_muted", "muted must list job names of 1 to 200 characters")
				return
			}
			if refuseText(w, "invalid_muted", "muted", name) {
				return
			}
			if !seen[name] {
				seen[name] = true
				muted = append(muted, name)
			}
		}
		d.Muted = muted
	}
	if s.storeError(w, "update device", s.deps.Store.UpdateDevice(r.Context(), who.device.ID, d.DeviceSettings)) {
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) deleteDevice(w http.ResponseWriter, r *http.Request) {
	who, ok := s.authenticate(w, r, deviceToken)
	if !ok {
		return
	}
	if s.storeError(w, "unpair device", s.deps.Store.DeleteDevice(r.Context(), who.device.ID)) {
		return
	}
	// Its open streams end now (other instances hear it from the store).
	s.deps.Broker.Notice(domain.Notice{SessionID: who.sessionID, Kind: domain.NoticeRevoked})
	http.SetCookie(w, s.deviceCookie("", -1))
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) pushKey(w http.ResponseWriter, r *http.Request) {
	if s.deps.Push == nil {
		writeError(w, http.StatusServiceUnavailable, "push_unavailable", "push notifications are not set up on this server")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"vapid_public_key": s.deps.Push.PublicKey()})
}

// putPush stores the browser's PushSubscription JSON:
// {"endpoint": "https://…", "expirationTime": null, "keys": {"p256dh": "…", "auth": "…"}}.
func (s *Server) putPush(w http.ResponseWriter, r *http.Request) {
	who, ok := s.authenticate(w, r, deviceToken)
	if !ok {
		return
	}
	if s.deps.Push == nil {
		writeError(w, http.StatusServiceUnavailable, "push_unavailable", "push notifications are not set up on this server")
		return
	}
	var body struct {
		Endpoint string `json:"endpoint"`
		Keys     struct {
			P256dh string `json:"p256dh"`
			Auth   string `json:"auth"`
		} `json:"keys"`
	}
	if !s.decodeJSON(w, r, &body) {
		return
	}
	if refuseText(w, "invalid_endpoint", "endpoint", body.Endpoint) || refuseText(w, "invalid_keys", "keys.p256dh", body.Keys.P256dh) ||
		refuseText(w, "invalid_keys", "keys.auth", body.Keys.Auth) {
		return
	}
	if err := s.deps.Push.CheckEndpoint(body.Endpoint); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_endpoint", err.Error())
		return
	}
	if n, err := decodeKey(body.Keys.P256dh); err != nil || n != 65 {
		writeError(w, http.StatusBadRequest, "invalid_keys", "keys.p256dh must be the browser's P-256 public key (65 bytes, base64url)")
		return
	}
	if n, err := decodeKey(body.Keys.Auth); err != nil || n != 16 {
		writeError(w, http.StatusBadRequest, "invalid_keys", "keys.auth must be the browser's 16-byte auth secret (base64url)")
		return
	}
	sub := &domain.PushSubscription{Endpoint: body.Endpoint, P256dh: body.Keys.P256dh, Auth: body.Keys.Auth}
	if s.storeError(w, "save push subscription", s.deps.Store.SetPush(r.Context(), who.device.ID, sub)) {
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func decodeKey(s string) (int, error) {
	s = strings.TrimRight(s, "=")
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		b, err = base64.RawStdEncoding.DecodeString(s)
	}
	if err != nil {
		return 0, errors.New("not base64")
	}
	return len(b), nil
}

func (s *Server) deletePush(w http.ResponseWriter, r *http.Request) {
	who, ok := s.authenticate(w, r, deviceToken)
	if !ok {
		return
	}
	if s.storeError(w, "remove push subscription", s.deps.Store.SetPush(r.Context(), who.device.ID, nil)) {
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
