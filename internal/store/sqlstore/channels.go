package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/store"
)

var _ store.Channels = (*DB)(nil)

// ConfirmEvery is how often an email channel may be sent its confirmation:
// the server must not become a way to mail an address again and again.
const ConfirmEvery = 10 * time.Minute

// channelColumns are what scanChannel reads, in its order.
const channelColumns = `id, session_id, type, notify, muted, verified, sealed, shown, last_error_at, last_error, failures, disabled_at, created_at`

var errTooManyChannels = &domain.Error{Code: domain.ETooManyChannels,
	Message: fmt.Sprintf("a session has at most %d channels; remove one first", domain.MaxChannelsPerSession)}

func scanChannel(row scanner) (domain.Channel, error) {
	var c domain.Channel
	var muted, shown string
	var errAt, disabled sql.NullInt64
	var lastErr sql.NullString
	var created int64
	if err := row.Scan(&c.ID, &c.SessionID, &c.Type, &c.Notify, &muted, &c.Verified, &c.Sealed, &shown,
		&errAt, &lastErr, &c.Failures, &disabled, &created); err != nil {
		return c, err
	}
	if err := decodeChannelJSON(c.ID, muted, shown, &c); err != nil {
		return c, err
	}
	setChannelTimes(&c, errAt, lastErr, disabled, created)
	return c, nil
}

// setChannelTimes fills the columns a channel and a claimed job's channel
// both read as nullable millis: its last error, when it turned itself off
// and when it was made.
func setChannelTimes(c *domain.Channel, errAt sql.NullInt64, lastErr sql.NullString, disabled sql.NullInt64, created int64) {
	if errAt.Valid {
		c.LastError = &domain.ChannelError{At: domain.TimeFromMillis(errAt.Int64), Message: lastErr.String}
	}
	if disabled.Valid {
		t := domain.TimeFromMillis(disabled.Int64)
		c.DisabledAt = &t
	}
	c.CreatedAt = domain.TimeFromMillis(created)
}

func decodeChannelJSON(id, muted, shown string, c *domain.Channel) error {
	if err := json.Unmarshal([]byte(muted), &c.Muted); err != nil {
		return fmt.Errorf("channel %s: muted jobs: %w", id, err)
	}
	if c.Muted == nil {
		c.Muted = []string{}
	}
	if err := json.Unmarshal([]byte(shown), &c.Shown); err != nil {
		return fmt.Errorf("channel %s: shown fields: %w", id, err)
	}
	if c.Shown == nil {
		c.Shown = map[string]string{}
	}
	return nil
}

