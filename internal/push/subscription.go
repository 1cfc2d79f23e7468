package push

import (
	"crypto/ecdh"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/observable-code/observable/internal/domain"
)

// Sizes of a browser's subscription keys (RFC 8291 §3).
const (
	p256dhBytes = 65 // an uncompressed P-256 point
	authBytes   = 16
)

// CheckKeys is the one check of a browser subscription's keys: the API runs
// it before storing a subscription, and delivery before encrypting (a
// subscription stored by an older server may predate it), so that the
// library's errors are only ever about the request. Its errors are
// domain.EInvalidKeys, naming the key.
func CheckKeys(p256dh, auth string) error {
	b, err := decodeBase64(p256dh)
	if err != nil || len(b) != p256dhBytes {
		return invalidKey("keys.p256dh", fmt.Sprintf("must be the browser's P-256 public key (%d bytes, base64url)", p256dhBytes))
	}
	if _, err := ecdh.P256().NewPublicKey(b); err != nil {
		return invalidKey("keys.p256dh", "is not a P-256 public key: send the key of the browser's subscription (getKey('p256dh')) unchanged")
	}
	if b, err := decodeBase64(auth); err != nil || len(b) != authBytes {
		return invalidKey("keys.auth", fmt.Sprintf("must be the browser's %d-byte auth secret (base64url)", authBytes))
	}
	return nil
}

func invalidKey(field, reason string) error {
	return &domain.Error{Code: domain.EInvalidKeys, Field: field, Message: field + " " + reason}
}

// decodeBase64 takes URL-safe base64 as browsers give it, and the standard
// alphabet some libraries send, padded or not.
func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if b, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(s)
}
