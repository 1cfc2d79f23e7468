package push

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/observable-code/observable/internal/domain"
)

// vapidSetting is the settings key of the server's VAPID key pair. Every
// subscription is bound to the public key it was made with, so the pair must
// outlive restarts and be the same in every instance sharing the database.
const vapidSetting = "push.vapid_keys"

// vapidKeys is the stored pair: base64url without padding, the public key an
// uncompressed P-256 point (65 bytes), the private key its 32-byte scalar.
type vapidKeys struct {
	Public  string `json:"public_key"`
	Private string `json:"private_key"`
}

// loadKeys reads the pair, making it at first start. SetSettingOnce settles
// a race between instances starting together: every one of them gets the
// pair that was stored first.
func loadKeys(ctx context.Context, st Store) (vapidKeys, error) {
	stored, err := st.Setting(ctx, vapidSetting)
	if errors.Is(err, domain.ErrNotFound) {
		fresh, genErr := newKeys()
		if genErr != nil {
			return vapidKeys{}, genErr
		}
		b, _ := json.Marshal(fresh)
		stored, err = st.SetSettingOnce(ctx, vapidSetting, string(b))
	}
	if err != nil {
		return vapidKeys{}, fmt.Errorf("read VAPID keys from the database: %w", err)
	}
	var k vapidKeys
	if err := json.Unmarshal([]byte(stored), &k); err != nil {
		return vapidKeys{}, fmt.Errorf("VAPID keys in setting %s are not valid JSON: %w", vapidSetting, err)
	}
	if err := k.validate(); err != nil {
		return vapidKeys{}, fmt.Errorf("VAPID keys in setting %s: %w", vapidSetting, err)
	}
	return k, nil
}

func newKeys() (vapidKeys, error) {
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return vapidKeys{}, fmt.Errorf("generate VAPID keys: %w", err)
	}
	return vapidKeys{
		Public:  base64.RawURLEncoding.EncodeToString(priv.PublicKey().Bytes()),
		Private: base64.RawURLEncoding.EncodeToString(priv.Bytes()),
	}, nil
}

// validate checks that the private key is a P-256 scalar whose public key is
// the one stored beside it: a mismatch would make every push fail with 403.
func (k vapidKeys) validate() error {
	raw, err := base64.RawURLEncoding.DecodeString(k.Private)
	if err != nil {
		return fmt.Errorf("private key is not base64url: %w", err)
	}
	priv, err := ecdh.P256().NewPrivateKey(raw)
	if err != nil {
		return fmt.Errorf("private key: %w", err)
	}
	pub, err := base64.RawURLEncoding.DecodeString(k.Public)
	if err != nil || !bytes.Equal(pub, priv.PublicKey().Bytes()) {
		return errors.New("the public key does not belong to the private key")
	}
	return nil
}
