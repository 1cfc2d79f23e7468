// Package config reads the server's settings from flags and the
// environment. Every flag --some-name is also OBSERVABLE_SOME_NAME; a flag
// given on the command line wins over the environment.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/observable-code/observable/internal/push"
)

// Config is everything the server can be told.
type Config struct {
	Listen     string
	Database   string
	PublicURL  string
	SQLiteSync string
	// PostgresMaxConns bounds the connection pool on PostgreSQL.
	PostgresMaxConns int

	// Limits of the contract; 0 turns a rate limit off.
	MaxBodyBytes      int64
	MaxBatchEvents    int
	SessionRate       float64
	SessionBurst      int
	SessionsPerMinute int
	// QRPerMinute bounds the QR codes drawn per client address (a PNG
	// costs milliseconds of CPU).
	QRPerMinute int
	// PingBodyLimit is how much of a Healthchecks-style ping's body is
	// kept (the Ping-Body-Limit header).
	PingBodyLimit int
	// MaxJobsPerSession caps a session's job names (0: no limit): it
	// bounds what GET /api/v1/jobs answers.
	MaxJobsPerSession int
	// MaxDevicesPerSession caps a session's paired devices (0: no limit):
	// it bounds GET /api/v1/session, which lists them, and the pushes an
	// event fans out to.
	MaxDevicesPerSession int

	PairingTTL time.Duration
	Retention  time.Duration

	// Live streams.
	Heartbeat    time.Duration
	StreamBuffer int
	// Caps on open streams (0: no cap). MaxStreams 0 is derived from the
	// open-files limit at start.
	MaxStreams        int
	StreamsPerSession int
	StreamsPerDevice  int
	StreamsPerAddress int
	// Caps on open connections, at the accept loop. MaxConns 0 is derived
	// from the open-files limit at start; ConnsPerAddress 0 is no cap.
	MaxConns        int
	ConnsPerAddress int

	// TrustProxy lists the networks of reverse proxies whose
	// X-Forwarded-For is believed when finding a client's address.
	TrustProxy []netip.Prefix

	// Web Push.
	PushContact string
	PushAllow   []string

	// Channels (docs/channels.md): the SMTP relay of email channels, the
	// hosts a channel may reach although loopback or private, and the file
	// of the key that seals channel secrets ("" on PostgreSQL when unset:
	// channels are then unavailable).
	SMTPURL      string
	SMTPFrom     string
	ChannelAllow []string
	KeyFile      string

	// TLS.
	TLSCert   string
	TLSKey    string
	TLSDomain string
	TLSCache  string
	// TLSHTTPListen answers ACME's HTTP challenges and redirects plain
	// HTTP to HTTPS, with --tls-domain.
	TLSHTTPListen string

	LogLevel  string
	LogFormat string

	// Warnings found while reading the settings, to log once logging is set up.
	Warnings []string

	listenSet bool
}

// MaxHeartbeat is the longest --heartbeat: a stream's worst silence is the
// heartbeat itself (one is sent once the idle time is within a tick of it),
// so 2 s are kept under the contract's 30 s for a late timer or a slow
// write.
const MaxHeartbeat = 28 * time.Second

// Default is the configuration with nothing set.
func Default() Config {
	return Config{
		Listen:               ":3000",
		Database:             "observable.db",
		SQLiteSync:           "full",
		PostgresMaxConns:     16,
		MaxBodyBytes:         1 << 20,
		MaxBatchEvents:       500,
		SessionRate:          1000,
		SessionBurst:         10000,
		SessionsPerMinute:    10,
		QRPerMinute:          60,
		PingBodyLimit:        10_000,
		MaxJobsPerSession:    1000,
		MaxDevicesPerSession: 20,
		PairingTTL:           10 * time.Minute,
		Retention:            30 * 24 * time.Hour,
		Heartbeat:            25 * time.Second,
		StreamBuffer:         1024,
		StreamsPerSession:    32,
		StreamsPerDevice:     4,
		StreamsPerAddress:    256,
		ConnsPerAddress:      512,
		PushContact:          push.DefaultContact,
		TLSCache:             "observable-certs",
		TLSHTTPListen:        ":80",
		LogLevel:             "info",
		LogFormat:            "text",
	}
}