// storable is s as a text column keeps it: PostgreSQL refuses NUL and
// invalid UTF-8, and SQLite would serve back bytes strict JSON parsers
// reject. The API validates what it takes; this keeps the store from
// failing a write (or a whole transaction) on what slipped through.
func storable(s string) string {
	if domain.TextProblem(s) == "" {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// lookupable reports whether s can be a stored key: one that is not could
// match nothing, and PostgreSQL would fail the query instead of saying so.
func lookupable(s string) bool { return strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) }

func channelJSON(muted []string, shown map[string]string) (string, string, error) {
	m := make([]string, len(muted))
	for i, name := range muted {
		m[i] = storable(name)
	}
	sh := make(map[string]string, len(shown))
	for k, v := range shown {
		sh[storable(k)] = storable(v)
	}
	mj, err := json.Marshal(m)
	if err != nil {
		return "", "", err
	}
	sj, err := json.Marshal(sh)
	return string(mj), string(sj), err
}

// CreateChannel adds c, counting the session's channels in the same
// transaction as the insert, under the session's row lock (PostgreSQL; on
// SQLite the one writer), so that concurrent creates never pass the limit.
// An unverified channel gets its confirmation queued with it.
func (db *DB) CreateChannel(ctx context.Context, c domain.Channel, confirmHash []byte, now time.Time) error {
	muted, shown, err := channelJSON(c.Muted, c.Shown)
	if err != nil {
		return fmt.Errorf("create channel: %w", err)
	}
	notify := c.Notify
	if notify == "" {
		notify = domain.NotifyFailures
	}
	return db.inTx(ctx, "create channel", func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, db.q(`SELECT id FROM sessions WHERE id = ?`+db.d.lockRow), c.SessionID).Scan(&n); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return domain.ErrNotFound
			}
			return err
		}
		if err := tx.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM channels WHERE session_id = ?`), c.SessionID).Scan(&n); err != nil {
			return err
		}
		if n >= domain.MaxChannelsPerSession {
			return errTooManyChannels
		}
		var hash, sentAt any
		if !c.Verified {
			hash, sentAt = confirmHash, now.UnixMilli()
		}
		if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO channels (id, session_id, type, notify, muted, verified, sealed, shown,
			confirm_hash, confirm_sent_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			storable(c.ID), c.SessionID, storable(c.Type), storable(notify), muted, c.Verified, c.Sealed, shown,
			hash, sentAt, now.UnixMilli()); err != nil {
			return err
		}
		if c.Verified {
			return nil
		}
		return db.insertChannelJob(ctx, tx, storable(c.ID), c.SessionID, domain.ChannelKindConfirm, now)
	})
}

// insertChannelJob queues a message that no event is about (seq 0).
func (db *DB) insertChannelJob(ctx context.Context, tx *sql.Tx, channelID string, sessionID int64, kind string, now time.Time) error {
	_, err := tx.ExecContext(ctx, db.q(`INSERT INTO channel_jobs (channel_id, session_id, seq, kind, next_attempt_at, queued_at)
		VALUES (?, ?, 0, ?, ?, ?)`), channelID, sessionID, kind, now.UnixMilli(), now.UnixMilli())
	return err
}

// ListChannels lists a session's channels, oldest first.
func (db *DB) ListChannels(ctx context.Context, sessionID int64) ([]domain.Channel, error) {
	rows, err := db.read.QueryContext(ctx, db.q(`SELECT `+channelColumns+` FROM channels WHERE session_id = ? ORDER BY created_at, id`), sessionID)
	if err != nil {
		return nil, db.wrap("list channels", err)
	}
	defer rows.Close()
	out := []domain.Channel{}
	for rows.Next() {
		c, err := scanChannel(rows)
		if err != nil {
			return nil, db.wrap("list channels", err)
		}
		out = append(out, c)
	}
	return out, db.wrap("list channels", rows.Err())
}

// GetChannel is one of the session's channels; another session's is not
// found, as if it did not exist.
func (db *DB) GetChannel(ctx context.Context, sessionID int64, id string) (domain.Channel, error) {
	if !lookupable(id) {
		return domain.Channel{}, domain.ErrNotFound
	}
	c, err := scanChannel(db.read.QueryRowContext(ctx, db.q(`SELECT `+channelColumns+` FROM channels WHERE session_id = ? AND id = ?`), sessionID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return c, domain.ErrNotFound
	}
	return c, db.wrap("get channel", err)
}

// ChannelByConfirmHash is the email channel waiting for the confirmation
// token that hashes to tokenHash (domain.ErrNotFound when none is), so that
// the confirmation page can name the address before anything is confirmed.
func (db *DB) ChannelByConfirmHash(ctx context.Context, tokenHash []byte) (domain.Channel, error) {
	if len(tokenHash) == 0 {
		return domain.Channel{}, domain.ErrNotFound
	}
	c, err := scanChannel(db.read.QueryRowContext(ctx, db.q(`SELECT `+channelColumns+` FROM channels WHERE confirm_hash = ?`), tokenHash))
	if errors.Is(err, sql.ErrNoRows) {
		return c, domain.ErrNotFound
	}
	return c, db.wrap("find channel to confirm", err)
}

// UpdateChannel applies p. Turning a channel that turned itself off on
// again starts its count of failures afresh.
func (db *DB) UpdateChannel(ctx context.Context, sessionID int64, id string, p domain.ChannelPatch) (domain.Channel, error) {
	if !lookupable(id) {
		return domain.Channel{}, domain.ErrNotFound
	}
	var c domain.Channel
	err := db.inTx(ctx, "update channel", func(tx *sql.Tx) error {
		var err error
		c, err = scanChannel(tx.QueryRowContext(ctx, db.q(`SELECT `+channelColumns+` FROM channels WHERE session_id = ? AND id = ?`+db.d.lockRow), sessionID, id))
		if errors.Is(err, sql.ErrNoRows) {
			return domain.ErrNotFound
		}
		if err != nil {
			return err
		}
		reenabled := false
		if p.Notify != nil {
			c.Notify = storable(*p.Notify)
			if c.Notify != domain.NotifyOff && c.DisabledAt != nil {
				c.DisabledAt, c.Failures, reenabled = nil, 0, true
			}
		}
		if p.Muted != nil {
			c.Muted = *p.Muted
		}
		if p.Sealed != nil {
			c.Sealed, c.Shown = p.Sealed, p.Shown
		}
		muted, shown, err := channelJSON(c.Muted, c.Shown)
		if err != nil {
			return err
		}
		if err := decodeChannelJSON(c.ID, muted, shown, &c); err != nil { // as a read would give them
			return err
		}
		query := `UPDATE channels SET notify = ?, muted = ?, sealed = ?, shown = ? WHERE id = ?`
		if reenabled {
			query = `UPDATE channels SET notify = ?, muted = ?, sealed = ?, shown = ?,
				disabled_at = NULL, failures = 0, first_failure_at = NULL WHERE id = ?`
		}
		_, err = tx.ExecContext(ctx, db.q(query), c.Notify, muted, c.Sealed, shown, id)
		return err
	})
	return c, err
}

// DeleteChannel removes the channel and its queued messages. The jobs go
// first, as the worker's FailChannelJob and CompleteChannelJob lock them
// before the channel: in the cascade's order they could deadlock with it on
// PostgreSQL. (The cascade still takes any queued meanwhile.)
func (db *DB) DeleteChannel(ctx context.Context, sessionID int64, id string) error {
	if !lookupable(id) {
		return domain.ErrNotFound
	}
	return db.inTx(ctx, "delete channel", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM channel_jobs WHERE channel_id = ? AND session_id = ?`), id, sessionID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, db.q(`DELETE FROM channels WHERE session_id = ? AND id = ?`), sessionID, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return cmp.Or(err, domain.ErrNotFound)
		}
		return nil
	})
}

