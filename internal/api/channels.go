package api

// The channels routes (issue 14, contract "Channels"): where else than the
// phone a session's alerts go. Secrets arrive here once, are checked and
// sealed, and from then on only their masked form leaves the server.

import (
	"cmp"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/observable-code/observable/internal/channel"
	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/secret"
)

// ChannelDeps are what the channels routes are built on.
type ChannelDeps struct {
	// Guard refuses destinations the server may not reach.
	Guard *channel.Guard
	// Sealer seals a channel's secrets; nil (no key: --key-file) answers
	// 503 channels_unavailable to every call that needs it.
	Sealer *channel.Sealer
	// EmailOn: an SMTP server is set up (--smtp-url).
	EmailOn bool
	// Wake tells the delivery worker that a message was queued (nil: none).
	Wake func()
}

// Bounds of the channels routes.
const (
	// chanBodyLimit: a channel is a few URLs and names, far below the events'
	// body limit.
	chanBodyLimit = 16 << 10
	// chanTestEvery is how often "Send a test" may send to one channel.
	chanTestEvery = 10 * time.Second
	chanIDPrefix  = "ch_"
)

func channelsUnavailable() error {
	return domain.Errorf(domain.EChannelsUnavailable, "channels are not set up on this server: it has no key to seal their secrets with; its operator must give every instance the same --key-file")
}

func channelNotFound() error {
	return domain.Errorf(domain.ENotFound, "this session has no channel with that id (GET /api/v1/channels lists them)")
}

// channelJSON is a CHANNEL: the masked fields of its type, then the
// fields every channel has (which the masked ones cannot overwrite).
func channelJSON(c domain.Channel) map[string]any {
	out := make(map[string]any, len(c.Shown)+8)
	for k, v := range c.Shown {
		out[k] = v
	}
	muted := c.Muted
	if muted == nil {
		muted = []string{}
	}
	var disabled any // null
	if c.DisabledAt != nil {
		disabled = *c.DisabledAt
	}
	var lastErr any // null
	if c.LastError != nil {
		lastErr = *c.LastError
	}
	out["id"], out["type"], out["notify"], out["muted"] = c.ID, c.Type, c.Notify, muted
	out["verified"], out["last_error"], out["disabled_at"], out["created_at"] = c.Verified, lastErr, disabled, c.CreatedAt
	return out
}

func (s *Server) wakeChannels() {
	if s.deps.Channels.Wake != nil {
		s.deps.Channels.Wake()
	}
}

func (s *Server) listChannels(w http.ResponseWriter, r *http.Request) error {
	cs, err := s.deps.Store.ListChannels(r.Context(), callerOf(r).sessionID)
	if err != nil {
		return dbOp("list channels", err)
	}
	out := make([]map[string]any, 0, len(cs))
	for _, c := range cs {
		out = append(out, channelJSON(c))
	}
	writeJSON(w, http.StatusOK, map[string]any{"channels": out})
	return nil
}

