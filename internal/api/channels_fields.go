package api

// Reading a channel's body: each field checked by itself, so that an
// error can name it.

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/observable-code/observable/internal/channel"
	"github.com/observable-code/observable/internal/domain"
)

func badChannel(field, format string, args ...any) error {
	e := domain.Errorf(domain.EInvalidChannel, format, args...)
	e.Field = field
	return e
}

// readChannelBody reads a body of at most chanBodyLimit bytes as a JSON
// object, field by field, so that each field can be checked (and unknown
// ones named).
func (s *Server) readChannelBody(w http.ResponseWriter, r *http.Request) (map[string]json.RawMessage, error) {
	tooBig := domain.Errorf(domain.EBodyTooLarge, "a channel's body is at most %d bytes", chanBodyLimit)
	if r.ContentLength > chanBodyLimit {
		s.bodies.finished(w, false)
		return nil, tooBig
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, chanBodyLimit))
	s.bodies.finished(w, err == nil)
	var overLimit *http.MaxBytesError
	switch {
	case errors.As(err, &overLimit):
		return nil, tooBig
	case err != nil:
		return nil, domain.Errorf(domain.EBadBody, "the request body could not be read: the connection was cut or the body came too slowly; send the request again")
	}
	if err := badText(body); err != nil { // names the field, as decodeJSON does
		return nil, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return nil, domain.Errorf(domain.EInvalidJSON, `the body must be a JSON object, e.g. {"type": "ntfy", "topic": "my-alerts"}`)
	}
	return fields, nil
}

// chanString reads a string field; ok is false when it is absent or null.
func chanString(fields map[string]json.RawMessage, name string) (v string, ok bool, err error) {
	raw, present := fields[name]
	if !present || string(raw) == "null" {
		return "", false, nil
	}
	if json.Unmarshal(raw, &v) != nil {
		return "", false, badChannel(name, "%s must be a string", name)
	}
	if err := refuseText(domain.EInvalidChannel, name, v); err != nil {
		return "", false, err
	}
	return v, true, nil
}

// checkChannelFields refuses a field the type does not take, by name.
func checkChannelFields(fields map[string]json.RawMessage, typ string) error {
	own := channel.Fields(typ)
	for name := range fields {
		if name != "type" && name != "notify" && name != "muted" && !slices.Contains(own, name) {
			if strings.ContainsRune(name, 0) || !utf8.ValidString(name) || utf8.RuneCountInString(name) > 64 {
				name = "(unreadable)"
			}
			return badChannel(name, "a %s channel has no field %q; it takes type, notify, muted and %s", typ, name, strings.Join(own, ", "))
		}
	}
	return nil
}

// channelRule reads notify and muted, with the device settings' rules.
func channelRule(fields map[string]json.RawMessage) (notify *string, muted *[]string, err error) {
	if raw, ok := fields["notify"]; ok && string(raw) != "null" {
		var v string
		if json.Unmarshal(raw, &v) != nil || !domain.ValidNotify(v) {
			return nil, nil, &domain.Error{Code: domain.EInvalidNotify, Field: "notify", Message: `notify must be "failures", "all" or "off"`}
		}
		notify = &v
	}
	if raw, ok := fields["muted"]; ok && string(raw) != "null" {
		bad := &domain.Error{Code: domain.EInvalidMuted, Field: "muted",
			Message: fmt.Sprintf("muted must be a list of at most %d job names of 1 to %d characters", maxMuted, domain.MaxNameLen)}
		var names []string
		if json.Unmarshal(raw, &names) != nil || len(names) > maxMuted {
			return nil, nil, bad
		}
		out := make([]string, 0, len(names))
		for _, name := range names {
			if n := utf8.RuneCountInString(name); n == 0 || n > domain.MaxNameLen {
				return nil, nil, bad
			}
			if err := refuseText(domain.EInvalidMuted, "muted", name); err != nil {
				return nil, nil, err
			}
			if !slices.Contains(out, name) {
				out = append(out, name)
			}
		}
		muted = &out
	}
	return notify, muted, nil
}

// channelSecrets reads the type's fields given in the body over base (a
// PATCH's current secrets); null leaves a field as it is.
func channelSecrets(fields map[string]json.RawMessage, typ string, base domain.ChannelSecrets) (domain.ChannelSecrets, error) {
	sec := base
	targets := map[string]*string{"url": &sec.URL, "secret": &sec.Secret, "server": &sec.Server,
		"topic": &sec.Topic, "token": &sec.Token, "address": &sec.Address}
	for _, name := range channel.Fields(typ) {
		v, ok, err := chanString(fields, name)
		if err != nil {
			return sec, err
		}
		if ok {
			*targets[name] = strings.TrimSpace(v)
		}
	}
	return sec, nil
}

// randomToken is 32 random bytes, base64url: webhook secrets and email
// confirmation tokens.
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// plausibleChannelID refuses, before the database sees it, an id no
// channel can have (PostgreSQL fails on NUL and bad UTF-8 instead of
// finding nothing).
func plausibleChannelID(id string) bool {
	if !strings.HasPrefix(id, chanIDPrefix) || len(id) > 64 {
		return false
	}
	for _, c := range id[len(chanIDPrefix):] {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
