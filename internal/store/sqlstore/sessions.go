package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/observable-code/observable/internal/domain"
)

// CreateSession stores a new session under the hash of its key.
func (db *DB) CreateSession(ctx context.Context, keyHash []byte, host string, now time.Time) (domain.Session, error) {
	s := domain.Session{CreatedAt: domain.NewTime(now), Host: host}
	err := db.inTx(ctx, "create session", func(tx *sql.Tx) error {
		return db.insertSession(ctx, tx, keyHash, &s)
	})
	return s, err
}

// CreateSessionWithPairing stores a session and its first pairing in one
// transaction, so that a failure (a full disk, say) leaves neither.
func (db *DB) CreateSessionWithPairing(ctx context.Context, keyHash []byte, host string, now time.Time, p domain.Pairing) (domain.Session, error) {
	s := domain.Session{CreatedAt: domain.NewTime(now), Host: host}
	err := db.inTx(ctx, "create session with pairing", func(tx *sql.Tx) error {
		if err := db.insertSession(ctx, tx, keyHash, &s); err != nil {
			return err
		}
		p.SessionID = s.ID
		return db.insertPairing(ctx, tx, p)
	})
	if err != nil {
		return domain.Session{}, err
	}
	return s, nil
}

func (db *DB) insertSession(ctx context.Context, tx *sql.Tx, keyHash []byte, s *domain.Session) error {
	return tx.QueryRowContext(ctx, db.q(`INSERT INTO sessions (key_hash, host, created_at) VALUES (?, ?, ?) RETURNING id`),
		keyHash, s.Host, s.CreatedAt.Millis()).Scan(&s.ID)
}

func (db *DB) insertPairing(ctx context.Context, tx *sql.Tx, p domain.Pairing) error {
	_, err := tx.ExecContext(ctx, db.q(`INSERT INTO pairings (code_hash, session_id, created_at, expires_at, replace_others) VALUES (?, ?, ?, ?, ?)`),
		p.CodeHash, p.SessionID, p.CreatedAt.Millis(), p.ExpiresAt.Millis(), p.Replace)
	return err
}

// SessionByKey finds the session whose key hashes to keyHash.
func (db *DB) SessionByKey(ctx context.Context, keyHash []byte) (domain.Session, error) {
	return db.session(ctx, "session by key", `SELECT id, host, created_at FROM sessions WHERE key_hash = ?`, keyHash)
}

// Session reads a session by its id.
func (db *DB) Session(ctx context.Context, id int64) (domain.Session, error) {
	return db.session(ctx, "session", `SELECT id, host, created_at FROM sessions WHERE id = ?`, id)
}

func (db *DB) session(ctx context.Context, op, query string, arg any) (domain.Session, error) {
	var s domain.Session
	var created int64
	err := db.read.QueryRowContext(ctx, db.q(query), arg).Scan(&s.ID, &s.Host, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return s, domain.ErrNotFound
	}
	s.CreatedAt = domain.TimeFromMillis(created)
	return s, db.wrap(op, err)
}

// SessionStatus reads what GET /api/v1/session answers.
func (db *DB) SessionStatus(ctx context.Context, id int64) (domain.SessionStatus, error) {
	var st domain.SessionStatus
	var last sql.NullInt64
	err := db.read.QueryRowContext(ctx, db.q(`SELECT event_count, last_event_at FROM sessions WHERE id = ?`), id).Scan(&st.EventCount, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return st, domain.ErrNotFound
	}
	if err != nil {
		return st, db.wrap("session status", err)
	}
	st.LastEventAt = timeOrZero(last)
	rows, err := db.read.QueryContext(ctx, db.q(deviceSelect+` WHERE session_id = ? ORDER BY paired_at, id`), id)
	if err != nil {
		return st, db.wrap("session status: devices", err)
	}
	defer rows.Close()
	st.Devices = []domain.Device{}
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return st, db.wrap("session status: devices", err)
		}
		st.Devices = append(st.Devices, d)
	}
	st.Paired = len(st.Devices) > 0
	return st, db.wrap("session status: devices", rows.Err())
}

// CreatePairing stores a pairing under the hash of its code.
func (db *DB) CreatePairing(ctx context.Context, p domain.Pairing) error {
	return db.inTx(ctx, "create pairing", func(tx *sql.Tx) error { return db.insertPairing(ctx, tx, p) })
}

// Pairing reads a pairing; reading never consumes it.
func (db *DB) Pairing(ctx context.Context, codeHash []byte) (domain.Pairing, error) {
	p, err := scanPairing(db.read.QueryRowContext(ctx, db.q(pairingSelect), codeHash))
	if errors.Is(err, sql.ErrNoRows) {
		return p, domain.ErrNotFound
	}
	p.CodeHash = codeHash
	return p, db.wrap("pairing", err)
}

const pairingSelect = `SELECT session_id, created_at, expires_at, replace_others, used_at FROM pairings WHERE code_hash = ?`

