package channel

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"net/smtp"
	"net/textproto"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/observable-code/observable/internal/alerttext"
	"github.com/observable-code/observable/internal/hostallow"
)

// SMTPConfig is the server's mail relay (--smtp-url, --smtp-from).
type SMTPConfig struct {
	Host     string
	Port     string
	TLS      bool // smtps://: TLS from the first byte; otherwise STARTTLS when offered
	Username string
	Password string
	From     mail.Address // the From header; its Address is the envelope sender too
	// RootCAs verifies the relay's certificate; nil: the system's roots.
	// Tests set it to trust their own certificate.
	RootCAs *x509.CertPool
}

// ParseSMTPURL reads --smtp-url (smtp://[user:password@]host[:port], port
// 587 by default, or smtps://…, port 465) and --smtp-from.
func ParseSMTPURL(raw, from string) (*SMTPConfig, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Host == "" || u.Opaque != "" {
		return nil, errors.New("--smtp-url must look like smtp://[user:password@]host:port (STARTTLS when the server offers it) or smtps://[user:password@]host:port (TLS from the start)")
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("--smtp-url is a server's address only: no path, ?query or #fragment")
	}
	c := &SMTPConfig{Host: u.Hostname(), Port: u.Port(), TLS: u.Scheme == "smtps"}
	if c.Port == "" {
		c.Port = "587"
		if c.TLS {
			c.Port = "465"
		}
	}
	if !hostallow.ValidPort(c.Port) {
		return nil, fmt.Errorf("--smtp-url has an invalid port %q", c.Port)
	}
	if u.User != nil {
		c.Username = u.User.Username()
		c.Password, _ = u.User.Password()
		if c.Username == "" {
			return nil, errors.New("--smtp-url has a password but no user name")
		}
	}
	from = strings.TrimSpace(from)
	if from == "" {
		return nil, errors.New("--smtp-from is required with --smtp-url: the address alerts come from, e.g. alerts@example.com or \"Observable <alerts@example.com>\"")
	}
	a, err := mail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("--smtp-from %q is not an email address: %v", from, err)
	}
	c.From = *a
	return c, nil
}

func (c *SMTPConfig) addr() string { return net.JoinHostPort(c.Host, c.Port) }

// loopback reports whether the relay is on this machine, the one place a
// password may travel without TLS (as net/smtp's PlainAuth decides too).
func (c *SMTPConfig) loopback() bool {
	if c.Host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(c.Host)
	return err == nil && a.Unmap().IsLoopback()
}

// deliver sends one message to one recipient through the relay.
func (c *SMTPConfig) deliver(ctx context.Context, hello, to string, msg []byte, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d := net.Dialer{}
	conn, err := d.DialContext(ctx, "tcp", c.addr())
	if err != nil {
		return c.netError(err, timeout)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	tc := &tls.Config{ServerName: c.Host, RootCAs: c.RootCAs, MinVersion: tls.VersionTLS12}
	if c.TLS {
		t := tls.Client(conn, tc)
		if err := t.HandshakeContext(ctx); err != nil {
			return c.netError(err, timeout)
		}
		conn = t
	}
	cl, err := smtp.NewClient(conn, c.Host)
	if err != nil {
		return c.smtpError("greeting", err, timeout)
	}
	defer cl.Close()
	if err := cl.Hello(hello); err != nil {
		return c.smtpError("greeting", err, timeout)
	}
	secure := c.TLS
	if !secure {
		if ok, _ := cl.Extension("STARTTLS"); ok {
			if err := cl.StartTLS(tc); err != nil {
				return c.netError(err, timeout)
			}
			secure = true
		}
	}
	if c.Username != "" {
		if !secure && !c.loopback() {
			return permanent("the mail server %s offers no STARTTLS, and its password is never sent in plain text; the server's operator must use smtps:// or a mail server with STARTTLS in --smtp-url", c.addr())
		}
		if ok, _ := cl.Extension("AUTH"); !ok {
			return permanent("the mail server %s offers no login (AUTH); the server's operator must remove the user name from --smtp-url or use a server that takes it", c.addr())
		}
		if err := cl.Auth(smtp.PlainAuth("", c.Username, c.Password, c.Host)); err != nil {
			return c.smtpError("login", err, timeout)
		}
	}
	if err := cl.Mail(c.From.Address); err != nil {
		return c.smtpError("sender", err, timeout)
	}
	if err := cl.Rcpt(to); err != nil {
		return c.smtpError("recipient", err, timeout)
	}
	w, err := cl.Data()
	if err != nil {
		return c.smtpError("message", err, timeout)
	}
	if _, err := w.Write(msg); err != nil {
		return c.smtpError("message", err, timeout)
	}
	if err := w.Close(); err != nil {
		return c.smtpError("message", err, timeout)
	}
	cl.Quit() // the message is accepted; a lost QUIT answer changes nothing
	return nil
}

// smtpError words a failed SMTP step: 5xx answers are permanent, 4xx
// temporary; the server's own words are kept short and cleaned.
func (c *SMTPConfig) smtpError(step string, err error, timeout time.Duration) error {
	var te *textproto.Error
	if !errors.As(err, &te) {
		return c.netError(err, timeout)
	}
	said := alerttext.Clip(alerttext.Clean(te.Msg), 120)
	var what string
	switch step {
	case "login":
		what = "refused the server's SMTP login; the server's operator must check the user and password in --smtp-url"
	case "sender":
		what = "refused the sender address; the server's operator must check --smtp-from"
	case "recipient":
		what = "refused this address; check it and add the channel again"
	case "message":
		what = "refused the message"
	default:
		what = "refused the connection"
	}
	msg := fmt.Sprintf("the mail server %s answered %d: %s (%s)", c.Host, te.Code, what, said)
	if te.Code >= 400 && te.Code < 500 {
		return temporary("%s; trying again later", msg)
	}
	return permanent("%s", msg)
}

func (c *SMTPConfig) netError(err error, timeout time.Duration) error {
	var ce *tls.CertificateVerificationError
	var he x509.HostnameError
	var re tls.RecordHeaderError
	switch {
	case errors.As(err, &ce), errors.As(err, &he), errors.As(err, &re):
		return permanent("the mail server %s: its TLS certificate did not verify (%s); the server's operator must fix it", c.addr(), alerttext.Clip(alerttext.Clean(err.Error()), 160))
	case isTimeout(err) || errors.Is(err, net.ErrClosed):
		return temporary("the mail server %s did not answer within %s; trying again later", c.addr(), timeout)
	case errors.Is(err, syscall.ECONNREFUSED):
		return temporary("could not reach the mail server %s: connection refused", c.addr())
	}
	return temporary("could not reach the mail server %s: %s", c.addr(), alerttext.Clip(alerttext.Clean(err.Error()), 160))
}
