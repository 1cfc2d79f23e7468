package main

// Several server processes on one PostgreSQL database behave as one server
// (issue 6): streams, long polls, sessions, devices and the push queue are
// shared, instances starting together migrate in turn, and an outage of
// PostgreSQL costs 503s, never an acknowledged event.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/observable-code/observable/internal/pgtest"
	"github.com/observable-code/observable/internal/store/sqlstore"
)

// TestScaleOutStreamsAcrossInstances: events posted to A reach streams on
// B, in order and once; a stream resumes on the other instance; a long
// poll on A wakes when the code is claimed on B.
func TestScaleOutStreamsAcrossInstances(t *testing.T) {
	a, b := twoInstances(t, pgtest.NewDatabase(t))

	t.Run("A to B latency, in order, once", func(t *testing.T) {
		key, _ := newSession(t, a)
		s := openStream(t, b, key, -1)
		const warmup, n = 20, 200
		took := make([]time.Duration, 0, n)
		for i := 0; i < warmup+n; i++ {
			id := fmt.Sprintf("x%d", i)
			start := time.Now()
			postEvent(t, a, key, id, "train", "completed")
			f := s.next(t, 5*time.Second)
			if f.id != id || f.seq != int64(i+1) {
				t.Fatalf("event %d: got id %q seq %d on B; want %q seq %d", i, f.id, f.seq, id, i+1)
			}
			if i >= warmup { // the first ones also wait for connections to be made
				took = append(took, f.at.Sub(start))
			}
		}
		s.quiet(t, 300*time.Millisecond)
		slices.Sort(took)
		p50, p99, worst := took[n/2-1], took[n*99/100-1], took[n-1] // nearest rank
		t.Logf("POST on A -> frame on B, %d events: p50 %v, p99 %v, max %v", n, p50, p99, worst)
		if worst > time.Second {
			t.Fatalf("an event took %v to reach B (target 100 ms)", worst)
		}
	})

	t.Run("concurrent posts on both reach streams on both", func(t *testing.T) {
		key, _ := newSession(t, a)
		streams := []*sseStream{openStream(t, a, key, -1), openStream(t, b, key, -1)}
		const workers, each = 4, 50
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := 0; i < each; i++ {
					p := []*serverProc{a, b}[(w+i)%2]
					r := callAPI("POST", p.url+"/api/v1/events", key, fmt.Sprintf(`{"id":"c%d-%d","name":"n","status":"completed"}`, w, i))
					if r.status != http.StatusAccepted {
						t.Errorf("post to %s: %d %v %s", p.url, r.status, r.err, r.body)
					}
				}
			}(w)
		}
		wg.Wait()
		for k, s := range streams {
			seen := map[string]bool{}
			for seq := int64(1); seq <= workers*each; seq++ {
				f := s.next(t, 5*time.Second)
				if f.seq != seq || seen[f.id] {
					t.Fatalf("stream %d: got seq %d id %q (seen before: %v), want seq %d", k, f.seq, f.id, seen[f.id], seq)
				}
				seen[f.id] = true
			}
			s.quiet(t, 200*time.Millisecond)
		}
	})

	t.Run("resume on B after reading from A", func(t *testing.T) {
		key, _ := newSession(t, a)
		var ids []string
		post := func(n int) {
			for i := 0; i < n; i++ {
				id := fmt.Sprintf("r%d", len(ids))
				postEvent(t, []*serverProc{a, b}[len(ids)%2], key, id, "n", "completed")
				ids = append(ids, id)
			}
		}
		s1 := openStream(t, a, key, -1)
		post(30)
		var last int64
		for i := 0; i < 15; i++ {
			last = s1.next(t, 5*time.Second).seq
		}
		s1.stop()
		post(20) // while no stream is open
		s2 := openStream(t, b, key, last)
		for seq := last + 1; seq <= int64(len(ids)); seq++ {
			if f := s2.next(t, 5*time.Second); f.seq != seq || f.id != ids[seq-1] {
				t.Fatalf("resumed after %d: got seq %d id %q, want seq %d id %q", last, f.seq, f.id, seq, ids[seq-1])
			}
		}
		s2.quiet(t, 200*time.Millisecond)
	})

	t.Run("long poll on A wakes on a claim on B", func(t *testing.T) {
		key, code := newSession(t, a)
		// Unpaired, a long poll holds until its timeout: its answer, not a
		// sleep, shows that it waits rather than answering at once.
		if r := callAPI("GET", a.url+"/api/v1/session?wait=paired&timeout=1", key, ""); r.status != http.StatusOK ||
			r.took < 900*time.Millisecond || !strings.Contains(string(r.body), `"paired":false`) {
			t.Fatalf("an unpaired long poll with timeout=1 answered %d after %v: %s", r.status, r.took, r.body)
		}
		answered := make(chan apiReply, 1)
		go func() { answered <- callAPI("GET", a.url+"/api/v1/session?wait=paired&timeout=10", key, "") }()
		claimed := time.Now()
		claimPairing(t, b, code)
		select {
		case r := <-answered:
			woke := time.Since(claimed)
			var st struct {
				Paired  bool              `json:"paired"`
				Devices []json.RawMessage `json:"devices"`
			}
			if err := json.Unmarshal(r.body, &st); err != nil || r.status != http.StatusOK || !st.Paired || len(st.Devices) != 1 {
				t.Fatalf("long poll answered %d %s", r.status, r.body)
			}
			t.Logf("long poll on A answered %v after the claim on B", woke)
			if woke > 2*time.Second {
				t.Fatalf("long poll took %v after the claim: it was not woken", woke)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the long poll on A did not answer within 5 s of the claim on B")
		}
	})
}

