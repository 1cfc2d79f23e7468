package channel

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/observable-code/observable/internal/domain"
)

// keyLen is the size of the key file's key and of the AES-256 key.
const keyLen = 32

// sealInfo binds the derived key to this one use: the same key file could
// one day key something else without the two ever sharing a key.
const sealInfo = "observable channel secrets v1"

// sealVersion is the first byte of every sealed blob, so that a later
// format can be told apart.
const sealVersion = 1

// LoadOrCreateKey reads the channel key file: one line, standard base64 of
// 32 random bytes, readable by its owner only (a key that other users can
// read is no better than none). When the file does not exist and create is
// true, it is written with a new key, mode 0600.
func LoadOrCreateKey(path string, create bool) ([]byte, error) {
	key, err := readKey(path)
	if !errors.Is(err, fs.ErrNotExist) || !create {
		return key, err
	}
	k := make([]byte, keyLen)
	rand.Read(k)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) { // another instance made it first
		return readKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("create the channel key file %s: %w", path, err)
	}
	_, err = f.WriteString(base64.StdEncoding.EncodeToString(k) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("write the channel key file %s: %w", path, err)
	}
	return k, nil
}

func readKey(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("the channel key file %s does not exist: %w", path, err)
		}
		return nil, fmt.Errorf("read the channel key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("the channel key file %s is not a regular file", path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("the channel key file %s can be read or written by other users (mode %04o); make it private with: chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the channel key file: %w", err)
	}
	key, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(b)))
	if err != nil || len(key) != keyLen {
		return nil, fmt.Errorf("the channel key file %s must hold one line, the standard base64 of %d random bytes (e.g. from: head -c %d /dev/urandom | base64)", path, keyLen, keyLen)
	}
	return key, nil
}

// Sealer encrypts channel secrets for the database (AES-256-GCM under a
// key derived with HKDF-SHA256 from the key file's key), so that a dump of
// the database alone does not hand out webhook URLs and tokens.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer derives the sealing key from the key file's key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != keyLen {
		return nil, fmt.Errorf("the channel key must be %d bytes, not %d", keyLen, len(key))
	}
	k, err := hkdf.Key(sha256.New, key, nil, sealInfo, keyLen)
	if err != nil {
		return nil, fmt.Errorf("derive the channel key: %w", err)
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts sec for the channel: the channel id is the additional data,
// so a blob copied onto another channel's row does not open there.
func (s *Sealer) Seal(channelID string, sec domain.ChannelSecrets) ([]byte, error) {
	plain, err := json.Marshal(sec)
	if err != nil {
		return nil, err
	}
	ns := s.aead.NonceSize()
	out := make([]byte, 1+ns, 1+ns+len(plain)+s.aead.Overhead())
	out[0] = sealVersion
	rand.Read(out[1 : 1+ns])
	return s.aead.Seal(out, out[1:1+ns], plain, []byte(channelID)), nil
}

// Open decrypts what Seal made for the same channel.
func (s *Sealer) Open(channelID string, sealed []byte) (domain.ChannelSecrets, error) {
	var sec domain.ChannelSecrets
	ns := s.aead.NonceSize()
	if len(sealed) < 1+ns+s.aead.Overhead() || sealed[0] != sealVersion {
		return sec, errors.New("the channel's sealed secrets are malformed")
	}
	plain, err := s.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], []byte(channelID))
	if err != nil {
		return sec, errors.New("the channel's secrets do not open with this key (was --key-file changed, or the row edited?)")
	}
	if err := json.Unmarshal(plain, &sec); err != nil {
		return sec, fmt.Errorf("the channel's secrets are not valid JSON: %w", err)
	}
	return sec, nil
}
