package channel

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/mailpittest"
)

// The email tests deliver to a real mail server (internal/mailpittest).

func mailSenders(t *testing.T, cfg *SMTPConfig) Sender {
	t.Helper()
	return NewSenders(Options{Guard: &Guard{}, SMTP: cfg, Timeout: 10 * time.Second, PublicHost: "obs.example.com", Now: time.Now})[domain.ChannelEmail]
}

func TestMailpitAlertRecoveryConfirm(t *testing.T) {
	mp := mailpittest.Start(t, "--smtp-auth-accept-any", "--smtp-auth-allow-insecure", `--smtp-allowed-recipients=@example\.com$`)
	cfg, err := ParseSMTPURL("smtp://alerts:secret@"+mp.SMTP, "Observable Code <alerts@obs.example.com>")
	if err != nil {
		t.Fatal(err)
	}
	send := mailSenders(t, cfg)
	sec := domain.ChannelSecrets{Address: "ann@example.com", ConfirmToken: "tok_abc"}
	ch := domain.Channel{ID: "ch_mail", Type: domain.ChannelEmail}
	const pub = "https://obs.example.com"
	ctx := context.Background()
	for _, m := range []Message{NewMessage(failedJob(), sec, pub), NewMessage(recoveredJob(), sec, pub), NewMessage(store0(domain.ChannelKindConfirm), sec, pub)} {
		if err := send.Send(ctx, ch, sec, m); err != nil {
			t.Fatalf("send %s: %v", m.Kind, err)
		}
	}
	got := mp.Messages(t, 3, nil)
	alert, rec, confirm := got[0], got[1], got[2]
	for _, m := range got {
		if m.From.Address != "alerts@obs.example.com" || m.From.Name != "Observable Code" || len(m.To) != 1 || m.To[0].Address != "ann@example.com" {
			t.Errorf("%s: From %+v To %+v", m.Subject, m.From, m.To)
		}
		if m.Text == "" || m.HTML == "" {
			t.Errorf("%s: a part is missing (text %d bytes, html %d)", m.Subject, len(m.Text), len(m.HTML))
		}
	}
	if alert.Subject != "nightly_sync failed" || alert.MessageID != "incident-7@obs.example.com" {
		t.Errorf("alert: subject %q, Message-ID %q", alert.Subject, alert.MessageID)
	}
	if !strings.Contains(alert.Text, "bad <script>alert(1)</script>") || !strings.Contains(alert.Text, "https://obs.example.com/runs/42") {
		t.Errorf("alert text:\n%s", alert.Text)
	}
	if strings.Contains(alert.HTML, "<script>") || !strings.Contains(alert.HTML, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("alert HTML is not escaped:\n%s", alert.HTML)
	}
	if rec.Subject != "Re: nightly_sync failed" || rec.MessageID == alert.MessageID || !strings.Contains(rec.Text, "recovered after 3 h 12 min, 4 failed runs") {
		t.Errorf("recovery: subject %q, Message-ID %q, text:\n%s", rec.Subject, rec.MessageID, rec.Text)
	}
	h := mp.Headers(t, rec.ID)
	if fmt.Sprint(h["In-Reply-To"]) != "[<incident-7@obs.example.com>]" || fmt.Sprint(h["References"]) != "[<incident-7@obs.example.com>]" {
		t.Errorf("recovery threading headers: In-Reply-To %v References %v", h["In-Reply-To"], h["References"])
	}
	if !strings.Contains(confirm.Text, "https://obs.example.com/channels/confirm?token=tok_abc") || !strings.Contains(confirm.HTML, `href="https://obs.example.com/channels/confirm?token=tok_abc"`) {
		t.Errorf("confirmation: %q\n%s\n%s", confirm.Subject, confirm.Text, confirm.HTML)
	}

	// The relay refuses a recipient (550): a permanent failure that says so.
	other := domain.ChannelSecrets{Address: "bob@other.example.org"}
	de := asDelivery(t, send.Send(ctx, ch, other, NewMessage(failedJob(), other, pub)))
	t.Logf("refused recipient: %s", de.Message)
	if !de.Permanent || !strings.Contains(de.Message, "refused this address") {
		t.Errorf("refused recipient: %+v", de)
	}
	// No mail server listening: temporary.
	down, _ := ParseSMTPURL(fmt.Sprintf("smtp://127.0.0.1:%d", mailpittest.FreePort(t)), "alerts@obs.example.com")
	de = asDelivery(t, mailSenders(t, down).Send(ctx, ch, sec, NewMessage(failedJob(), sec, pub)))
	t.Logf("no mail server: %s", de.Message)
	if de.Permanent || !strings.Contains(de.Message, "connection refused") {
		t.Errorf("no mail server: %+v", de)
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// a pool that trusts it.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mailpit test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{netip.MustParseAddr("127.0.0.1").AsSlice()}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600)
	return certFile, keyFile, pool
}

func TestMailpitSTARTTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	mp := mailpittest.Start(t, "--smtp-tls-cert", certFile, "--smtp-tls-key", keyFile, "--smtp-require-starttls", "--smtp-auth-accept-any")
	cfg, err := ParseSMTPURL("smtp://alerts:secret@"+mp.SMTP, "alerts@obs.example.com")
	if err != nil {
		t.Fatal(err)
	}
	sec := domain.ChannelSecrets{Address: "ann@example.com"}
	ctx := context.Background()
	// Without trusting the certificate: a permanent failure for the operator.
	de := asDelivery(t, mailSenders(t, cfg).Send(ctx, domain.Channel{}, sec, NewMessage(failedJob(), sec, "https://obs.example.com")))
	t.Logf("untrusted certificate: %s", de.Message)
	if !de.Permanent || !strings.Contains(de.Message, "certificate") || strings.Contains(de.Message, "secret") {
		t.Errorf("an untrusted certificate: %+v", de)
	}
	cfg.RootCAs = pool
	if err := mailSenders(t, cfg).Send(ctx, domain.Channel{}, sec, NewMessage(failedJob(), sec, "https://obs.example.com")); err != nil {
		t.Fatal(err)
	}
	got := mp.Messages(t, 1, nil)
	if got[0].Subject != "nightly_sync failed" || got[0].To[0].Address != "ann@example.com" {
		t.Errorf("over STARTTLS: %+v", got[0])
	}
}

func TestMailpitImplicitTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	mp := mailpittest.Start(t, "--smtp-tls-cert", certFile, "--smtp-tls-key", keyFile, "--smtp-require-tls", "--smtp-auth-accept-any")
	cfg, err := ParseSMTPURL("smtps://alerts:secret@"+mp.SMTP, "alerts@obs.example.com")
	if err != nil {
		t.Fatal(err)
	}
	cfg.RootCAs = pool
	sec := domain.ChannelSecrets{Address: "ann@example.com"}
	if err := mailSenders(t, cfg).Send(context.Background(), domain.Channel{}, sec, NewMessage(recoveredJob(), sec, "https://obs.example.com")); err != nil {
		t.Fatal(err)
	}
	if got := mp.Messages(t, 1, nil); got[0].Subject != "Re: nightly_sync failed" {
		t.Errorf("over smtps: %+v", got[0])
	}
}

// TestMailpitNoPasswordInPlainText: a relay off this machine that offers
// no STARTTLS never gets the password. It needs an address of this machine
// that is not loopback; mailpit listens on all of them.
func TestMailpitNoPasswordInPlainText(t *testing.T) {
	var ip string
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			ip = n.IP.String()
			break
		}
	}
	if ip == "" {
		t.Skip("this machine has no IPv4 address but loopback")
	}
	port := mailpittest.FreePort(t)
	mp := mailpittest.StartOn(t, fmt.Sprintf("0.0.0.0:%d", port), "--smtp-auth-accept-any", "--smtp-auth-allow-insecure")
	cfg, err := ParseSMTPURL(fmt.Sprintf("smtp://alerts:secret@%s:%d", ip, port), "alerts@obs.example.com")
	if err != nil {
		t.Fatal(err)
	}
	sec := domain.ChannelSecrets{Address: "ann@example.com"}
	de := asDelivery(t, mailSenders(t, cfg).Send(context.Background(), domain.Channel{}, sec, NewMessage(failedJob(), sec, "https://obs.example.com")))
	if !de.Permanent || !strings.Contains(de.Message, "never sent in plain text") {
		t.Errorf("auth over plain text to %s: %+v", ip, de)
	}
	// Without a user name the same relay takes the message.
	cfg.Username, cfg.Password = "", ""
	if err := mailSenders(t, cfg).Send(context.Background(), domain.Channel{}, sec, NewMessage(failedJob(), sec, "https://obs.example.com")); err != nil {
		t.Fatal(err)
	}
	mp.Messages(t, 1, nil)
}
