package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/store"
)

// ErrListenUnsupported is what Listen returns on a store that no other
// instance shares (SQLite): there is nothing to listen to.
var ErrListenUnsupported = errors.New("listen: only the PostgreSQL store shares notices between instances")

var _ store.Listener = (*DB)(nil)

// Timings of the listener; variables so that tests can shorten them.
var (
	// listenPingEvery is how long the listener waits quietly before it
	// checks its connection: a dead peer behind a silent network (no reset)
	// is found within listenPingEvery + listenPingTimeout.
	listenPingEvery   = 15 * time.Second
	listenPingTimeout = 5 * time.Second
	listenBackoffMin  = 100 * time.Millisecond
	listenBackoffMax  = 5 * time.Second
)

// Listen calls fn with every notice any instance on this database commits,
// this one included, until ctx ends; then it returns nil. It holds one
// connection of its own. Each time its LISTEN becomes active (at the start
// and after every reconnection) it first calls fn with a NoticeResync,
// because notices sent while it was not listening are lost. fn runs on the
// listener's goroutine: it must not block.
func (db *DB) Listen(ctx context.Context, fn func(domain.Notice)) error {
	if db.d.name != postgresDialect.name {
		return ErrListenUnsupported
	}
	var cfg *pgx.ConnConfig
	wait := listenBackoffMin
	var outage time.Time
	for {
		conn, err := db.listenConn(ctx, &cfg)
		if err == nil {
			if !outage.IsZero() {
				slog.Info("postgres listener: listening again", "down_for", time.Since(outage).Round(time.Millisecond))
				outage = time.Time{}
			}
			wait = listenBackoffMin
			fn(domain.Notice{Kind: domain.NoticeResync})
			err = receive(ctx, conn, fn)
			closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = conn.Close(closeCtx)
			cancel()
		}
		if ctx.Err() != nil {
			return nil
		}
		if outage.IsZero() {
			outage = time.Now()
			slog.Warn("postgres listener: not listening, retrying; live updates from other instances wait until then", "error", err)
		}
		// Jitter keeps instances that lost the server together from
		// reconnecting in lockstep.
		t := time.NewTimer(time.Duration(float64(wait) * (0.8 + 0.4*rand.Float64())))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		wait = min(wait*2, listenBackoffMax)
	}
}

// listenConn opens the listener's connection with the pool's settings,
// which it reads from a pooled connection the first time.
func (db *DB) listenConn(ctx context.Context, cfg **pgx.ConnConfig) (*pgx.Conn, error) {
	if *cfg == nil {
		c, err := db.connConfig(ctx)
		if err != nil {
			return nil, err
		}
		*cfg = c
	}
	conn, err := pgx.ConnectConfig(ctx, *cfg)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+noticeChannel); err != nil {
		_ = conn.Close(ctx)
		return nil, fmt.Errorf("listen: %w", err)
	}
	return conn, nil
}

// connConfig reads the connection settings (with the password) from the
// pool, so that nothing but the pool has to keep them.
func (db *DB) connConfig(ctx context.Context) (*pgx.ConnConfig, error) {
	conn, err := db.write.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("read connection settings: %w", err)
	}
	defer conn.Close()
	var cfg *pgx.ConnConfig
	err = conn.Raw(func(driverConn any) error {
		c, ok := driverConn.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("read connection settings: the driver's connection is a %T, not pgx's", driverConn)
		}
		cfg = c.Conn().Config()
		// pgx stored the pooled connection's own notification buffer in
		// its config: without this, notices would be queued there.
		cfg.OnNotification = nil
		// Named apart from the pool in pg_stat_activity.
		cfg.RuntimeParams["application_name"] += " listener"
		return nil
	})
	return cfg, err
}

// receive delivers notices until the connection fails or ctx ends.
func receive(ctx context.Context, conn *pgx.Conn, fn func(domain.Notice)) error {
	for {
		wctx, cancel := context.WithTimeout(ctx, listenPingEvery)
		n, err := conn.WaitForNotification(wctx)
		quiet := errors.Is(wctx.Err(), context.DeadlineExceeded)
		cancel()
		switch {
		case err == nil:
			notice, ok := decodeNotice(n.Payload)
			if !ok {
				slog.Warn("postgres listener: ignoring a notice it cannot read", "payload", n.Payload)
				continue
			}
			fn(notice)
		case ctx.Err() != nil:
			return ctx.Err()
		case quiet:
			// A timeout leaves a pgx connection usable: prove it answers.
			pctx, cancel := context.WithTimeout(ctx, listenPingTimeout)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return fmt.Errorf("ping after %v without notices: %w", listenPingEvery, err)
			}
		default:
			return fmt.Errorf("wait for notices: %w", err)
		}
	}
}

// encodeNotice writes n as "kind:session:seq": identifiers only, far below
// NOTIFY's 8000-byte payload limit, and readable by `LISTEN observable` in psql.
func encodeNotice(n domain.Notice) string {
	return n.Kind + ":" + strconv.FormatInt(n.SessionID, 10) + ":" + strconv.FormatInt(n.Seq, 10)
}

// decodeNotice reads encodeNotice's form. Kinds it does not know are passed
// on: a newer instance may send them, and listeners ignore what they do not
// handle.
func decodeNotice(payload string) (domain.Notice, bool) {
	kind, rest, ok := strings.Cut(payload, ":")
	if !ok || kind == "" {
		return domain.Notice{}, false
	}
	session, seq, ok := strings.Cut(rest, ":")
	if !ok {
		return domain.Notice{}, false
	}
	sid, err1 := strconv.ParseInt(session, 10, 64)
	n, err2 := strconv.ParseInt(seq, 10, 64)
	if err1 != nil || err2 != nil {
		return domain.Notice{}, false
	}
	return domain.Notice{Kind: kind, SessionID: sid, Seq: n}, true
}
