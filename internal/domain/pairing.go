package domain

import (
	"errors"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
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

// androidModel finds the model in an Android browser's User-Agent
// ("Linux; Android 14; Pixel 8 Build/…)" names a "Pixel 8"). Chrome's
// reduced User-Agent says "K" instead of the model.
var androidModel = regexp.MustCompile(`Android[^;]*;\s*([^;)]+?)(?:\s+Build/[^;)]*)?[;)]`)

// DeviceNameFromAgent names a phone from its browser: the pairing page
// offers it as the name, and a claim without a name gets it, so that the
// CLI can say which device paired.
func DeviceNameFromAgent(ua string) string {
	if m := androidModel.FindStringSubmatch(ua); m != nil && m[1] != "K" {
		// A header is any bytes: only a model that is plain text is a name.
		if name := strings.TrimSpace(m[1]); name != "" && utf8.RuneCountInString(name) <= 40 && TextProblem(name) == "" {
			return name
		}
	}
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
