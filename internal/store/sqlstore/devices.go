package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/observable-code/observable/internal/domain"
)

const deviceSelect = `SELECT id, session_id, name, paired_at, last_seen_at, notify, muted, push_endpoint IS NOT NULL FROM devices`

type scanner interface{ Scan(dest ...any) error }

func scanDevice(row scanner) (domain.Device, error) {
	var d domain.Device
	var paired, seen int64
	var muted string
	if err := row.Scan(&d.ID, &d.SessionID, &d.Name, &paired, &seen, &d.Notify, &muted, &d.HasPush); err != nil {
		return d, err
	}
	d.PairedAt, d.LastSeenAt = domain.TimeFromMillis(paired), domain.TimeFromMillis(seen)
	if err := json.Unmarshal([]byte(muted), &d.Muted); err != nil {
		return d, fmt.Errorf("device %s: muted jobs: %w", d.ID, err)
	}
	if d.Muted == nil {
		d.Muted = []string{}
	}
	return d, nil
}

// DeviceByToken finds the device whose token hashes to tokenHash.
func (db *DB) DeviceByToken(ctx context.Context, tokenHash []byte) (domain.Device, error) {
	d, err := scanDevice(db.read.QueryRowContext(ctx, db.q(deviceSelect+` WHERE token_hash = ?`), tokenHash))
	if errors.Is(err, sql.ErrNoRows) {
		return d, domain.ErrNotFound
	}
	return d, db.wrap("device by token", err)
}

// TouchDevice records when the device was last seen.
func (db *DB) TouchDevice(ctx context.Context, deviceID string, now time.Time) error {
	return db.execOne(ctx, "touch device", `UPDATE devices SET last_seen_at = ? WHERE id = ?`, now.UnixMilli(), deviceID)
}

// UpdateDevice stores the device's name and notification rules.
func (db *DB) UpdateDevice(ctx context.Context, deviceID string, s domain.DeviceSettings) error {
	muted, err := json.Marshal(s.Muted)
	if err != nil {
		return fmt.Errorf("update device: %w", err)
	}
	return db.execOne(ctx, "update device", `UPDATE devices SET name = ?, notify = ?, muted = ? WHERE id = ?`, s.Name, s.Notify, string(muted), deviceID)
}

// DeleteDevice unpairs the device; its token stops working at once, and
// its open streams end on every instance (the notice is sent on commit).
func (db *DB) DeleteDevice(ctx context.Context, deviceID string) error {
	return db.inTx(ctx, "delete device", func(tx *sql.Tx) error {
		var session int64
		err := tx.QueryRowContext(ctx, db.q(`DELETE FROM devices WHERE id = ? RETURNING session_id`), deviceID).Scan(&session)
		if errors.Is(err, sql.ErrNoRows) {
			return domain.ErrNotFound
		}
		if err != nil || db.d.notify == nil {
			return err
		}
		return db.d.notify(ctx, tx, domain.Notice{SessionID: session, Kind: domain.NoticeRevoked})
	})
}

// SetPush stores or, with nil, removes the device's push subscription.
func (db *DB) SetPush(ctx context.Context, deviceID string, sub *domain.PushSubscription) error {
	if sub == nil {
		return db.execOne(ctx, "remove push subscription", `UPDATE devices SET push_endpoint = NULL, push_p256dh = NULL, push_auth = NULL WHERE id = ?`, deviceID)
	}
	return db.inTx(ctx, "set push subscription", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, db.q(`UPDATE devices SET push_endpoint = ?, push_p256dh = ?, push_auth = ? WHERE id = ?`),
			sub.Endpoint, sub.P256dh, sub.Auth, deviceID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return cmp.Or(err, domain.ErrNotFound)
		}
		// A phone that paired again keeps its browser's endpoint: the
		// session's older record of it must not be notified a second time.
		_, err = tx.ExecContext(ctx, db.q(`UPDATE devices SET push_endpoint = NULL, push_p256dh = NULL, push_auth = NULL
			WHERE session_id = (SELECT session_id FROM devices WHERE id = ?) AND id <> ? AND push_endpoint = ?`), deviceID, deviceID, sub.Endpoint)
		return err
	})
}

// execOne runs a write that must touch exactly one row (ErrNotFound if none).
func (db *DB) execOne(ctx context.Context, op, query string, args ...any) error {
	return db.inTx(ctx, op, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, db.q(query), args...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			return domain.ErrNotFound
		}
		return nil
	})
}
