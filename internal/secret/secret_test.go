package secret

import (
	"encoding/hex"
	"regexp"
	"testing"
)

func TestShapes(t *testing.T) {
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	urlSafe := regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	tests := []struct {
		name  string
		make  func() string
		check func(string) bool
	}{
		{"session key is a v4 UUID", SessionKey, uuid.MatchString},
		{"pairing code is 22 URL-safe characters (128 bits)", PairingCode, func(s string) bool { return len(s) == 22 && urlSafe.MatchString(s) }},
		{"device token is prefixed and 256 bits", DeviceToken, func(s string) bool {
			return IsDeviceToken(s) && len(s) == len(DeviceTokenPrefix)+43 && urlSafe.MatchString(s[len(DeviceTokenPrefix):])
		}},
		{"id is URL-safe", ID, urlSafe.MatchString},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := map[string]bool{}
			for i := 0; i < 1000; i++ {
				s := tt.make()
				if !tt.check(s) {
					t.Fatalf("bad shape: %q", s)
				}
				if seen[s] {
					t.Fatalf("repeated value %q", s)
				}
				seen[s] = true
			}
		})
	}
}

func TestHashIsSHA256(t *testing.T) {
	// echo -n abc | sha256sum
	const want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	got := Hash("abc")
	if len(got) != 32 || hex.EncodeToString(got) != want {
		t.Fatalf("Hash(abc) = %x", got)
	}
}
