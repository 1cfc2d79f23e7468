package main

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/crypto/acme/autocert"

	"github.com/observable-code/observable/internal/config"
	"github.com/observable-code/observable/internal/connlimit"
)

// Caps of the plain-HTTP listener beside automatic certificates (ACME
// challenges, redirects to HTTPS): within the descriptors the main
// listener's --max-conns leaves free (connlimit.DefaultMaxConns).
const (
	challengeConns           = 64
	challengeConnsPerAddress = 8
)

// tlsListener wraps ln in TLS when the configuration asks for it: with the
// certificate files given, or with certificates obtained automatically for
// --tls-domain (ACME). For ACME it also answers HTTP-01 challenges on
// --tls-http-listen (:80) and redirects plain HTTP there to HTTPS; it
// returns a function to stop that listener.
func tlsListener(ctx context.Context, ln net.Listener, cfg config.Config, log *slog.Logger) (net.Listener, func(), error) {
	switch {
	case cfg.TLSCert != "":
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, nil, err
		}
		return tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}), func() {}, nil
	case cfg.TLSDomain != "":
		m := &autocert.Manager{
			Prompt:     autocert.AcceptTOS,
			HostPolicy: autocert.HostWhitelist(cfg.TLSDomain),
			Cache:      autocert.DirCache(cfg.TLSCache),
		}
		challenge := &http.Server{Addr: cfg.TLSHTTPListen, Handler: m.HTTPHandler(nil), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			plain, err := net.Listen("tcp", cfg.TLSHTTPListen)
			if err == nil {
				// It only redirects and answers challenges: a few connections
				// each, under the main listener's reserve of descriptors.
				err = challenge.Serve(connlimit.New(plain, connlimit.Options{MaxConns: challengeConns,
					PerAddress: challengeConnsPerAddress, Exempt: cfg.TrustProxy}))
			}
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				// TLS-ALPN-01 on the HTTPS port still works without :80.
				log.Warn("cannot answer ACME HTTP challenges; relying on the TLS challenge", "listen", cfg.TLSHTTPListen, "err", err)
			}
		}()
		stop := func() {
			shutdownCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			challenge.Shutdown(shutdownCtx)
		}
		return tls.NewListener(ln, m.TLSConfig()), stop, nil
	}
	return ln, func() {}, nil
}
