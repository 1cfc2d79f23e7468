package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/pgtest"
	"github.com/observable-code/observable/internal/store"
	"github.com/observable-code/observable/internal/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func openTestPostgres(t testing.TB, url string) *DB {
	t.Helper()
	db, err := OpenPostgres(context.Background(), url, PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestPostgresConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTestPostgres(t, pgtest.NewDatabase(t)) })
}

func TestPostgresMigrationsConcurrentAndIdempotent(t *testing.T) {
	url := pgtest.NewDatabase(t)
	const instances = 6
	var wg sync.WaitGroup
	errs := make([]error, instances)
	for i := range instances {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, err := OpenPostgres(context.Background(), url, PostgresOptions{MaxConns: 2})
			if err == nil {
				err = db.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("instance %d of %d opening a fresh database together: %v", i, instances, err)
		}
	}
	db := openTestPostgres(t, url) // and once more, on a migrated database
	var rows, distinct, newest int
	if err := db.read.QueryRow(`SELECT count(*), count(DISTINCT version), max(version) FROM schema_migrations`).Scan(&rows, &distinct, &newest); err != nil {
		t.Fatal(err)
	}
	if want := SchemaVersion("postgres"); rows != want || distinct != want || newest != want {
		t.Fatalf("schema_migrations holds %d rows (%d versions, newest %d); want each of the %d migrations once", rows, distinct, newest, want)
	}
}