func scanPairing(row *sql.Row) (domain.Pairing, error) {
	var p domain.Pairing
	var created, expires int64
	var used sql.NullInt64
	err := row.Scan(&p.SessionID, &created, &expires, &p.Replace, &used)
	p.CreatedAt, p.ExpiresAt, p.UsedAt = domain.TimeFromMillis(created), domain.TimeFromMillis(expires), timeOrZero(used)
	return p, err
}

// SetMaxDevicesPerSession caps the paired devices of a session
// (store.DeviceLimiter).
func (db *DB) SetMaxDevicesPerSession(max int) { db.maxDevices.Store(int64(max)) }

// ClaimPairing consumes the pairing and adds the device. Past the session's
// device limit the claim is refused and the code stays usable, so that it
// can be claimed once a device is unpaired; a replacing pairing always
// passes, since it unpairs the others.
func (db *DB) ClaimPairing(ctx context.Context, codeHash []byte, d domain.Device, tokenHash []byte, now time.Time) (domain.Device, error) {
	return db.ClaimPairingAgain(ctx, codeHash, d, tokenHash, "", now)
}

// ClaimPairingAgain is ClaimPairing by a phone that was device previous
// (its cookie's). When that device is of the pairing's session, the phone
// is pairing again: its old record goes in the same transaction, so it
// neither counts against the device limit nor stays listed twice, and a
// refused claim leaves it standing.
func (db *DB) ClaimPairingAgain(ctx context.Context, codeHash []byte, d domain.Device, tokenHash []byte, previous string, now time.Time) (domain.Device, error) {
	err := db.inTx(ctx, "claim pairing", func(tx *sql.Tx) error {
		p, err := scanPairing(tx.QueryRowContext(ctx, db.q(pairingSelect+db.d.lockRow), codeHash))
		if errors.Is(err, sql.ErrNoRows) {
			return domain.ErrNotFound
		}
		if err != nil {
			return err
		}
		if !p.Usable(now) {
			return domain.ErrGone
		}
		again := false
		if previous != "" && !p.Replace {
			res, err := tx.ExecContext(ctx, db.q(`DELETE FROM devices WHERE id = ? AND session_id = ?`), previous, p.SessionID)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			again = n > 0
		}
		if limit := db.maxDevices.Load(); limit > 0 && !p.Replace {
			if err := db.checkDeviceLimit(ctx, tx, p.SessionID, limit); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, db.q(`UPDATE pairings SET used_at = ? WHERE code_hash = ?`), now.UnixMilli(), codeHash); err != nil {
			return err
		}
		if p.Replace {
			if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM devices WHERE session_id = ?`), p.SessionID); err != nil {
				return err
			}
		}
		d.SessionID = p.SessionID
		d.PairedAt = domain.NewTime(now)
		d.LastSeenAt = d.PairedAt
		d.Notify = domain.NotifyFailures
		d.Muted = []string{}
		if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO devices (id, session_id, token_hash, name, paired_at, last_seen_at) VALUES (?, ?, ?, ?, ?, ?)`),
			d.ID, d.SessionID, tokenHash, d.Name, d.PairedAt.Millis(), d.LastSeenAt.Millis()); err != nil {
			return err
		}
		if db.d.notify != nil {
			notices := []domain.Notice{{SessionID: p.SessionID, Kind: domain.NoticePaired}}
			if p.Replace || again { // the devices deleted above lose their streams
				notices = append(notices, domain.Notice{SessionID: p.SessionID, Kind: domain.NoticeRevoked})
			}
			return db.d.notify(ctx, tx, notices...)
		}
		return nil
	})
	return d, err
}

// checkDeviceLimit refuses one more device past limit. It counts under
// the session's row lock (PostgreSQL; on SQLite the one writer): claims
// of two codes of one session, on two instances, never both pass.
func (db *DB) checkDeviceLimit(ctx context.Context, tx *sql.Tx, sessionID, limit int64) error {
	var n int64
	if err := tx.QueryRowContext(ctx, db.q(`SELECT id FROM sessions WHERE id = ?`+db.d.lockRow), sessionID).Scan(&n); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return domain.ErrNotFound
		}
		return err
	}
	if err := tx.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM devices WHERE session_id = ?`), sessionID).Scan(&n); err != nil {
		return err
	}
	if n < limit {
		return nil
	}
	return domain.Errorf(domain.ETooManyDevices, "this session has %d paired devices, the most this server allows (--max-devices-per-session); "+
		"nothing was paired and the code still works: unpair a device you no longer use (in the app on it: Settings, Unpair this phone) and claim again, "+
		"or pair with a code that replaces the others (`observable pair --replace`)", n)
}

// PrunePairings deletes pairings that expired before cutoff.
func (db *DB) PrunePairings(ctx context.Context, cutoff time.Time) (int64, error) {
	var n int64
	err := db.inTx(ctx, "prune pairings", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, db.q(`DELETE FROM pairings WHERE expires_at < ?`), cutoff.UnixMilli())
		if err == nil {
			n, err = res.RowsAffected()
		}
		return err
	})
	return n, err
}
