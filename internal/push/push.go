// Package push delivers Web Push notifications (VAPID, RFC 8291).
// Placeholder surface used by the server while the package is built.
package push

import (
	"context"
	"log/slog"

	"github.com/observable-code/observable/internal/store"
)

// Options configure the push service.
type Options struct {
	Store     store.Store
	Contact   string
	Allow     []string
	PublicURL string
	Logger    *slog.Logger
	Result    func(result string)
}

// Service sends queued notifications.
type Service struct{ opts Options }

// New prepares the service.
func New(ctx context.Context, opts Options) (*Service, error) { return &Service{opts: opts}, nil }

// PublicKey is the VAPID public key, base64url.
func (s *Service) PublicKey() string { return "" }

// CheckEndpoint accepts only browsers' push services.
func (s *Service) CheckEndpoint(endpoint string) error { return nil }

// Wake tells the worker that jobs may be due.
func (s *Service) Wake() {}

// Run delivers jobs until ctx ends.
func (s *Service) Run(ctx context.Context) { <-ctx.Done() }