func TestPostgresRefusesNewerSchema(t *testing.T) {
	url := pgtest.NewDatabase(t)
	db := openTestPostgres(t, url)
	if _, err := db.write.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)`); err != nil {
		t.Fatal(err)
	}
	_, err := OpenPostgres(context.Background(), url, PostgresOptions{})
	if err == nil || !strings.Contains(err.Error(), "schema version 999") || errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("opening a newer database: %v; want a refusal naming version 999, not an outage", err)
	}
}

func TestPostgresOpenErrorsHideThePassword(t *testing.T) {
	const pw = "Sup3r-s3cret_pw"
	closed := closedPort(t)
	cases := []struct {
		name, url   string
		unavailable bool
	}{
		{"refused URL", fmt.Sprintf("postgres://observer:%s@127.0.0.1:%d/obs?sslmode=disable", pw, closed), true},
		{"refused key=value", fmt.Sprintf("host=127.0.0.1 port=%d user=observer password=%s dbname=obs sslmode=disable", closed, pw), true},
		{"bad port", "postgres://observer:" + pw + "@127.0.0.1:notaport/obs", false},
		{"bad option", "postgres://observer:" + pw + "@127.0.0.1/obs?sslmode=sometimes", false},
	}
	for _, c := range cases {
		_, err := OpenPostgres(context.Background(), c.url, PostgresOptions{})
		if err == nil {
			t.Fatalf("%s: opened %s", c.name, c.url)
		}
		if strings.Contains(err.Error(), pw) {
			t.Errorf("%s: the error shows the password: %v", c.name, err)
		}
		if errors.Is(err, store.ErrUnavailable) != c.unavailable {
			t.Errorf("%s: unavailable = %v, want %v: %v", c.name, !c.unavailable, c.unavailable, err)
		}
	}
}

func TestPostgresUnavailableClassification(t *testing.T) {
	db := openTestPostgres(t, pgtest.NewDatabase(t))
	_, syntaxErr := db.write.Exec(`SELEKT 1`)
	_, err := db.CreateSession(context.Background(), []byte("same"), "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, uniqueErr := db.CreateSession(context.Background(), []byte("same"), "", time.Now())
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"crash shutdown", &pgconn.PgError{Code: "57P02"}, true},
		{"starting up", &pgconn.PgError{Code: "57P03"}, true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"too many clients", &pgconn.PgError{Code: "53300"}, true},
		{"connection cut", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{"no answer in time", fmt.Errorf("query: %w", context.DeadlineExceeded), true},
		{"client gone", context.Canceled, false},
		{"syntax error from the server", syntaxErr, false},
		{"unique violation from the server", uniqueErr, false},
		{"deadlock", &pgconn.PgError{Code: "40P01"}, false},
		{"not found", domain.ErrNotFound, false},
	}
	for _, c := range cases {
		if c.err == nil {
			t.Fatalf("%s: the server accepted what it should refuse", c.name)
		}
		if got := postgresUnavailable(c.err); got != c.want {
			t.Errorf("%s (%v): unavailable = %v, want %v", c.name, c.err, got, c.want)
		}
	}
	if errors.Is(uniqueErr, store.ErrUnavailable) {
		t.Errorf("a duplicate key was reported as an outage: %v", uniqueErr)
	}
}

func TestNoticeEncoding(t *testing.T) {
	for _, n := range []domain.Notice{
		{Kind: domain.NoticeEvents, SessionID: 42, Seq: 1 << 40},
		{Kind: domain.NoticePaired, SessionID: 7},
		{Kind: "future_kind", SessionID: 1, Seq: 2},
	} {
		got, ok := decodeNotice(encodeNotice(n))
		if !ok || got != n {
			t.Errorf("round trip of %+v = %+v, %v", n, got, ok)
		}
	}
	for _, bad := range []string{"", "events", "events:1", ":1:2", "events:x:1", "events:1:y", "events:1:2:3"} {
		if n, ok := decodeNotice(bad); ok {
			t.Errorf("decodeNotice(%q) = %+v; want it refused", bad, n)
		}
	}
}

func TestSQLiteHasNoListener(t *testing.T) {
	if err := openTestSQLite(t).Listen(context.Background(), func(domain.Notice) {}); !errors.Is(err, ErrListenUnsupported) {
		t.Fatalf("Listen on SQLite = %v, want ErrListenUnsupported", err)
	}
}

// listen runs db.Listen until the test ends and returns what it delivers.
func listen(t testing.TB, db *DB) <-chan domain.Notice {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan domain.Notice, 100)
	done := make(chan error, 1)
	go func() { done <- db.Listen(ctx, func(n domain.Notice) { ch <- n }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Listen returned %v when its context ended; want nil", err)
		}
	})
	return ch
}

func expectNotice(t testing.TB, ch <-chan domain.Notice, want domain.Notice, within time.Duration) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Fatalf("notice %+v, want %+v", got, want)
		}
	case <-time.After(within):
		t.Fatalf("no notice within %v; want %+v", within, want)
	}
}

func expectQuiet(t *testing.T, ch <-chan domain.Notice, d time.Duration) {
	t.Helper()
	select {
	case got := <-ch:
		t.Fatalf("unexpected notice %+v", got)
	case <-time.After(d):
	}
}

func appendTo(ctx context.Context, db *DB, sessionID int64, n int) error {
	a := &store.Append{SessionID: sessionID, ReceivedAt: time.Now()}
	for range n {
		a.Events = append(a.Events, domain.Event{Name: "job", Status: domain.StatusCompleted})
	}
	return db.AppendEvents(ctx, []*store.Append{a})
}

func TestPostgresListen(t *testing.T) {
	saved := listenPingEvery
	listenPingEvery = 150 * time.Millisecond // exercise the quiet-connection check
	t.Cleanup(func() { listenPingEvery = saved })
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	listener, other := openTestPostgres(t, url), openTestPostgres(t, url)
	notices := listen(t, listener)
	expectNotice(t, notices, domain.Notice{Kind: domain.NoticeResync}, 10*time.Second) // listening now

	sess, err := other.CreateSession(ctx, []byte("key"), "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// A transaction that notifies and then fails sends nothing: two events
	// for the session, then an unknown session makes the batch roll back.
	failing := []*store.Append{
		{SessionID: sess.ID, Events: []domain.Event{{Name: "a", Status: "completed"}, {Name: "b", Status: "completed"}}, ReceivedAt: time.Now()},
		{SessionID: 1 << 50, Events: []domain.Event{{Name: "c", Status: "completed"}}, ReceivedAt: time.Now()},
	}
	if err := other.AppendEvents(ctx, failing); err == nil {
		t.Fatal("a batch with an unknown session was committed")
	}
	time.Sleep(400 * time.Millisecond) // quiet for over two ping periods
	if err := appendTo(ctx, other, sess.ID, 1); err != nil {
		t.Fatal(err)
	}
	expectNotice(t, notices, domain.Notice{Kind: domain.NoticeEvents, SessionID: sess.ID, Seq: 1}, 5*time.Second)

	// Commits by the listening store itself come back too.
	if err := appendTo(ctx, listener, sess.ID, 3); err != nil {
		t.Fatal(err)
	}
	expectNotice(t, notices, domain.Notice{Kind: domain.NoticeEvents, SessionID: sess.ID, Seq: 4}, 5*time.Second)

	code := []byte("pairing code")
	p := domain.Pairing{CodeHash: code, SessionID: sess.ID, CreatedAt: domain.NewTime(time.Now()), ExpiresAt: domain.NewTime(time.Now().Add(time.Minute))}
	if err := other.CreatePairing(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, err := other.ClaimPairing(ctx, code, domain.Device{ID: "dev", Name: "phone"}, []byte("token"), time.Now()); err != nil {
		t.Fatal(err)
	}
	expectNotice(t, notices, domain.Notice{Kind: domain.NoticePaired, SessionID: sess.ID}, 5*time.Second)

	// Kill the listener's connection: it reconnects and says it may have missed notices.
	var killed int
	if err := other.read.QueryRow(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = 'observable-server listener'`).Scan(&killed); err != nil || killed != 1 {
		t.Fatalf("terminated %d listening connections (%v), want 1", killed, err)
	}
	expectNotice(t, notices, domain.Notice{Kind: domain.NoticeResync}, 10*time.Second)
	if err := appendTo(ctx, other, sess.ID, 1); err != nil {
		t.Fatal(err)
	}
	expectNotice(t, notices, domain.Notice{Kind: domain.NoticeEvents, SessionID: sess.ID, Seq: 5}, 5*time.Second)
	expectQuiet(t, notices, 300*time.Millisecond)
}