// ConfirmChannel marks verified the channel whose confirmation token
// hashes to tokenHash, and forgets the hash: a link works once. A
// confirmation still queued is dropped, its link being spent.
func (db *DB) ConfirmChannel(ctx context.Context, tokenHash []byte, now time.Time) (domain.Channel, error) {
	if len(tokenHash) == 0 {
		return domain.Channel{}, domain.ErrNotFound
	}
	var c domain.Channel
	err := db.inTx(ctx, "confirm channel", func(tx *sql.Tx) error {
		var id string
		err := tx.QueryRowContext(ctx, db.q(`UPDATE channels SET verified = ?, confirm_hash = NULL WHERE confirm_hash = ? RETURNING id`),
			true, tokenHash).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return domain.ErrNotFound
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM channel_jobs WHERE channel_id = ? AND kind = ? AND locked_until <= ?`),
			id, domain.ChannelKindConfirm, now.UnixMilli()); err != nil {
			return err
		}
		c, err = scanChannel(tx.QueryRowContext(ctx, db.q(`SELECT `+channelColumns+` FROM channels WHERE id = ?`), id))
		return err
	})
	return c, err
}

// QueueChannelMessage queues a test or a confirmation for one channel of
// the session. A test of an email channel not yet confirmed sends the
// confirmation again instead, and confirmations are sent at most once per
// ConfirmEvery.
func (db *DB) QueueChannelMessage(ctx context.Context, sessionID int64, id, kind string, now time.Time) error {
	if kind != domain.ChannelKindTest && kind != domain.ChannelKindConfirm {
		return &domain.Error{Code: domain.EInvalidChannel, Message: fmt.Sprintf("a channel message is a %q or a %q", domain.ChannelKindTest, domain.ChannelKindConfirm)}
	}
	if !lookupable(id) {
		return domain.ErrNotFound
	}
	return db.inTx(ctx, "queue channel message", func(tx *sql.Tx) error {
		var verified bool
		var sent sql.NullInt64
		err := tx.QueryRowContext(ctx, db.q(`SELECT verified, confirm_sent_at FROM channels WHERE session_id = ? AND id = ?`+db.d.lockRow),
			sessionID, id).Scan(&verified, &sent)
		if errors.Is(err, sql.ErrNoRows) {
			return domain.ErrNotFound
		}
		if err != nil {
			return err
		}
		if kind == domain.ChannelKindConfirm && verified {
			return &domain.Error{Code: domain.EInvalidChannel, Message: "this channel is confirmed already; send it a test instead"}
		}
		if verified {
			return db.insertChannelJob(ctx, tx, id, sessionID, kind, now)
		}
		if sent.Valid {
			if wait := time.UnixMilli(sent.Int64).Add(ConfirmEvery).Sub(now); wait > 0 {
				return &domain.Error{Code: domain.ERateLimited, RetryAfter: wait.Round(time.Second) + time.Second,
					Message: "a confirmation was sent to this address less than 10 minutes ago; open its link, or try again later"}
			}
		}
		if _, err := tx.ExecContext(ctx, db.q(`UPDATE channels SET confirm_sent_at = ? WHERE id = ?`), now.UnixMilli(), id); err != nil {
			return err
		}
		return db.insertChannelJob(ctx, tx, id, sessionID, domain.ChannelKindConfirm, now)
	})
}