// createChannel is POST /api/v1/channels. A webhook's secret (given, or
// made here) is in the answer in full, this once; an email channel is
// unverified until its confirmation link is opened.
func (s *Server) createChannel(w http.ResponseWriter, r *http.Request) error {
	who := callerOf(r)
	cd := s.deps.Channels
	if cd.Sealer == nil {
		return channelsUnavailable()
	}
	fields, err := s.readChannelBody(w, r)
	if err != nil {
		return err
	}
	typ, _, err := chanString(fields, "type")
	if err != nil {
		return err
	}
	if channel.Fields(typ) == nil {
		return badChannel("type", "type must be one of %s", strings.Join(domain.ChannelTypes, ", "))
	}
	if err := checkChannelFields(fields, typ); err != nil {
		return err
	}
	notify, muted, err := channelRule(fields)
	if err != nil {
		return err
	}
	sec, err := channelSecrets(fields, typ, domain.ChannelSecrets{})
	if err != nil {
		return err
	}
	// Validate also answers email_unavailable without SMTP.
	if sec, err = channel.Validate(typ, sec, cd.Guard, cd.EmailOn); err != nil {
		return err
	}
	if typ == domain.ChannelWebhook && sec.Secret == "" {
		sec.Secret = randomToken()
	}
	now := s.now()
	c := domain.Channel{
		ID: chanIDPrefix + secret.ID(), SessionID: who.sessionID, Type: typ,
		Notify: domain.NotifyFailures, Muted: []string{}, Verified: typ != domain.ChannelEmail,
		Shown: channel.Mask(typ, sec), CreatedAt: domain.NewTime(now),
	}
	if notify != nil {
		c.Notify = *notify
	}
	if muted != nil {
		c.Muted = *muted
	}
	var confirmHash []byte
	if typ == domain.ChannelEmail {
		// Only its hash is looked up by; the link's token itself travels
		// sealed, for the worker to put in the message.
		sec.ConfirmToken = randomToken()
		confirmHash = secret.Hash(sec.ConfirmToken)
	}
	if c.Sealed, err = cd.Sealer.Seal(c.ID, sec); err != nil {
		return dbOp("seal channel secrets", err)
	}
	if err := s.deps.Store.CreateChannel(r.Context(), c, confirmHash, now); err != nil {
		return dbOp("create channel", err)
	}
	if typ == domain.ChannelEmail {
		s.wakeChannels() // its confirmation message was queued
	}
	out := channelJSON(c)
	if typ == domain.ChannelWebhook {
		out["secret"] = sec.Secret
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

// patchChannel is PATCH /api/v1/channels/{id}: notify, muted, and the
// type's fields, each replacing only itself.
func (s *Server) patchChannel(w http.ResponseWriter, r *http.Request) error {
	who := callerOf(r)
	id := r.PathValue("id")
	if !plausibleChannelID(id) {
		return channelNotFound()
	}
	fields, err := s.readChannelBody(w, r)
	if err != nil {
		return err
	}
	c, err := s.deps.Store.GetChannel(r.Context(), who.sessionID, id)
	if errors.Is(err, domain.ErrNotFound) {
		return channelNotFound()
	}
	if err != nil {
		return dbOp("read channel", err)
	}
	if typ, ok, err := chanString(fields, "type"); err != nil || ok && typ != c.Type {
		return cmp.Or(err, badChannel("type", "a channel's type cannot change; add a new %s channel and remove this one", typ))
	}
	if err := checkChannelFields(fields, c.Type); err != nil {
		return err
	}
	var p domain.ChannelPatch
	if p.Notify, p.Muted, err = channelRule(fields); err != nil {
		return err
	}
	if err := s.patchSecrets(r, c, fields, &p); err != nil {
		return err
	}
	c, err = s.deps.Store.UpdateChannel(r.Context(), who.sessionID, id, p)
	if errors.Is(err, domain.ErrNotFound) {
		return channelNotFound()
	}
	if err != nil {
		return dbOp("update channel", err)
	}
	writeJSON(w, http.StatusOK, channelJSON(c))
	return nil
}

// patchSecrets fills p.Sealed and p.Shown when the body gives any of the
// type's fields: the current secrets opened, the given ones laid over
// them, checked as a new channel's would be, and sealed again.
func (s *Server) patchSecrets(r *http.Request, c domain.Channel, fields map[string]json.RawMessage, p *domain.ChannelPatch) error {
	cd := s.deps.Channels
	given := false
	for _, name := range channel.Fields(c.Type) {
		if _, ok := fields[name]; ok {
			given = true
		}
	}
	if !given {
		return nil
	}
	if cd.Sealer == nil {
		return channelsUnavailable()
	}
	cur, err := cd.Sealer.Open(c.ID, c.Sealed)
	if err != nil {
		return dbOp("open channel secrets", err)
	}
	sec, err := channelSecrets(fields, c.Type, cur)
	if err != nil {
		return err
	}
	if sec, err = channel.Validate(c.Type, sec, cd.Guard, cd.EmailOn); err != nil {
		return err
	}
	if c.Type == domain.ChannelEmail && sec.Address != cur.Address {
		// A new address must be confirmed, and a PATCH cannot make a
		// channel unverified again.
		return badChannel("address", "an email channel's address cannot change; add the new address as a new channel (it gets its own confirmation link) and remove this one")
	}
	if c.Type == domain.ChannelWebhook && sec.Secret == "" {
		return badChannel("secret", "a webhook's secret cannot be empty; leave it out to keep the current one")
	}
	p.Shown = channel.Mask(c.Type, sec)
	sec.ConfirmToken = cur.ConfirmToken
	if p.Sealed, err = cd.Sealer.Seal(c.ID, sec); err != nil {
		return dbOp("seal channel secrets", err)
	}
	return nil
}

func (s *Server) deleteChannel(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if !plausibleChannelID(id) {
		return channelNotFound()
	}
	err := s.deps.Store.DeleteChannel(r.Context(), callerOf(r).sessionID, id)
	if errors.Is(err, domain.ErrNotFound) {
		return channelNotFound()
	}
	if err != nil {
		return dbOp("delete channel", err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// testChannel is POST /api/v1/channels/{id}/test: a test message through
// the queue, at most one per channel every chanTestEvery; for an email
// address not confirmed yet, its confirmation message again (which the
// store allows once every 10 minutes).
func (s *Server) testChannel(w http.ResponseWriter, r *http.Request) error {
	who := callerOf(r)
	id := r.PathValue("id")
	if !plausibleChannelID(id) {
		return channelNotFound()
	}
	if s.deps.Channels.Sealer == nil {
		return channelsUnavailable() // the worker could not open its secrets
	}
	c, err := s.deps.Store.GetChannel(r.Context(), who.sessionID, id)
	if errors.Is(err, domain.ErrNotFound) {
		return channelNotFound()
	}
	if err != nil {
		return dbOp("read channel", err)
	}
	now := s.now()
	if ok, wait := s.chanTests.allow(c.ID, 1, now); !ok {
		return &domain.Error{Code: domain.ERateLimited, RetryAfter: wait,
			Message: "a test message was just sent to this channel; send the next one in a few seconds"}
	}
	kind := domain.ChannelKindTest
	if c.Type == domain.ChannelEmail && !c.Verified {
		kind = domain.ChannelKindConfirm
	}
	err = s.deps.Store.QueueChannelMessage(r.Context(), who.sessionID, id, kind, now)
	if errors.Is(err, domain.ErrNotFound) {
		return channelNotFound()
	}
	if err != nil {
		return dbOp("queue test message", err)
	}
	s.wakeChannels()
	writeJSON(w, http.StatusAccepted, map[string]bool{"queued": true})
	return nil
}
