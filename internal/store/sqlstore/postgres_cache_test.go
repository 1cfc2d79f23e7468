package sqlstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/pgtest"
	"github.com/observable-code/observable/internal/store"
)

// The commit in one round trip (pgCommitCached) against another instance
// on the same database, which its cache knows nothing about.

func pgcacheOpen(t *testing.T, url string, conns int) *DB {
	t.Helper()
	db, err := OpenPostgres(context.Background(), url, PostgresOptions{MaxConns: conns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func pgcacheCommit(t *testing.T, db *DB, a *store.Append) {
	t.Helper()
	if err := db.AppendEvents(context.Background(), []*store.Append{a}); err != nil || a.Err != nil {
		t.Fatalf("append: %v, %v", err, a.Err)
	}
}

// pgcacheFallbacks goes on from TestPostgresAppendRoundTrips (46 events of
// "backup", ids e1…e46, in cache): a duplicate id and a job changed by
// another instance each abort the one-round-trip commit, which then
// commits right on the path that reads first; the commit after is one
// round trip again.
func pgcacheFallbacks(t *testing.T, ctx context.Context, db *DB, proxy *pgAppendTurns, session int64, direct string) {
	now := time.Now()
	turns := func(a *store.Append) int64 {
		before := proxy.turns.Load()
		pgcacheCommit(t, db, a)
		return proxy.turns.Load() - before
	}
	stale := db.pg.stale.Load()
	a := &store.Append{SessionID: session, ReceivedAt: now, Events: []domain.Event{
		{ID: "e1", Name: "backup", Status: "ok"}, {ID: "pgcache-new", Name: "backup", Status: "ok"}}}
	n := turns(a)
	if a.Duplicates != 1 || len(a.Stored) != 1 || a.Stored[0].Seq != 47 || a.Stored[0].ID != "pgcache-new" {
		t.Fatalf("a commit with a duplicate: %d duplicates, stored %+v; want 1, and pgcache-new at 47", a.Duplicates, a.Stored)
	}
	if db.pg.stale.Load() != stale+1 {
		t.Errorf("the duplicate did not take the fallback")
	}
	t.Logf("a commit with a duplicate id: %d round trips", n)
	// The session backs off: its next commits read first (a client that
	// retries may retry again), then the cache serves it again.
	var after []int64
	for i := range 6 {
		after = append(after, turns(&store.Append{SessionID: session, ReceivedAt: now,
			Events: []domain.Event{{ID: fmt.Sprintf("pgcache-after-dup-%d", i), Name: "backup", Status: "ok"}}}))
	}
	if after[0] != 2 || after[5] != 1 {
		t.Errorf("the commits after the duplicate took %v round trips, want 2 first and 1 at the end", after)
	}

	// Paused by another instance (PATCH): the model cached is not paused.
	other := pgcacheOpen(t, direct, 2)
	paused := true
	if _, err := other.UpdateJob(ctx, session, "backup", domain.JobPatch{Paused: &paused}, now); err != nil {
		t.Fatal(err)
	}
	// A run that ends well (a failure would open an incident on the stale
	// model, which reads first anyway): the cached model would make it up.
	n = turns(&store.Append{SessionID: session, ReceivedAt: now, Events: []domain.Event{{ID: "pgcache-49", Name: "backup", Status: "ok"}}})
	job, err := db.Job(ctx, session, "backup")
	if err != nil || !job.Paused || job.State != domain.StatePaused || job.Runs != 54 || job.Failures != 0 {
		t.Fatalf("after a pause by another instance and a run: %+v (%v), want paused, 54 runs", job, err)
	}
	t.Logf("a commit after another instance changed the job: %d round trips", n)
	if db.pg.stale.Load() != stale+2 {
		t.Errorf("the job changed behind the cache did not take the fallback")
	}
	paused = false
	if _, err := other.UpdateJob(ctx, session, "backup", domain.JobPatch{Paused: &paused}, now); err != nil {
		t.Fatal(err)
	}
	pgcacheCommit(t, db, &store.Append{SessionID: session, ReceivedAt: now, Events: []domain.Event{{ID: "pgcache-50", Name: "backup", Status: "failed"}}})
	if job, err = db.Job(ctx, session, "backup"); err != nil || job.Paused || job.State != domain.StateFailing {
		t.Fatalf("after a resume by another instance and a failed run: %+v (%v), want failing", job, err)
	}
	// Another instance's events: the cached last seq is stale.
	pgcacheCommit(t, other, &store.Append{SessionID: session, ReceivedAt: now, Events: []domain.Event{{ID: "pgcache-51", Name: "backup", Status: "ok"}}})
	a = &store.Append{SessionID: session, ReceivedAt: now, Events: []domain.Event{{ID: "pgcache-52", Name: "backup", Status: "ok"}}}
	pgcacheCommit(t, db, a)
	if len(a.Stored) != 1 || a.Stored[0].Seq != 57 {
		t.Fatalf("after another instance's event: stored %+v, want seq 57", a.Stored)
	}
}

// TestPGCacheTwoInstances: two instances commit, interleaved, to the same
// sessions and jobs, duplicates mixed in; every event is stored once, with
// gap-free seqs, the jobs count every run, and no caller sees an error.
func TestPGCacheTwoInstances(t *testing.T) {
	url := pgtest.NewDatabase(t)
	ctx := context.Background()
	dbs := []*DB{pgcacheOpen(t, url, 4), pgcacheOpen(t, url, 4)}
	for _, db := range dbs {
		db.pg.step = 0 // try the cache always: the contention is the test
	}
	now := time.Now()
	var sessions []int64
	// Sessions 0 and 2 are written mostly by instance 0, 1 and 3 by
	// instance 1, 4 and 5 by both alike: the cache serves many commits,
	// and many find it stale.
	for i := range 6 {
		s, err := dbs[0].CreateSession(ctx, []byte(fmt.Sprintf("pgcache-two-%d", i)), "host", now)
		if err != nil {
			t.Fatal(err)
		}
		sessions = append(sessions, s.ID)
	}
	names := []string{"a", "b", "c", "d"}
	var mu sync.Mutex
	sent := make(map[int64][]string)            // every id sent, by session (repeats included)
	distinct := make(map[int64]map[string]bool) // by session
	for _, s := range sessions {
		distinct[s] = make(map[string]bool)
	}
	var stored, duplicates int
	const workers, commits = 4, 90
	var wg sync.WaitGroup
	for w := range 2 * workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db := dbs[w%2]
			rng := rand.New(rand.NewPCG(uint64(w), 15))
			for i := range commits {
				var batch []*store.Append
				picked := make(map[int]bool)
				for range 1 + rng.IntN(2) {
					s := rng.IntN(len(sessions))
					if rng.IntN(10) < 7 {
						s = w%2 + 2*rng.IntN(2)
					}
					if picked[s] {
						continue
					}
					picked[s] = true
					a := &store.Append{SessionID: sessions[s], ReceivedAt: now.Add(time.Duration(i) * time.Millisecond)}
					mu.Lock()
					for j := range 1 + rng.IntN(6) {
						id := fmt.Sprintf("w%d-%d-%d", w, i, j)
						if old := sent[a.SessionID]; len(old) > 0 && rng.IntN(5) == 0 {
							id = old[rng.IntN(len(old))] // a retry, maybe another instance's
						}
						sent[a.SessionID] = append(sent[a.SessionID], id)
						distinct[a.SessionID][id] = true
						status := domain.StatusCompleted
						switch rng.IntN(7) {
						case 0:
							status = domain.StatusFailed
						case 1:
							status = domain.StatusStarted
						}
						a.Events = append(a.Events, domain.Event{ID: id, Name: names[rng.IntN(len(names))], Status: status})
					}
					mu.Unlock()
					batch = append(batch, a)
				}
				if err := db.AppendEvents(ctx, batch); err != nil {
					t.Errorf("worker %d, commit %d: %v", w, i, err)
					return
				}
				mu.Lock()
				for _, a := range batch {
					if a.Err != nil {
						t.Errorf("worker %d, commit %d: %v", w, i, a.Err)
					}
					stored += len(a.Stored)
					duplicates += a.Duplicates
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	total, unique := 0, 0
	for _, s := range sessions {
		total += len(sent[s])
		unique += len(distinct[s])
		pgcacheCheckSession(t, dbs[0], s, distinct[s])
	}
	if stored != unique || duplicates != total-unique {
		t.Errorf("the callers were told %d stored and %d duplicates; want %d and %d", stored, duplicates, unique, total-unique)
	}
	for i, db := range dbs {
		t.Logf("instance %d: %d commits in one round trip, %d found the cache stale", i, db.pg.oneTrip.Load(), db.pg.stale.Load())
		if db.pg.oneTrip.Load() == 0 || db.pg.stale.Load() == 0 {
			t.Errorf("instance %d never took one of the paths", i)
		}
	}
	t.Logf("%d events sent, %d stored", total, unique)
}

// pgcacheCheckSession checks a session's events against the ids sent to
// it, and its jobs and row against its events.
func pgcacheCheckSession(t *testing.T, db *DB, session int64, ids map[string]bool) {
	t.Helper()
	ctx := context.Background()
	rows, err := db.read.QueryContext(ctx, `SELECT seq, client_id, name, status FROM events WHERE session_id = $1 ORDER BY seq`, session)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	type summary struct {
		runs, failures, last int64
		status               string
	}
	want := make(map[string]*summary)
	seen := make(map[string]bool)
	var n int64
	for rows.Next() {
		var seq int64
		var id, name, status string
		if err := rows.Scan(&seq, &id, &name, &status); err != nil {
			t.Fatal(err)
		}
		n++
		if seq != n {
			t.Fatalf("session %d: seq %d where %d was due", session, seq, n)
		}
		if seen[id] || !ids[id] {
			t.Fatalf("session %d: id %q stored twice, or never sent", session, id)
		}
		seen[id] = true
		j := want[name]
		if j == nil {
			j = &summary{}
			want[name] = j
		}
		if domain.IsRun(status) {
			j.runs++
		}
		if status == domain.StatusFailed {
			j.failures++
		}
		j.last, j.status = seq, status
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(seen) != len(ids) {
		t.Errorf("session %d: %d ids stored of %d sent", session, len(seen), len(ids))
	}
	var lastSeq, count int64
	if err := db.read.QueryRowContext(ctx, `SELECT last_seq, event_count FROM sessions WHERE id = $1`, session).Scan(&lastSeq, &count); err != nil {
		t.Fatal(err)
	}
	if lastSeq != n || count != n {
		t.Errorf("session %d: last_seq %d, event_count %d; want %d", session, lastSeq, count, n)
	}
	jobs, err := db.Jobs(ctx, session)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != len(want) {
		t.Errorf("session %d: %d jobs, want %d", session, len(jobs), len(want))
	}
	for _, j := range jobs {
		w := want[j.Name]
		if w == nil || j.Runs != w.runs || j.Failures != w.failures {
			t.Errorf("session %d, job %s: %d runs, %d failures; want %+v", session, j.Name, j.Runs, j.Failures, w)
		}
	}
	var badLast int
	if err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM jobs j WHERE j.session_id = $1 AND NOT EXISTS (SELECT 1 FROM
		(SELECT seq, status FROM events e WHERE e.session_id = j.session_id AND e.name = j.name ORDER BY seq DESC LIMIT 1) AS e
		WHERE e.seq = j.last_seq AND e.status = j.last_status)`, session).Scan(&badLast); err != nil {
		t.Fatal(err)
	}
	if badLast != 0 {
		t.Errorf("session %d: %d jobs whose last event is not their newest", session, badLast)
	}
}

// TestPGCacheTargetsFromOtherInstance: a phone paired with push, and a
// channel added, through another instance between two commits of the
// first: the second commit's alert is queued to them.
func TestPGCacheTargetsFromOtherInstance(t *testing.T) {
	url := pgtest.NewDatabase(t)
	ctx := context.Background()
	db, other := pgcacheOpen(t, url, 2), pgcacheOpen(t, url, 2)
	now := time.Now()
	sess, err := db.CreateSession(ctx, []byte("pgcache-targets"), "host", now)
	if err != nil {
		t.Fatal(err)
	}
	commit := func(id, status string) {
		pgcacheCommit(t, db, &store.Append{SessionID: sess.ID, ReceivedAt: now, Events: []domain.Event{{ID: id, Name: "backup", Status: status}}})
	}
	for i := range 3 {
		commit(fmt.Sprintf("warm-%d", i), domain.StatusCompleted)
	}
	if db.pg.oneTrip.Load() == 0 {
		t.Fatal("the cache never served a commit")
	}
	queued := func(table, column, id string) int {
		var n int
		if err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM `+table+` WHERE `+column+` = $1`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	p := domain.Pairing{CodeHash: []byte("pgcache-code"), SessionID: sess.ID, CreatedAt: domain.NewTime(now), ExpiresAt: domain.NewTime(now.Add(time.Hour))}
	if err := other.CreatePairing(ctx, p); err != nil {
		t.Fatal(err)
	}
	dev, err := other.ClaimPairing(ctx, p.CodeHash, domain.Device{ID: "pgcache-phone", Name: "phone"}, []byte("pgcache-token"), now)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.SetPush(ctx, dev.ID, &domain.PushSubscription{Endpoint: "https://push.example/x", P256dh: "key", Auth: "auth"}); err != nil {
		t.Fatal(err)
	}
	// Every run alerts: no incident opens (which would read first anyway),
	// so it is the targets' check that must catch the change.
	if err := other.UpdateDevice(ctx, dev.ID, domain.DeviceSettings{Name: "phone", Notify: domain.NotifyAll, Muted: []string{"other \"job\""}}); err != nil {
		t.Fatal(err)
	}
	stale := db.pg.stale.Load()
	commit("after-pairing", domain.StatusCompleted)
	if n := queued("push_jobs", "device_id", dev.ID); n != 1 {
		t.Fatalf("the run after a pairing through another instance queued %d pushes, want 1", n)
	}
	if db.pg.stale.Load() != stale+1 {
		t.Errorf("the targets' change did not take the fallback")
	}
	one := db.pg.oneTrip.Load()
	commit("again", domain.StatusCompleted)
	if n := queued("push_jobs", "device_id", dev.ID); n != 2 || db.pg.oneTrip.Load() != one+1 {
		t.Fatalf("the next run queued %d pushes in all (want 2), in one round trip: %v", n, db.pg.oneTrip.Load() == one+1)
	}
	ch := domain.Channel{ID: "pgcache-hook", SessionID: sess.ID, Type: domain.ChannelWebhook, Notify: domain.NotifyAll,
		Verified: true, Sealed: []byte("sealed")}
	if err := other.CreateChannel(ctx, ch, nil, now); err != nil {
		t.Fatal(err)
	}
	commit("after-channel", domain.StatusCompleted)
	if n := queued("channel_jobs", "channel_id", ch.ID); n != 1 {
		t.Fatalf("the run after a channel added through another instance queued %d alerts, want 1", n)
	}
	if n := queued("push_jobs", "device_id", dev.ID); n != 3 || db.pg.stale.Load() != stale+2 {
		t.Fatalf("%d pushes queued in all (want 3); %d stale commits, want %d", n, db.pg.stale.Load(), stale+2)
	}
	// The fingerprint the commit computes of what it read is the one SQL
	// computes: with a phone and a channel the cache serves again.
	one = db.pg.oneTrip.Load()
	commit("with-both", domain.StatusCompleted)
	if db.pg.oneTrip.Load() != one+1 || queued("channel_jobs", "channel_id", ch.ID) != 2 {
		t.Fatalf("the run after: not in one round trip (%v), or not alerted", db.pg.oneTrip.Load() == one+1)
	}
	t.Logf("%d commits in one round trip, %d found the cache stale", db.pg.oneTrip.Load(), db.pg.stale.Load())
}

// BenchmarkPGCacheCommit: group commits as the server makes them under
// bench/scaleout's single-event load (4 writers, each commit one failed
// event of one job for each of 6 of 32 sessions), served by the cache or
// read first (off).
func BenchmarkPGCacheCommit(b *testing.B) {
	for _, off := range []bool{false, true} {
		b.Run(fmt.Sprintf("read-first=%v", off), func(b *testing.B) {
			db, err := OpenPostgres(context.Background(), pgtest.NewDatabase(b), PostgresOptions{MaxConns: 8})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			db.pg.off = off
			ctx := context.Background()
			var sessions []int64
			for i := range 32 {
				s, err := db.CreateSession(ctx, []byte(fmt.Sprintf("pgcache-bench-%d", i)), "host", time.Now())
				if err != nil {
					b.Fatal(err)
				}
				sessions = append(sessions, s.ID)
			}
			var mu sync.Mutex
			n := 0
			b.SetParallelism(2) // 2 × GOMAXPROCS (2) = 4 writers
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
				for pb.Next() {
					var batch []*store.Append
					for _, s := range rng.Perm(len(sessions))[:6] {
						mu.Lock()
						n++
						id := fmt.Sprintf("b%d", n)
						mu.Unlock()
						batch = append(batch, &store.Append{SessionID: sessions[s], ReceivedAt: time.Now(),
							Events: []domain.Event{{ID: id, Name: "train_model_0", Status: domain.StatusFailed}}})
					}
					if err := db.AppendEvents(ctx, batch); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(db.pg.oneTrip.Load())/float64(b.N), "cached/op")
			b.ReportMetric(float64(db.pg.stale.Load())/float64(b.N), "stale/op")
		})
	}
}
