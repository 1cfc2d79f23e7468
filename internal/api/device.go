package api

import (
	"cmp"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/push"
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

func (s *Server) getDevice(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, settingsOf(callerOf(r).device))
	return nil
}

func (s *Server) patchDevice(w http.ResponseWriter, r *http.Request) error {
	who := callerOf(r)
	var body struct {
		Name   *string   `json:"name"`
		Notify *string   `json:"notify"`
		Muted  *[]string `json:"muted"`
	}
	if err := s.decodeJSON(w, r, &body); err != nil {
		return err
	}
	d := settingsOf(who.device)
	if body.Name != nil {
		name := strings.TrimSpace(*body.Name)
		if name == "" || utf8.RuneCountInString(name) > maxDeviceName {
			return domain.Errorf(domain.EInvalidName, "name must be 1 to %d characters", maxDeviceName)
		}
		if err := refuseText(domain.EInvalidName, "name", name); err != nil {
			return err
		}
		d.Name = name
	}
	if body.Notify != nil {
		if !domain.ValidNotify(*body.Notify) {
			return domain.Errorf(domain.EInvalidNotify, `notify must be "failures", "all" or "off"`)
		}
		d.Notify = *body.Notify
	}
	if body.Muted != nil {
		if len(*body.Muted) > maxMuted {
			return domain.Errorf(domain.EInvalidMuted, "at most %d jobs can be muted", maxMuted)
		}
		muted := make([]string, 0, len(*body.Muted))
		seen := map[string]bool{}
		for i, name := range *body.Muted {
			if n := utf8.RuneCountInString(name); n == 0 || n > domain.MaxNameLen {
				return domain.Errorf(domain.EInvalidMuted, "muted must list job names of 1 to %d characters", domain.MaxNameLen)
			}
			// Named as the body's decoding names a name that is not UTF-8.
			if err := refuseText(domain.EInvalidMuted, "muted["+strconv.Itoa(i)+"]", name); err != nil {
				return err
			}
			if !seen[name] {
				seen[name] = true
				muted = append(muted, name)
			}
		}
		d.Muted = muted
	}
	if err := s.deps.Store.UpdateDevice(r.Context(), who.device.ID, d.DeviceSettings); err != nil {
		return dbOp("update device", err)
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

func (s *Server) deleteDevice(w http.ResponseWriter, r *http.Request) error {
	who := callerOf(r)
	if err := s.deps.Store.DeleteDevice(r.Context(), who.device.ID); err != nil {
		return dbOp("unpair device", err)
	}
	// Its open streams end now (other instances hear it from the store).
	s.deps.Broker.Notice(domain.Notice{SessionID: who.sessionID, Kind: domain.NoticeRevoked})
	http.SetCookie(w, s.deviceCookie("", -1))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func pushUnavailable() error {
	return domain.Errorf(domain.EPushUnavailable, "push notifications are not set up on this server: ask its operator (its log says why); events still reach the app's feed")
}

func (s *Server) pushKey(w http.ResponseWriter, r *http.Request) error {
	if s.deps.Push == nil {
		return pushUnavailable()
	}
	writeJSON(w, http.StatusOK, map[string]string{"vapid_public_key": s.deps.Push.PublicKey()})
	return nil
}

// putPush stores the browser's PushSubscription JSON:
// {"endpoint": "https://…", "expirationTime": null, "keys": {"p256dh": "…", "auth": "…"}}.
func (s *Server) putPush(w http.ResponseWriter, r *http.Request) error {
	who := callerOf(r)
	if s.deps.Push == nil {
		return pushUnavailable()
	}
	var body struct {
		Endpoint string `json:"endpoint"`
		Keys     struct {
			P256dh string `json:"p256dh"`
			Auth   string `json:"auth"`
		} `json:"keys"`
	}
	if err := s.decodeJSON(w, r, &body); err != nil {
		return err
	}
	if err := cmp.Or(refuseText(domain.EInvalidEndpoint, "endpoint", body.Endpoint),
		refuseText(domain.EInvalidKeys, "keys.p256dh", body.Keys.P256dh),
		refuseText(domain.EInvalidKeys, "keys.auth", body.Keys.Auth)); err != nil {
		return err
	}
	if err := s.deps.Push.CheckEndpoint(body.Endpoint); err != nil {
		return domain.Errorf(domain.EInvalidEndpoint, "%v", err)
	}
	if err := push.CheckKeys(body.Keys.P256dh, body.Keys.Auth); err != nil {
		return err
	}
	sub := &domain.PushSubscription{Endpoint: body.Endpoint, P256dh: body.Keys.P256dh, Auth: body.Keys.Auth}
	if err := s.deps.Store.SetPush(r.Context(), who.device.ID, sub); err != nil {
		return dbOp("save push subscription", err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) deletePush(w http.ResponseWriter, r *http.Request) error {
	if err := s.deps.Store.SetPush(r.Context(), callerOf(r).device.ID, nil); err != nil {
		return dbOp("remove push subscription", err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
