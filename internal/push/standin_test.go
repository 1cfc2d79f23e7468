package push

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/domain"
)

// standIn plays a browser push service: it checks every request the way FCM,
// Mozilla and Apple do (VAPID JWT signed with the key in the header, for this
// origin, with a contact and an expiry within 24 h) and decrypts the RFC 8291
// body with the subscriber's private key, so a passing test proves a phone
// could read the notification.
type standIn struct {
	t       testing.TB
	srv     *httptest.Server
	contact string
	stop    chan struct{}

	mu       sync.Mutex
	key      string // the VAPID public key requests must carry
	subs     map[string]*subscriber
	script   map[string][]answer // per path, consumed in order; then 201
	attempts map[string][]time.Time
	got      chan delivery
}

// subscriber is a browser's side of a subscription: a real key pair and
// auth secret, as PushManager.subscribe makes them.
type subscriber struct {
	path string
	priv *ecdh.PrivateKey
	auth []byte
}

// answer is what the stand-in replies to one request.
type answer struct {
	status     int
	retryAfter string
	hang       bool // never answer; the client must give up
}

// delivery is a notification the stand-in accepted, decrypted.
type delivery struct {
	path    string
	msg     message
	ttl     int
	urgency string
	topic   string
	at      time.Time
}

func newStandIn(t testing.TB, contact string) *standIn {
	s := &standIn{
		t: t, contact: contact, stop: make(chan struct{}),
		subs: map[string]*subscriber{}, script: map[string][]answer{},
		attempts: map[string][]time.Time{}, got: make(chan delivery, 100),
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		close(s.stop) // frees hanging handlers, or Close would wait for them
		s.srv.Close()
	})
	return s
}

// hostPort is the stand-in's address, for Options.Allow / --push-allow.
func (s *standIn) hostPort() string { return strings.TrimPrefix(s.srv.URL, "http://") }

func (s *standIn) setKey(k string) {
	s.mu.Lock()
	s.key = k
	s.mu.Unlock()
}

// subscribe makes a subscriber with its own key pair at /push/<name>.
func (s *standIn) subscribe(name string, script ...answer) (*subscriber, domain.PushSubscription) {
	s.t.Helper()
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		s.t.Fatal(err)
	}
	auth := make([]byte, 16)
	if _, err := rand.Read(auth); err != nil {
		s.t.Fatal(err)
	}
	sub := &subscriber{path: "/push/" + name, priv: priv, auth: auth}
	s.mu.Lock()
	s.subs[sub.path] = sub
	s.script[sub.path] = script
	s.mu.Unlock()
	return sub, domain.PushSubscription{
		Endpoint: s.srv.URL + sub.path,
		P256dh:   base64.RawURLEncoding.EncodeToString(priv.PublicKey().Bytes()),
		Auth:     base64.RawURLEncoding.EncodeToString(auth),
	}
}

func (s *standIn) attemptTimes(path string) []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.attempts[path]...)
}

