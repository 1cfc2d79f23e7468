package domain

// Notice tells live listeners that something changed in a session: new
// events up to Seq, a device paired, or devices were unpaired. It crosses instances (PostgreSQL
// NOTIFY), so it carries identifiers only, never event data.
type Notice struct {
	SessionID int64
	// Seq is the session's newest event when Kind is NoticeEvents.
	Seq  int64
	Kind string
}

// Kinds of Notice.
const (
	NoticeEvents = "events"
	NoticePaired = "paired"
	// NoticeRevoked says devices of the session were unpaired: their open
	// streams must end. Listeners recheck which, so the notice names none.
	NoticeRevoked = "revoked"
	// NoticeResync says notices may have been missed (a listener lost its
	// connection): every listener should recheck what it waits for.
	NoticeResync = "resync"
)