// Parse reads args (without the program name) and the environment (as
// os.Getenv). It returns flag.ErrHelp after writing help to out.
func Parse(args []string, getenv func(string) string, out io.Writer) (Config, error) {
	c := Default()
	fs := flag.NewFlagSet("observable-server", flag.ContinueOnError)
	fs.SetOutput(out)
	var trustProxy, pushAllow, channelAllow string
	fs.StringVar(&c.Listen, "listen", c.Listen, "address to listen on, host:port")
	fs.StringVar(&c.Database, "database", c.Database, "a SQLite file path, or a postgres:// URL to share one database between instances")
	fs.StringVar(&c.PublicURL, "public-url", "", "the address a phone uses to reach this server, e.g. https://observable.example.com (default: this machine's LAN address)")
	fs.StringVar(&c.SQLiteSync, "sqlite-synchronous", c.SQLiteSync, "SQLite durability: full (every acknowledged event survives a power cut) or normal (survives a crash of the process)")
	fs.IntVar(&c.PostgresMaxConns, "postgres-max-conns", c.PostgresMaxConns, "PostgreSQL connection pool size of this instance")
	fs.Int64Var(&c.MaxBodyBytes, "max-body-bytes", c.MaxBodyBytes, "largest request body accepted (413 past it)")
	fs.IntVar(&c.MaxBatchEvents, "max-batch-events", c.MaxBatchEvents, "most events in one request (413 past it)")
	fs.Float64Var(&c.SessionRate, "session-rate", c.SessionRate, "events per second a session may send, sustained (0: no limit)")
	fs.IntVar(&c.SessionBurst, "session-burst", c.SessionBurst, "events a session may send in a burst")
	fs.IntVar(&c.SessionsPerMinute, "sessions-per-minute", c.SessionsPerMinute, "new sessions per client address per minute (0: no limit)")
	fs.IntVar(&c.QRPerMinute, "qr-per-minute", c.QRPerMinute, "pairing QR codes drawn per client address per minute, 429 past it (0: no limit)")
	fs.IntVar(&c.PingBodyLimit, "ping-body-limit", c.PingBodyLimit, "bytes of a ping's body kept with its run (Healthchecks' Ping-Body-Limit), 1 to 10000")
	fs.IntVar(&c.MaxJobsPerSession, "max-jobs-per-session", c.MaxJobsPerSession, "most job names a session may have; an event bringing one more is refused with 422 too_many_jobs (0: no limit)")
	fs.IntVar(&c.MaxDevicesPerSession, "max-devices-per-session", c.MaxDevicesPerSession, "most devices paired with one session; a claim past it is refused with 422 too_many_devices unless its pairing replaces the others (0: no limit)")
	fs.DurationVar(&c.PairingTTL, "pairing-ttl", c.PairingTTL, "how long a pairing code can be claimed")
	fs.DurationVar(&c.Retention, "retention", c.Retention, "how long events are kept (0: forever)")
	fs.DurationVar(&c.Heartbeat, "heartbeat", c.Heartbeat, "interval of the comment line that keeps event streams open")
	fs.IntVar(&c.StreamBuffer, "stream-buffer", c.StreamBuffer, "events buffered for a slow stream before it is dropped (it resumes with Last-Event-ID)")
	fs.IntVar(&c.MaxStreams, "max-streams", c.MaxStreams, "most event streams open at once on this instance, 503 past it (default 0: the open-files limit less a tenth, at least 256, kept for everything else)")
	fs.IntVar(&c.StreamsPerSession, "max-streams-per-session", c.StreamsPerSession, "most event streams one session may have open, 503 past it (0: no limit)")
	fs.IntVar(&c.StreamsPerDevice, "max-streams-per-device", c.StreamsPerDevice, "most event streams one paired device may have open, 503 past it (0: no limit)")
	fs.IntVar(&c.StreamsPerAddress, "max-streams-per-address", c.StreamsPerAddress, "most event streams one client address (an IPv6 /64) may have open, 503 past it (0: no limit)")
	fs.IntVar(&c.MaxConns, "max-conns", c.MaxConns, "most connections open at once; past it new ones wait in the kernel's backlog until one closes (default 0: the open-files limit less 128, at least 256; keep it above --max-streams)")
	fs.IntVar(&c.ConnsPerAddress, "max-conns-per-address", c.ConnsPerAddress, "most connections one client address (an IPv6 /64) may hold open; past it new ones are closed at once; --trust-proxy addresses are exempt (0: no limit)")
	fs.StringVar(&trustProxy, "trust-proxy", "", "comma-separated networks of reverse proxies whose X-Forwarded-For is trusted, e.g. 10.0.0.0/8")
	fs.StringVar(&c.PushContact, "push-contact", c.PushContact, "mailto: or https: contact sent to push services in the VAPID claim")
	fs.StringVar(&pushAllow, "push-allow", "", "extra push service hosts allowed besides the browsers' own (comma-separated)")
	fs.StringVar(&c.SMTPURL, "smtp-url", "", "mail relay of email channels: smtp://[user:password@]host:port (STARTTLS when offered) or smtps://… (TLS); needs --smtp-from")
	fs.StringVar(&c.SMTPFrom, "smtp-from", "", "the From address of email channels' messages, e.g. alerts@example.com")
	fs.StringVar(&channelAllow, "channel-allow", "", "hosts a channel may reach although loopback or private, over plain http too (comma-separated HOST[:PORT], *.domain or an IP network)")
	fs.StringVar(&c.KeyFile, "key-file", "", "file of the key that seals channel secrets (default: the SQLite path + .key, made on first start; on PostgreSQL give every instance the same file)")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "TLS certificate file (PEM); serve HTTPS with --tls-key")
	fs.StringVar(&c.TLSKey, "tls-key", "", "TLS private key file (PEM)")
	fs.StringVar(&c.TLSDomain, "tls-domain", "", "public domain to get certificates for automatically (ACME, Let's Encrypt); needs ports 80 and 443")
	fs.StringVar(&c.TLSCache, "tls-cache", c.TLSCache, "directory where automatic certificates are kept")
	fs.StringVar(&c.TLSHTTPListen, "tls-http-listen", c.TLSHTTPListen, "with --tls-domain: where plain HTTP is answered (ACME challenges, redirects to HTTPS)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "text or json")
	fs.Usage = func() { usage(fs, out) }

	var envErrs []error
	fs.VisitAll(func(f *flag.Flag) {
		if v := getenv(EnvName(f.Name)); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				envErrs = append(envErrs, fmt.Errorf("$%s: %w", EnvName(f.Name), err))
			}
		}
	})
	if err := errors.Join(envErrs...); err != nil {
		return c, err
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	fs.Visit(func(f *flag.Flag) { c.listenSet = c.listenSet || f.Name == "listen" })
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q: every setting is a flag (see --help)", fs.Arg(0))
	}
	var err error
	if c.TrustProxy, err = parsePrefixes(trustProxy); err != nil {
		return c, fmt.Errorf("--trust-proxy: %w", err)
	}
	c.PushAllow = splitList(pushAllow)
	c.ChannelAllow = splitList(channelAllow)
	return c, c.finish()
}

