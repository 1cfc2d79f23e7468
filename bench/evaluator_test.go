package bench

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/jobs"
	"github.com/observable-code/observable/internal/store"
	"github.com/observable-code/observable/internal/store/sqlstore"
)

// BenchmarkEvaluator is the job model's evaluator (internal/jobs) over
// 100,000 jobs on SQLite (synchronous=full), in simulated time: every job
// runs once every 100,000 s with 1 s of grace, their last runs one second
// apart, so that each simulated second exactly one job is missed. One op is
// one second of simulated time: the evaluator's step at that second, which
// finds the due job from the deadline index, opens its incident and queues
// its alert for the session's phone. ns/op over 1e9 is the share of a core
// the evaluator costs; the latency from due to alert is the tick (1 s) plus
// one op.
//
//	go test ./bench -run '^$' -bench Evaluator -benchtime 2000x
func BenchmarkEvaluator(b *testing.B) {
	const n = 100_000
	ctx := context.Background()
	db, err := sqlstore.OpenSQLite(ctx, filepath.Join(b.TempDir(), "eval.db"), sqlstore.SQLiteOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	sess := evaluatorPhone(b, db, t0)
	zero := 0.0
	decl := json.RawMessage(`{"every_s":100000,"grace_s":1}`)
	for from := 0; from < n; from += 5000 {
		events := make([]domain.Event, 0, 5000)
		for i := from; i < from+5000; i++ {
			events = append(events, domain.Event{Name: "job-" + strconv.Itoa(i), Status: "completed", DurationMS: &zero,
				Timestamp: domain.NewTime(t0.Add(time.Duration(i) * time.Second)), Expect: decl})
		}
		if err := db.AppendEvents(ctx, []*store.Append{{SessionID: sess, Events: events, ReceivedAt: t0}}); err != nil {
			b.Fatal(err)
		}
	}
	// Job i is due at t0 + i + 100,000 s, missed one second later.
	first := t0.Add(100_001 * time.Second)
	if b.N > n {
		b.Fatalf("-benchtime %dx is more simulated seconds than there are jobs (%d)", b.N, n)
	}
	now := t0 // the server was up all along: no restart grace
	e := jobs.New(db, jobs.Options{Now: func() time.Time { return now }})
	var alerts int
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		now = first.Add(time.Duration(i)*time.Second + 500*time.Millisecond)
		_, a, err := e.Step(ctx)
		if err != nil {
			b.Fatal(err)
		}
		alerts += a
	}
	b.StopTimer()
	if alerts != b.N {
		b.Fatalf("%d alerts in %d simulated seconds; want one a second", alerts, b.N)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e9*100, "%core")
}

// evaluatorPhone makes a session with a phone subscribed to pushes.
func evaluatorPhone(b *testing.B, db *sqlstore.DB, now time.Time) int64 {
	ctx := context.Background()
	h := func(s string) []byte { x := sha256.Sum256([]byte(s)); return x[:] }
	sess, err := db.CreateSession(ctx, h("key"), "bench", now)
	if err != nil {
		b.Fatal(err)
	}
	p := domain.Pairing{CodeHash: h("code"), SessionID: sess.ID, CreatedAt: domain.NewTime(now), ExpiresAt: domain.NewTime(now.Add(time.Hour))}
	if err := db.CreatePairing(ctx, p); err != nil {
		b.Fatal(err)
	}
	d, err := db.ClaimPairing(ctx, h("code"), domain.Device{ID: "phone", Name: "phone"}, h("token"), now)
	if err != nil {
		b.Fatal(err)
	}
	if err := db.SetPush(ctx, d.ID, &domain.PushSubscription{Endpoint: "https://push.example/" + fmt.Sprint(d.ID), P256dh: "k", Auth: "a"}); err != nil {
		b.Fatal(err)
	}
	return sess.ID
}
