package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/pgtest"
	"github.com/observable-code/observable/internal/store"
)

// pgAppendTurns is a TCP proxy in front of PostgreSQL that counts round
// trips: each time the client sends after the server has answered.
type pgAppendTurns struct {
	ln    net.Listener
	turns atomic.Int64
}

func pgAppendProxy(t *testing.T, target string) *pgAppendTurns {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &pgAppendTurns{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			var mu sync.Mutex
			answered := true // the next send is a new round trip
			pipe := func(dst, src net.Conn, fromClient bool) {
				defer dst.Close()
				buf := make([]byte, 64<<10)
				for {
					n, err := src.Read(buf)
					if n > 0 {
						mu.Lock()
						if fromClient && answered {
							p.turns.Add(1)
						}
						answered = !fromClient
						mu.Unlock()
						if _, werr := dst.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						return // io.EOF or a closed connection
					}
				}
			}
			go pipe(s, c, true)
			go pipe(c, s, false)
		}
	}()
	return p
}

// TestPostgresAppendRoundTrips counts the round trips of a commit of one
// event, on the pipelined path and, for the record, on the statement-by-
// statement one (appendBatch, which SQLite uses).
func TestPostgresAppendRoundTrips(t *testing.T) {
	u, err := url.Parse(pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	direct := u.String() // for a second instance, behind the first's cache
	proxy := pgAppendProxy(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	ctx := context.Background()
	db, err := OpenPostgres(ctx, u.String(), PostgresOptions{MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now()
	sess, err := db.CreateSession(ctx, []byte("perf15b-round-trips"), "host", now)
	if err != nil {
		t.Fatal(err)
	}
	seq := 0
	appendOne := func(pipelined bool) {
		seq++
		a := &store.Append{SessionID: sess.ID, ReceivedAt: now, Events: []domain.Event{
			{ID: fmt.Sprintf("e%d", seq), Name: "backup", Status: "ok"}}}
		if pipelined {
			err = db.AppendEvents(ctx, []*store.Append{a})
		} else {
			var saved savedModels
			err = db.inTxKeepModels(ctx, "append events", func(tx *sql.Tx) error { return db.appendBatch(ctx, tx, []*store.Append{a}, &saved) })
		}
		if err != nil || a.Err != nil || len(a.Stored) != 1 {
			t.Fatalf("append: %v, %v, %d stored", err, a.Err, len(a.Stored))
		}
	}
	measure := func(pipelined bool) float64 {
		for range 3 { // the statements are prepared on first use
			appendOne(pipelined)
		}
		const n = 20
		before := proxy.turns.Load()
		for range n {
			appendOne(pipelined)
		}
		return float64(proxy.turns.Load()-before) / n
	}
	// database/sql pings a connection idle for more than a second before
	// reusing it: a round trip that is not the commit's. The loops above
	// run well within a second between commits.
	old := measure(false)
	now2 := measure(true)
	t.Logf("round trips per single-event commit: %.1f statement by statement, %.1f pipelined", old, now2)
	if now2 != 1 {
		t.Errorf("a single-event commit took %.1f round trips, want 1 (BEGIN, checks, writes and COMMIT in one pipeline)", now2)
	}
	events, err := db.ListEvents(ctx, sess.ID, store.EventQuery{Limit: 100})
	if err != nil || len(events) != 46 {
		t.Fatalf("stored %d events (%v), want 46", len(events), err)
	}
	pgcacheFallbacks(t, ctx, db, proxy, sess.ID, direct)
}

// TestPostgresAppendRecoversAfterError: a commit that fails in its read
// round trip (no such session) or in its write round trip (a NUL byte in
// text, which PostgreSQL refuses) is rolled back, and the one connection of the
// pool commits the next group as if nothing happened.
func TestPostgresAppendRecoversAfterError(t *testing.T) {
	ctx := context.Background()
	db, err := OpenPostgres(ctx, pgtest.NewDatabase(t), PostgresOptions{MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sess, err := db.CreateSession(ctx, []byte("perf15b-recovers"), "host", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	commit := func(session int64, metadata string) error {
		return db.AppendEvents(ctx, []*store.Append{{SessionID: session, ReceivedAt: time.Now(),
			Events: []domain.Event{{Name: "backup", Status: "ok", Metadata: json.RawMessage(metadata)}}}})
	}
	if err := commit(sess.ID+1000, `{}`); err == nil {
		t.Fatal("a commit to a session that does not exist succeeded")
	}
	// Metadata is read by nothing in the first round trip: the second fails.
	err = commit(sess.ID, "{\"a\":\"\x00\"}")
	if err == nil || !strings.Contains(err.Error(), "insert events") {
		t.Fatalf("a commit of metadata with a NUL: %v, want an error of the events' insert", err)
	}
	if err := commit(sess.ID, `{}`); err != nil {
		t.Fatalf("the commit after the failed ones: %v", err)
	}
	events, err := db.ListEvents(ctx, sess.ID, store.EventQuery{Limit: 10})
	if err != nil || len(events) != 1 || events[0].Seq != 1 || events[0].Name != "backup" {
		t.Fatalf("stored %+v (%v), want the one event at seq 1", events, err)
	}
}
