package push

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"testing"

	"github.com/observable-code/observable/internal/domain"
)

// One check serves the API and delivery: a key that passes it encrypts,
// and one that would fail to encrypt is refused with the key it is about.
func TestCheckKeys(t *testing.T) {
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	url, std := base64.RawURLEncoding.EncodeToString, base64.StdEncoding.EncodeToString
	p256, auth := priv.PublicKey().Bytes(), make([]byte, 16)
	for _, ok := range [][2]string{{url(p256), url(auth)}, {std(p256), std(auth)}} {
		if err := CheckKeys(ok[0], ok[1]); err != nil {
			t.Errorf("CheckKeys(%q, %q) = %v; want nil", ok[0], ok[1], err)
		}
	}
	offCurve := url(append([]byte{4}, make([]byte, 64)...)) // 65 bytes, but no point
	for _, bad := range []struct{ p256dh, auth, field string }{
		{offCurve, url(auth), "keys.p256dh"},
		{url(p256[:33]), url(auth), "keys.p256dh"},
		{"%%%", url(auth), "keys.p256dh"},
		{url(p256), url(auth[:15]), "keys.auth"},
		{url(p256), "", "keys.auth"},
	} {
		err := CheckKeys(bad.p256dh, bad.auth)
		var de *domain.Error
		if !errors.As(err, &de) || de.Code != domain.EInvalidKeys || de.Field != bad.field {
			t.Errorf("CheckKeys(%.20q, %.20q) = %#v; want invalid_keys on %s", bad.p256dh, bad.auth, err, bad.field)
		}
	}
}

func TestCheckContact(t *testing.T) {
	for _, ok := range []string{DefaultContact, "mailto:ops@example.org", "https://example.org/contact"} {
		if err := CheckContact(ok); err != nil {
			t.Errorf("CheckContact(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"ops@example.org", "http://example.org", ""} {
		if CheckContact(bad) == nil {
			t.Errorf("CheckContact(%q) accepted", bad)
		}
	}
}
