// Package push delivers Web Push notifications: VAPID (RFC 8292) signed,
// RFC 8291 aes128gcm encrypted, through the queue that the store fills in
// the same transaction as the events (see docs/push.md).
//
// Ingest never waits on a push service: it only calls Wake, which never
// blocks. The worker claims due jobs with a lease, sends a few at a time,
// each with a timeout, and retries with backoff through the database, so a
// job survives restarts and is sent by one instance only.
package push

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/observable-code/observable/internal/store"
)

// Defaults of the Options whose zero value means "choose for me".
const (
	DefaultContact      = "mailto:admin@localhost"
	DefaultSendTimeout  = 10 * time.Second
	DefaultConcurrency  = 8
	DefaultPollInterval = 5 * time.Second
	DefaultMaxAttempts  = 10
	DefaultRetryBase    = 10 * time.Second
	DefaultRetryMax     = 30 * time.Minute
	DefaultTTL          = 24 * time.Hour
)

// Store is what push needs of the database: the queue the commit fills,
// and the setting that holds the VAPID keys every instance shares.
type Store interface {
	// ClaimPushJobs leases up to limit due jobs until now+lease, each with
	// its subscription and event; a job is handed to one worker at a time,
	// whichever instance it runs in.
	ClaimPushJobs(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]store.PushJob, error)
	CompletePushJob(ctx context.Context, id int64) error
	RetryPushJob(ctx context.Context, id int64, at time.Time, lastErr string) error
	// DropPushEndpoint removes a subscription the push service says is
	// gone, and the jobs queued for it.
	DropPushEndpoint(ctx context.Context, deviceID, endpoint string) error
	Setting(ctx context.Context, key string) (string, error)
	// SetSettingOnce writes key unless it is set and returns the value kept.
	SetSettingOnce(ctx context.Context, key, value string) (string, error)
}

// Options configure the push service. Store is required; every other zero
// value picks the default above.
type Options struct {
	Store Store
	// Contact is the VAPID "sub" claim: a mailto: or https: URI the push
	// services can reach the operator at (Apple refuses anything else).
	Contact string
	// Allow adds push service hosts to the browsers' own ("host",
	// "host:port", "*.domain"); see CheckEndpoint.
	Allow []string
	// PublicURL is the server's address as phones see it. Notifications
	// carry relative links, which the service worker resolves against its
	// own origin, so it is not needed to send; it is kept for the surface.
	PublicURL string
	Logger    *slog.Logger
	// Result is told the outcome of every job: "sent", "gone" (the
	// subscription was dropped), "retry", "failed" (given up) or "skipped".
	// It is called from several goroutines at once.
	Result func(result string)

	// SendTimeout bounds one request to a push service.
	SendTimeout time.Duration
	// Concurrency is how many requests may be in flight at once, and
	// PerHost how many of them one push service may hold (half by default),
	// so that a slow or dead service leaves workers for the others.
	Concurrency int
	PerHost     int
	// PollInterval is how often the worker looks for retries that came due
	// (and for jobs queued by other instances).
	PollInterval time.Duration
	// MaxAttempts bounds the tries of one job before it is given up.
	MaxAttempts int
	// RetryBase is the first retry delay; it doubles per attempt (with
	// jitter) up to RetryMax. A push service's Retry-After wins if longer.
	RetryBase time.Duration
	RetryMax  time.Duration
	// TTL is how long a notification is worth delivering after its event:
	// the TTL header, and the age past which a queued job is dropped.
	TTL time.Duration
}

// Service sends queued notifications.
type Service struct {
	opts    Options
	store   Store
	keys    vapidKeys
	sub     string
	allow   allowList
	log     *slog.Logger
	result  func(string)
	client  *http.Client
	lease   time.Duration
	wake    chan struct{}
	runOnce sync.Once
}

// New loads (or, on a new database, makes) the VAPID keys and prepares the
// worker; Run starts it.
func New(ctx context.Context, opts Options) (*Service, error) {
	if opts.Store == nil {
		return nil, errors.New("push: a store is required")
	}
	defaults(&opts)
	if err := CheckContact(opts.Contact); err != nil {
		return nil, fmt.Errorf("push contact %w; set --push-contact", err)
	}
	allow, err := newAllowList(opts.Allow)
	if err != nil {
		return nil, err
	}
	keys, err := loadKeys(ctx, opts.Store)
	if err != nil {
		return nil, err
	}
	s := &Service{
		opts:  opts,
		store: opts.Store,
		keys:  keys,
		// webpush-go prefixes "mailto:" to anything that is not https:, so
		// it is given the bare address; "mailto:mailto:…" is a JWT Apple
		// refuses with 403 BadJwtToken.
		sub:    strings.TrimPrefix(opts.Contact, "mailto:"),
		allow:  allow,
		log:    opts.Logger,
		result: opts.Result,
		client: &http.Client{
			// A push service answers; it never redirects. Following one
			// would let a response send us somewhere the allow-list forbids.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		// A claimed job waits for a slot of its push service (a few sends
		// at most: see worker) and is sent within SendTimeout; past the
		// lease another worker may take it over, so it is ample.
		lease: opts.SendTimeout*time.Duration(2+opts.Concurrency/opts.PerHost) + time.Minute,
		wake:  make(chan struct{}, 1),
	}
	if placeholderContact(opts.Contact) {
		s.log.Warn("push contact looks like a placeholder; Apple's push service may refuse it: set --push-contact to a real mailto: or https: address",
			"contact", opts.Contact)
	}
	return s, nil
}

func defaults(o *Options) {
	if o.Contact == "" {
		o.Contact = DefaultContact
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Result == nil {
		o.Result = func(string) {}
	}
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	set(&o.SendTimeout, DefaultSendTimeout)
	set(&o.PollInterval, DefaultPollInterval)
	set(&o.RetryBase, DefaultRetryBase)
	set(&o.RetryMax, DefaultRetryMax)
	set(&o.TTL, DefaultTTL)
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.PerHost <= 0 || o.PerHost > o.Concurrency {
		o.PerHost = max(1, o.Concurrency/2)
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
}

// PublicKey is the VAPID public key (base64url, uncompressed P-256 point)
// that browsers subscribe with.
func (s *Service) PublicKey() string { return s.keys.Public }

// CheckEndpoint accepts only the browsers' push services and the hosts of
// Options.Allow. Its message is shown to the API caller.
func (s *Service) CheckEndpoint(endpoint string) error { return s.allow.check(endpoint) }

// Wake tells the worker that jobs may be due. It never blocks.
func (s *Service) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run delivers jobs until ctx ends, then waits for the sends in flight. It
// is meant to be called once per Service.
func (s *Service) Run(ctx context.Context) {
	s.runOnce.Do(func() { s.run(ctx) })
}