// TestScaleOutSharesSessionsAndDevices: whatever one instance creates, the
// other honours at once.
func TestScaleOutSharesSessionsAndDevices(t *testing.T) {
	a, b := twoInstances(t, pgtest.NewDatabase(t))
	key, code := newSession(t, a)
	postEvent(t, b, key, "made-on-a", "train", "completed")
	token := claimPairing(t, b, code)

	var list struct {
		Events []struct {
			ID string `json:"id"`
		} `json:"events"`
	}
	mustCall(t, http.StatusOK, "GET", a.url+"/api/v1/events", token, "", &list)
	if len(list.Events) != 1 || list.Events[0].ID != "made-on-a" {
		t.Fatalf("the device paired on B reads %+v on A", list.Events)
	}
	mustCall(t, http.StatusOK, "GET", a.url+"/api/v1/device", token, "", nil)
	var keyA, keyB map[string]string
	mustCall(t, http.StatusOK, "GET", a.url+"/api/v1/push/key", "", "", &keyA)
	mustCall(t, http.StatusOK, "GET", b.url+"/api/v1/push/key", "", "", &keyB)
	if keyA["vapid_public_key"] == "" || keyA["vapid_public_key"] != keyB["vapid_public_key"] {
		t.Fatalf("VAPID keys differ between instances: %q and %q", keyA, keyB)
	}

	mustCall(t, http.StatusNoContent, "DELETE", a.url+"/api/v1/device", token, "", nil)
	for _, path := range []string{"/api/v1/events", "/api/v1/device", "/api/v1/events/stream"} {
		mustCall(t, http.StatusUnauthorized, "GET", b.url+path, token, "", nil)
	}
	var st struct {
		Paired bool `json:"paired"`
	}
	mustCall(t, http.StatusOK, "GET", b.url+"/api/v1/session", key, "", &st)
	if st.Paired {
		t.Fatal("B still counts the device deleted on A")
	}
}

// pushCounter stands in for a browser push service: it counts requests per
// endpoint path and per Topic (the push worker derives one per job name).
type pushCounter struct {
	mu      sync.Mutex
	paths   map[string]int
	topics  map[string]int
	total   atomic.Int64
	service *httptest.Server
}

func newPushCounter(t *testing.T) *pushCounter {
	c := &pushCounter{paths: map[string]int{}, topics: map[string]int{}}
	c.service = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		c.mu.Lock()
		c.paths[r.URL.Path]++
		c.topics[r.Header.Get("Topic")]++
		c.mu.Unlock()
		// A real push service takes tens of milliseconds: long enough for
		// jobs to pile up, so that both instances' workers claim some.
		time.Sleep(50 * time.Millisecond)
		c.total.Add(1)
		w.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(c.service.Close)
	return c
}

// metricSum sums the samples of a Prometheus metric line prefix on p.
func metricSum(t *testing.T, p *serverProc, prefix string) float64 {
	r := mustCall(t, http.StatusOK, "GET", p.url+"/metrics", "", "", nil)
	var sum float64
	for _, line := range strings.Split(string(r.body), "\n") {
		if strings.HasPrefix(line, prefix) {
			v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			if err != nil {
				t.Fatalf("metric line %q: %v", line, err)
			}
			sum += v
		}
	}
	return sum
}