// TestPostgresOutage stops a private server under an open store: calls fail
// as unavailable, and once the server is back the store and its listener
// work again without being reopened.
func TestPostgresOutage(t *testing.T) {
	ctx := context.Background()
	srv, err := pgtest.StartServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	url, err := pgtest.Create(ctx, srv.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	db := openTestPostgres(t, url)
	sess, err := db.CreateSession(ctx, []byte("key"), "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := appendTo(ctx, db, sess.ID, 2); err != nil {
		t.Fatal(err)
	}
	notices := listen(t, db)
	expectNotice(t, notices, domain.Notice{Kind: domain.NoticeResync}, 10*time.Second)

	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	calls := []struct {
		name string
		call func() error
	}{
		{"Ping", func() error { return db.Ping(ctx) }},
		{"AppendEvents", func() error { return appendTo(ctx, db, sess.ID, 1) }},
		{"ListEvents", func() error { _, err := db.ListEvents(ctx, sess.ID, store.EventQuery{Limit: 10}); return err }},
		{"SessionByKey", func() error { _, err := db.SessionByKey(ctx, []byte("key")); return err }},
		{"ClaimPushJobs", func() error { _, err := db.ClaimPushJobs(ctx, time.Now(), time.Minute, 10); return err }},
	}
	for _, c := range calls {
		for i := range 2 { // the first use of a pooled connection and a fresh one
			if err := c.call(); !errors.Is(err, store.ErrUnavailable) {
				t.Errorf("%s #%d with the server stopped: %v; want store.ErrUnavailable", c.name, i+1, err)
			}
		}
	}

	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for db.Ping(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("the store still fails 15 s after the server came back: %v", db.Ping(ctx))
		}
		time.Sleep(50 * time.Millisecond)
	}
	expectNotice(t, notices, domain.Notice{Kind: domain.NoticeResync}, 15*time.Second)
	if err := appendTo(ctx, db, sess.ID, 1); err != nil {
		t.Fatalf("append after the outage: %v", err)
	}
	expectNotice(t, notices, domain.Notice{Kind: domain.NoticeEvents, SessionID: sess.ID, Seq: 3}, 5*time.Second)
	events, err := db.EventsAfter(ctx, sess.ID, 0, 10)
	if err != nil || len(events) != 3 {
		t.Fatalf("after the outage the session holds %d events (%v); want the 2 from before and 1 after", len(events), err)
	}
}

// closedPort returns a local port on which nothing listens.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// BenchmarkPostgresNotifyLatency measures what cross-instance streaming
// costs: from the start of a one-event AppendEvents on one store to its
// notice reaching the listener of another store on the same database.
func BenchmarkPostgresNotifyLatency(b *testing.B) {
	ctx := context.Background()
	url := pgtest.NewDatabase(b)
	writer, reader := openTestPostgres(b, url), openTestPostgres(b, url)
	sess, err := writer.CreateSession(ctx, []byte("key"), "", time.Now())
	if err != nil {
		b.Fatal(err)
	}
	notices := listen(b, reader)
	expectNotice(b, notices, domain.Notice{Kind: domain.NoticeResync}, 10*time.Second)
	latencies := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		if err := appendTo(ctx, writer, sess.ID, 1); err != nil {
			b.Fatal(err)
		}
		expectNotice(b, notices, domain.Notice{Kind: domain.NoticeEvents, SessionID: sess.ID, Seq: int64(i + 1)}, 5*time.Second)
		latencies = append(latencies, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(latencies)
	at := func(p float64) float64 {
		return float64(latencies[min(len(latencies)-1, int(p*float64(len(latencies))))].Microseconds()) / 1000
	}
	b.ReportMetric(at(0.50), "p50_ms")
	b.ReportMetric(at(0.99), "p99_ms")
	b.ReportMetric(at(1), "max_ms")
}