// EnvName is the environment variable of a flag.
func EnvName(flagName string) string {
	return "OBSERVABLE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// IsPostgres reports whether the database setting names PostgreSQL.
func (c *Config) IsPostgres() bool {
	return strings.HasPrefix(c.Database, "postgres://") || strings.HasPrefix(c.Database, "postgresql://")
}

func (c *Config) finish() error {
	if c.TLSDomain != "" && !c.listenSet {
		c.Listen = ":443" // where ACME's TLS challenge and browsers expect HTTPS
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("--listen %q: want host:port, e.g. :3000 or 127.0.0.1:3000", c.Listen)
	}
	if c.MaxBodyBytes <= 0 || c.MaxBatchEvents <= 0 {
		return errors.New("--max-body-bytes and --max-batch-events must be positive")
	}
	if c.PingBodyLimit < 1 || c.PingBodyLimit > 10_000 {
		// The body is kept in the event's metadata, at most 64 KiB of JSON:
		// 10,000 bytes stay under it even when every byte needs a \u escape.
		return fmt.Errorf("--ping-body-limit (%d) must be from 1 to 10000 bytes: the body is kept in the event's metadata (at most 64 KiB of JSON)", c.PingBodyLimit)
	}
	if c.SessionRate < 0 || c.SessionBurst < 0 || c.SessionsPerMinute < 0 || c.QRPerMinute < 0 {
		return errors.New("rate limits cannot be negative (0 turns one off)")
	}
	if c.SessionRate > 0 && c.SessionBurst < c.MaxBatchEvents {
		return fmt.Errorf("--session-burst (%d) must be at least --max-batch-events (%d), or a full batch could never pass", c.SessionBurst, c.MaxBatchEvents)
	}
	if c.MaxJobsPerSession < 0 {
		return errors.New("--max-jobs-per-session cannot be negative (0 turns the limit off)")
	}
	if c.MaxDevicesPerSession < 0 {
		return errors.New("--max-devices-per-session cannot be negative (0 turns the limit off)")
	}
	if c.PairingTTL < time.Second {
		return errors.New("--pairing-ttl must be at least 1s")
	}
	if c.Heartbeat < time.Second || c.Heartbeat > MaxHeartbeat {
		return fmt.Errorf("--heartbeat %v: want 1s to %v. It is the longest silence of a stream (a late tick or a slow write adds to it), and the contract promises a comment line at least every 30 s", c.Heartbeat, MaxHeartbeat)
	}
	if c.StreamBuffer < 1 {
		return errors.New("--stream-buffer must be at least 1")
	}
	if c.MaxStreams < 0 || c.StreamsPerSession < 0 || c.StreamsPerDevice < 0 || c.StreamsPerAddress < 0 {
		return errors.New("--max-streams, --max-streams-per-session, --max-streams-per-device and --max-streams-per-address cannot be negative (0 turns a cap off; --max-streams 0 derives it from the open-files limit)")
	}
	if c.MaxConns < 0 || c.ConnsPerAddress < 0 {
		return errors.New("--max-conns and --max-conns-per-address cannot be negative (0 turns --max-conns-per-address off; --max-conns 0 derives it from the open-files limit)")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if c.TLSDomain != "" && c.TLSCert != "" {
		return errors.New("use either --tls-domain (automatic certificates) or --tls-cert/--tls-key, not both")
	}
	if err := push.CheckContact(c.PushContact); err != nil {
		return fmt.Errorf("--push-contact %w", err)
	}
	if err := c.finishChannels(); err != nil {
		return err
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", c.LogLevel)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("--log-format %q: want text or json", c.LogFormat)
	}
	return c.resolvePublicURL()
}

func (c *Config) resolvePublicURL() error {
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--public-url %q: want an http:// or https:// address, e.g. http://192.168.1.20:3000", c.PublicURL)
		}
		c.PublicURL = strings.TrimSuffix(u.String(), "/")
		if isLoopbackHost(u.Hostname()) {
			c.Warnings = append(c.Warnings, fmt.Sprintf("--public-url %s is a loopback address: a phone cannot reach it; give an address on your network", c.PublicURL))
		}
		return nil
	}
	host, port, _ := net.SplitHostPort(c.Listen)
	scheme := "http"
	if c.TLSCert != "" || c.TLSDomain != "" {
		scheme = "https"
	}
	if c.TLSDomain != "" {
		c.PublicURL = "https://" + c.TLSDomain
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil && !ip.IsUnspecified() {
		c.PublicURL = scheme + "://" + net.JoinHostPort(host, port)
		if ip.IsLoopback() {
			c.Warnings = append(c.Warnings, fmt.Sprintf("listening on loopback only: phones cannot reach %s; listen on :%s and set --public-url", c.PublicURL, port))
		}
		return nil
	}
	if host != "" && host != "0.0.0.0" && host != "::" {
		c.PublicURL = scheme + "://" + net.JoinHostPort(host, port)
		return nil
	}
	if ip, ok := lanAddress(); ok {
		c.PublicURL = scheme + "://" + net.JoinHostPort(ip.String(), port)
		return nil
	}
	c.PublicURL = scheme + "://" + net.JoinHostPort("localhost", port)
	c.Warnings = append(c.Warnings, fmt.Sprintf("found no network address but loopback: pairing links (%s) will not open on a phone; set --public-url to an address the phone can reach", c.PublicURL))
	return nil
}

// lanAddress picks this machine's first private IPv4 address, else its
// first global unicast one.
func lanAddress() (netip.Addr, bool) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return netip.Addr{}, false
	}
	var fallback netip.Addr
	for _, a := range addrs {
		prefix, err := netip.ParsePrefix(a.String())
		if err != nil {
			continue
		}
		ip := prefix.Addr()
		if !ip.Is4() || ip.IsLoopback() || ip.IsLinkLocalUnicast() {
			continue
		}
		if ip.IsPrivate() {
			return ip, true
		}
		if !fallback.IsValid() && ip.IsGlobalUnicast() {
			fallback = ip
		}
	}
	return fallback, fallback.IsValid()
}

func isLoopbackHost(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

func parsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range splitList(s) {
		if !strings.Contains(part, "/") {
			ip, err := netip.ParseAddr(part)
			if err != nil {
				return nil, fmt.Errorf("%q is not an address or network", part)
			}
			part = ip.String() + "/" + strconv.Itoa(ip.BitLen())
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			return nil, fmt.Errorf("%q is not a network such as 10.0.0.0/8", part)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func usage(fs *flag.FlagSet, out io.Writer) {
	fmt.Fprintf(out, `observable-server: the Observable Code server (API, live streams, phone app).

Usage: observable-server [flags]

With no flags it listens on :3000 and keeps its data in ./observable.db (SQLite).
Every flag can also be set in the environment: --some-flag is OBSERVABLE_SOME_FLAG.

Flags:
`)
	fs.VisitAll(func(f *flag.Flag) {
		name, help := flag.UnquoteUsage(f)
		fmt.Fprintf(out, "  --%s %s\n      %s", f.Name, name, help)
		if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "[]" {
			fmt.Fprintf(out, " (default %s)", f.DefValue)
		}
		fmt.Fprintf(out, " [$%s]\n", EnvName(f.Name))
	})
}
