package channel

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/observable-code/observable/internal/domain"
)

func testSealer(t *testing.T) *Sealer {
	t.Helper()
	key, err := LoadOrCreateKey(filepath.Join(t.TempDir(), "channels.key"), true)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSealRoundTrip(t *testing.T) {
	s := testSealer(t)
	sec := domain.ChannelSecrets{URL: "https://hooks.slack.com/services/T0/B0/secretpart", Secret: "s3cr3t-s3cr3t-s3cr3t", Token: "tk_abc"}
	sealed, err := s.Seal("ch_1", sec)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("secretpart")) || bytes.Contains(sealed, []byte("s3cr3t")) {
		t.Fatal("the sealed blob holds the secret in clear")
	}
	again, _ := s.Seal("ch_1", sec)
	if bytes.Equal(sealed, again) {
		t.Fatal("two seals of the same secrets are equal: the nonce is not random")
	}
	got, err := s.Open("ch_1", sealed)
	if err != nil || got != sec {
		t.Fatalf("Open = %+v, %v; want %+v", got, err, sec)
	}
}

func TestSealBoundToChannelAndKey(t *testing.T) {
	s := testSealer(t)
	sealed, err := s.Seal("ch_1", domain.ChannelSecrets{URL: "https://x.example/hook"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open("ch_2", sealed); err == nil {
		t.Fatal("a blob opened under another channel's id")
	}
	for i := range sealed {
		bad := bytes.Clone(sealed)
		bad[i] ^= 0x01
		if _, err := s.Open("ch_1", bad); err == nil {
			t.Fatalf("a blob with byte %d flipped opened", i)
		}
	}
	if _, err := s.Open("ch_1", sealed[:len(sealed)-1]); err == nil {
		t.Fatal("a truncated blob opened")
	}
	if _, err := testSealer(t).Open("ch_1", sealed); err == nil {
		t.Fatal("a blob opened under another key")
	}
}

func TestSealKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "observable.db.key")
	if _, err := LoadOrCreateKey(path, false); err == nil {
		t.Fatal("a missing key file was not an error without create")
	}
	key, err := LoadOrCreateKey(path, true)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	b, _ := os.ReadFile(path)
	if got, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b))); !bytes.Equal(got, key) || len(key) != 32 || !strings.HasSuffix(string(b), "\n") || strings.Count(string(b), "\n") != 1 {
		t.Fatalf("key file %q does not hold the key as one line of base64", b)
	}
	again, err := LoadOrCreateKey(path, true)
	if err != nil || !bytes.Equal(again, key) {
		t.Fatalf("reloading the key file gave another key (%v)", err)
	}

	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKey(path, true); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a world-readable key file: %v, want a refusal that says chmod 600", err)
	}
	os.Chmod(path, 0o640)
	if _, err := LoadOrCreateKey(path, false); err == nil {
		t.Fatal("a group-readable key file was accepted")
	}

	short := filepath.Join(dir, "short.key")
	os.WriteFile(short, []byte(base64.StdEncoding.EncodeToString(make([]byte, 16))+"\n"), 0o600)
	if _, err := LoadOrCreateKey(short, true); err == nil {
		t.Fatal("a 16-byte key was accepted")
	}
	junk := filepath.Join(dir, "junk.key")
	os.WriteFile(junk, []byte("not base64!\n"), 0o600)
	if _, err := LoadOrCreateKey(junk, true); err == nil {
		t.Fatal("a key file that is not base64 was accepted")
	}
	if _, err := NewSealer(make([]byte, 31)); err == nil {
		t.Fatal("NewSealer took a 31-byte key")
	}
}
