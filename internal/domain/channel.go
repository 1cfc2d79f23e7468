package domain

import "time"

// Channel types: where else than the phone a session's alerts go (issue 14,
// contract v1.1 "Channels").
const (
	ChannelWebhook = "webhook"
	ChannelSlack   = "slack"
	ChannelDiscord = "discord"
	ChannelNtfy    = "ntfy"
	ChannelEmail   = "email"
)

// ChannelTypes lists every channel type, in the order the phone offers them.
var ChannelTypes = []string{ChannelNtfy, ChannelSlack, ChannelDiscord, ChannelWebhook, ChannelEmail}

// Kinds of channel message that no event or incident causes.
const (
	// ChannelKindTest is the message "Send a test" sends.
	ChannelKindTest = "test"
	// ChannelKindConfirm is the one message an email address gets until its
	// confirmation link is opened.
	ChannelKindConfirm = "confirm"
)

// ChannelSecrets are a channel's parts that are secrets: stored sealed
// (encrypted), never logged, shown to the phone only masked.
type ChannelSecrets struct {
	URL     string `json:"url,omitempty"`     // webhook, slack, discord
	Secret  string `json:"secret,omitempty"`  // webhook: the HMAC key of its signatures
	Server  string `json:"server,omitempty"`  // ntfy: e.g. https://ntfy.sh
	Topic   string `json:"topic,omitempty"`   // ntfy
	Token   string `json:"token,omitempty"`   // ntfy: optional access token
	Address string `json:"address,omitempty"` // email
	// ConfirmToken is the email confirmation link's token until it is
	// opened (its SHA-256 is what the store looks it up by).
	ConfirmToken string `json:"confirm_token,omitempty"`
}

// ChannelError is the last delivery failure of a channel, in words the
// phone shows ("Slack answered 404: the webhook was deleted").
type ChannelError struct {
	At      Time   `json:"at"`
	Message string `json:"message"`
}

// Channel is one channel as the store keeps it. Sealed holds the
// ChannelSecrets encrypted (package channel seals and opens them); Shown
// is the masked form the phone sees ({"url": "hooks.slack.com/…XYZ9"}).
type Channel struct {
	ID        string
	SessionID int64
	Type      string
	Notify    string   // NotifyFailures, NotifyAll or NotifyOff
	Muted     []string // job names
	Verified  bool     // email: its link was opened; every other type: true
	Sealed    []byte
	Shown     map[string]string
	LastError *ChannelError
	// Failures counts deliveries given up on in a row; a success resets it.
	Failures int
	// DisabledAt is when the channel turned itself off after failing too
	// long (Notify is then NotifyOff); nil otherwise.
	DisabledAt *Time
	CreatedAt  Time
}

// ChannelPatch is PATCH /api/v1/channels/{id}: nil fields stay as they are.
// Secrets, when set, replace the channel's (already sealed, with Shown).
type ChannelPatch struct {
	Notify *string
	Muted  *[]string
	Sealed []byte
	Shown  map[string]string
}

// Channel limits.
const (
	// MaxChannelsPerSession bounds a session's channels.
	MaxChannelsPerSession = 20
	// ChannelDisableAfter is how many deliveries in a row a channel may
	// fail, over at least ChannelDisableSpan, before it turns itself off.
	ChannelDisableAfter = 5
	ChannelDisableSpan  = time.Hour
)

// AlertChannelOff is the push a session's phones get when one of its
// channels turned itself off.
const AlertChannelOff = "channel_off"
