package domain

import (
	"errors"
	"strings"
	"time"
)

// The pairing rules, in one place for the API (QR, claim) and the pairing
// page: one condition answers with one code wherever it is met.

// PlausibleCode rejects what cannot be a pairing code (URL-safe base64, 22
// characters today) without asking the database.
func PlausibleCode(code string) bool {
	if code == "" || len(code) > 64 {
		return false
	}
	for _, c := range code {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
		if !ok {
			return false
		}
	}
	return true
}

// UnknownCode and UsedOrExpired are the two ways a pairing code fails.
func UnknownCode() error {
	return Errorf(EUnknownCode, "this pairing code does not exist; check the link, or run `observable pair` for a new one")
}

func UsedOrExpired() error {
	return Errorf(ECodeUsedOrExpired, "this pairing code was already used or has expired; run `observable pair` for a new one")
}

// CheckPairing turns the outcome of reading a pairing into the error its
// reader answers with: unknown_code, code_used_or_expired, the store's own
// error, or nil for a pairing that can still be claimed at now.
func CheckPairing(p Pairing, err error, now time.Time) error {
	switch {
	case errors.Is(err, ErrNotFound):
		return UnknownCode()
	case errors.Is(err, ErrGone):
		return UsedOrExpired()
	case err != nil:
		return err
	case !p.Usable(now):
		return UsedOrExpired()
	}
	return nil
}

// DeviceNameFromAgent names a phone from its browser when it gave no name,
// for the CLI to say which device paired.
func DeviceNameFromAgent(ua string) string {
	for _, c := range []struct{ needle, name string }{
		{"iPhone", "iPhone"}, {"iPad", "iPad"}, {"Android", "Android phone"},
		{"Macintosh", "Mac"}, {"Windows", "Windows PC"}, {"Linux", "Linux computer"},
	} {
		if strings.Contains(ua, c.needle) {
			return c.name
		}
	}
	return "phone"
}
