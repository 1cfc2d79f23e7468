// Package secret makes the server's secrets and the hashes it stores
// instead of them. Every secret comes from crypto/rand.
package secret

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b) // never fails: the runtime aborts if the system source does
	return b
}

// SessionKey is a random (version 4) UUID: the session id users keep in
// their config file and send as a bearer token.
func SessionKey() string {
	b := random(16)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// DeviceTokenPrefix marks device tokens, so that a bearer token can be
// routed to the right lookup without trying both.
const DeviceTokenPrefix = "ocd_"

// DeviceToken is a phone's credential: 256 random bits.
func DeviceToken() string {
	return DeviceTokenPrefix + base64.RawURLEncoding.EncodeToString(random(32))
}

// IsDeviceToken reports whether token has the shape of a device token.
func IsDeviceToken(token string) bool { return strings.HasPrefix(token, DeviceTokenPrefix) }

// PairingCode is 128 random bits, URL-safe (22 characters).
func PairingCode() string { return base64.RawURLEncoding.EncodeToString(random(16)) }

// ID is a random public identifier (not a secret), for devices.
func ID() string { return base64.RawURLEncoding.EncodeToString(random(12)) }

// Hash is what the database keeps of a secret.
func Hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}