func (s *standIn) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	sub, key := s.subs[r.URL.Path], s.key
	s.attempts[r.URL.Path] = append(s.attempts[r.URL.Path], time.Now())
	var next answer
	if q := s.script[r.URL.Path]; len(q) > 0 {
		next, s.script[r.URL.Path] = q[0], q[1:]
	}
	s.mu.Unlock()
	if sub == nil {
		http.Error(w, "no such subscription", http.StatusNotFound)
		return
	}
	d, err := s.check(r, sub, key)
	if err != nil {
		s.t.Errorf("stand-in push service: %s: %v", r.URL.Path, err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	switch {
	case next.hang:
		select {
		case <-r.Context().Done():
		case <-s.stop:
		}
		return
	case next.status != 0 && next.status != http.StatusCreated:
		if next.retryAfter != "" {
			w.Header().Set("Retry-After", next.retryAfter)
		}
		http.Error(w, `{"reason":"scripted"}`, next.status)
		return
	}
	s.got <- d
	w.WriteHeader(http.StatusCreated)
}

// check verifies the request as a push service would and decrypts it.
func (s *standIn) check(r *http.Request, sub *subscriber, key string) (delivery, error) {
	d := delivery{path: r.URL.Path, at: time.Now(), urgency: r.Header.Get("Urgency"), topic: r.Header.Get("Topic")}
	if r.Method != http.MethodPost {
		return d, fmt.Errorf("method %s, want POST", r.Method)
	}
	if ce := r.Header.Get("Content-Encoding"); ce != "aes128gcm" {
		return d, fmt.Errorf("Content-Encoding %q, want aes128gcm", ce)
	}
	ttl, err := strconv.Atoi(r.Header.Get("TTL"))
	if err != nil {
		return d, fmt.Errorf("TTL header %q is not a number", r.Header.Get("TTL"))
	}
	d.ttl = ttl
	if err := s.checkVAPID(r.Header.Get("Authorization"), "http://"+r.Host, key); err != nil {
		return d, fmt.Errorf("VAPID: %w", err)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 8192))
	if err != nil {
		return d, err
	}
	if len(body) > 4096 {
		return d, fmt.Errorf("body is %d bytes; push services refuse more than 4096", len(body))
	}
	plain, err := decrypt(body, sub)
	if err != nil {
		return d, fmt.Errorf("decrypt: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(plain))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d.msg); err != nil {
		return d, fmt.Errorf("payload %q: %w", plain, err)
	}
	return d, nil
}

// checkVAPID verifies "vapid t=<JWT>, k=<public key>" (RFC 8292).
func (s *standIn) checkVAPID(h, origin, wantKey string) error {
	rest, ok := strings.CutPrefix(h, "vapid ")
	if !ok {
		return fmt.Errorf("Authorization %q is not a vapid one", h)
	}
	params := map[string]string{}
	for _, p := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		params[k] = v
	}
	if wantKey == "" || params["k"] != wantKey {
		return fmt.Errorf("k=%q, want the server's public key %q", params["k"], wantKey)
	}
	rawKey, err := base64.RawURLEncoding.DecodeString(params["k"])
	if err != nil {
		return fmt.Errorf("k: %w", err)
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), rawKey)
	if err != nil {
		return fmt.Errorf("k: %w", err)
	}
	parts := strings.Split(params["t"], ".")
	if len(parts) != 3 {
		return errors.New("t is not a JWT")
	}
	var header struct{ Alg, Typ string }
	if err := decodeJWTPart(parts[0], &header); err != nil || header.Alg != "ES256" {
		return fmt.Errorf("JWT header %+v (%v), want alg ES256", header, err)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return fmt.Errorf("JWT signature is not 64 bytes of r||s (%v)", err)
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ecdsa.Verify(pub, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return errors.New("JWT signature does not verify with k")
	}
	var claims struct {
		Aud string `json:"aud"`
		Exp int64  `json:"exp"`
		Sub string `json:"sub"`
	}
	if err := decodeJWTPart(parts[1], &claims); err != nil {
		return fmt.Errorf("JWT claims: %w", err)
	}
	if claims.Aud != origin {
		return fmt.Errorf("aud %q, want the endpoint's origin %q", claims.Aud, origin)
	}
	if exp := time.Unix(claims.Exp, 0); !exp.After(time.Now()) || exp.After(time.Now().Add(24*time.Hour)) {
		return fmt.Errorf("exp %v must be in the next 24 hours", exp)
	}
	if claims.Sub != s.contact {
		return fmt.Errorf("sub %q, want %q", claims.Sub, s.contact)
	}
	return nil
}

func decodeJWTPart(part string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// decrypt opens an aes128gcm body (RFC 8188 framing, RFC 8291 keys) the way
// the browser does.
func decrypt(body []byte, sub *subscriber) ([]byte, error) {
	if len(body) < 21 {
		return nil, errors.New("body shorter than the header")
	}
	salt, rs, idLen := body[:16], binary.BigEndian.Uint32(body[16:20]), int(body[20])
	if idLen != 65 || len(body) < 21+idLen {
		return nil, fmt.Errorf("keyid is %d bytes, want the sender's 65-byte public key", idLen)
	}
	senderPub, ciphertext := body[21:21+idLen], body[21+idLen:]
	if rs < 18 || len(ciphertext) > int(rs) {
		return nil, fmt.Errorf("record size %d, ciphertext %d: more than one record", rs, len(ciphertext))
	}
	as, err := ecdh.P256().NewPublicKey(senderPub)
	if err != nil {
		return nil, fmt.Errorf("sender key: %w", err)
	}
	shared, err := sub.priv.ECDH(as)
	if err != nil {
		return nil, err
	}
	info := "WebPush: info\x00" + string(sub.priv.PublicKey().Bytes()) + string(senderPub)
	ikm, err := hkdf.Key(sha256.New, shared, sub.auth, info, 32)
	if err != nil {
		return nil, err
	}
	prk, err := hkdf.Extract(sha256.New, ikm, salt)
	if err != nil {
		return nil, err
	}
	cek, err := hkdf.Expand(sha256.New, prk, "Content-Encoding: aes128gcm\x00", 16)
	if err != nil {
		return nil, err
	}
	nonce, err := hkdf.Expand(sha256.New, prk, "Content-Encoding: nonce\x00", 12)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	plain, err := gcm.Open(nil, nonce, ciphertext, nil)
	if err != nil {
		return nil, fmt.Errorf("authentication failed: %w", err)
	}
	// The last record ends with the delimiter 0x02 and zero padding.
	end := len(plain) - 1
	for end >= 0 && plain[end] == 0 {
		end--
	}
	if end < 0 || plain[end] != 2 {
		return nil, errors.New("no last-record delimiter after the padding")
	}
	return plain[:end], nil
}
