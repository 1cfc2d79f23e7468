package domain

// Notice tells live listeners that something changed in a session: new
// events up to Seq, or a device paired. It crosses instances (PostgreSQL
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
	// NoticeResync says notices may have been missed (a listener lost its
	// connection): every listener should recheck what it waits for.
	NoticeResync = "resync"
)