// TestScaleOutPushesOnce: failed events posted to both instances give one
// push each, whichever instance's worker claims the job.
func TestScaleOutPushesOnce(t *testing.T) {
	svc := newPushCounter(t)
	db := pgtest.NewDatabase(t)
	a, b := twoInstances(t, db, "--push-allow", strings.TrimPrefix(svc.service.URL, "http://"))
	key, code := newSession(t, a)
	token := claimPairing(t, b, code)
	p256dh, auth := portsBrowserKeys(t)
	mustCall(t, http.StatusNoContent, "PUT", a.url+"/api/v1/device/push", token,
		fmt.Sprintf(`{"endpoint":%q,"keys":{"p256dh":%q,"auth":%q}}`, svc.service.URL+"/push/phone", p256dh, auth), nil)

	const n = 40
	var wg sync.WaitGroup
	for w, p := range []*serverProc{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 2 {
				r := callAPI("POST", p.url+"/api/v1/events", key, fmt.Sprintf(`{"id":"f%d","name":"job-%d","status":"failed"}`, i, i))
				if r.status != http.StatusAccepted {
					t.Errorf("post to %s: %d %v %s", p.url, r.status, r.err, r.body)
				}
			}
		}()
	}
	wg.Wait()
	for deadline := time.Now().Add(20 * time.Second); svc.total.Load() < n; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d notifications delivered in 20 s\nA:\n%s\nB:\n%s", svc.total.Load(), n, a.stop(), b.stop())
		}
	}
	// Every job done and none left queued: nothing can be delivered again.
	conn, err := pgx.Connect(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var left int
		if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM push_jobs").Scan(&left); err != nil {
			t.Fatal(err)
		}
		sent := metricSum(t, a, `observable_push_notifications_total{result="sent"}`) + metricSum(t, b, `observable_push_notifications_total{result="sent"}`)
		if left == 0 && sent >= n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("10 s after the deliveries %d push jobs are left and %v counted sent", left, sent)
		}
	}
	svc.mu.Lock()
	defer svc.mu.Unlock()
	if svc.paths["/push/phone"] != n || len(svc.paths) != 1 || len(svc.topics) != n {
		t.Fatalf("want %d deliveries to /push/phone with %d topics; got %v and %d topics", n, n, svc.paths, len(svc.topics))
	}
	for topic, count := range svc.topics {
		if count != 1 {
			t.Errorf("topic %s delivered %d times", topic, count)
		}
	}
	sentA := metricSum(t, a, `observable_push_notifications_total{result="sent"}`)
	sentB := metricSum(t, b, `observable_push_notifications_total{result="sent"}`)
	t.Logf("sent by A: %v, by B: %v", sentA, sentB)
	if sentA+sentB != n || sentA == 0 || sentB == 0 {
		t.Fatalf("A sent %v and B %v; want %d in all, from both workers", sentA, sentB, n)
	}
}

// TestScaleOutInstancesStartTogether holds the migration lock while three
// instances start on a fresh database, then lets them race for it: all come
// up, and every migration is applied once.
func TestScaleOutInstancesStartTogether(t *testing.T) {
	db := pgtest.NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	// The key of sqlstore's migration lock ("obs-mig"), documented for
	// operators in docs/deploy.md.
	const lockKey = 0x6f62732d6d6967
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", lockKey); err != nil {
		t.Fatal(err)
	}
	procs := []*serverProc{launch(t, db), launch(t, db), launch(t, db)}
	// Wait until all three queue for the lock (not for a while, hoping).
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var waiting int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "+
			"AND database = (SELECT oid FROM pg_database WHERE datname = current_database())").Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting >= len(procs) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d instances wait for the migration lock after 30 s", waiting, len(procs))
		}
	}
	for _, p := range procs {
		if statusOf(p.url+"/readyz") != 0 {
			t.Fatalf("%s answers while the migration lock is held by someone else", p.url)
		}
	}
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", lockKey); err != nil {
		t.Fatal(err)
	}
	awaitReady(t, 30*time.Second, procs...)

	var rows, versions, newest int
	if err := conn.QueryRow(ctx, "SELECT count(*), count(DISTINCT version), max(version) FROM schema_migrations").Scan(&rows, &versions, &newest); err != nil {
		t.Fatal(err)
	}
	if want := sqlstore.SchemaVersion("postgres"); rows != want || versions != want || newest != want {
		t.Fatalf("schema_migrations has %d rows, %d versions, newest %d; want %d of each", rows, versions, newest, want)
	}
	for i, p := range procs {
		key, _ := newSession(t, p)
		postEvent(t, procs[(i+1)%len(procs)], key, "started-together", "n", "completed")
	}
}
