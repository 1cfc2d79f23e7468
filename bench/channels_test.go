package bench

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/channel"
	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/store"
	"github.com/observable-code/observable/internal/store/sqlstore"
)

// chanBench is 1,000 webhook channels (50 sessions of 20, the most a
// session may have) on SQLite (synchronous=full), spread over receivers
// on 127.0.0.1 ports, delivered by the real worker and senders.
type chanBench struct {
	db       *sqlstore.DB
	sessions []int64
	w        *channel.Worker
	got      atomic.Int64
	arrived  chan time.Time
}

func newChanBench(b *testing.B, receivers int, tweak func(*channel.WorkerOptions)) *chanBench {
	ctx := context.Background()
	db, err := sqlstore.OpenSQLite(ctx, filepath.Join(b.TempDir(), "ch.db"), sqlstore.SQLiteOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	cb := &chanBench{db: db, arrived: make(chan time.Time, 100_000)}
	var urls []string
	for range receivers {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			cb.got.Add(1)
			cb.arrived <- time.Now()
			w.WriteHeader(http.StatusNoContent)
		}))
		b.Cleanup(srv.Close)
		urls = append(urls, srv.URL)
	}
	key := make([]byte, 32)
	rand.Read(key)
	sealer, err := channel.NewSealer(key)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	for s := range 50 {
		keyHash := make([]byte, 32)
		rand.Read(keyHash)
		sess, err := db.CreateSession(ctx, keyHash, fmt.Sprintf("bench-%d", s), now)
		if err != nil {
			b.Fatal(err)
		}
		cb.sessions = append(cb.sessions, sess.ID)
		for c := range domain.MaxChannelsPerSession {
			id := fmt.Sprintf("ch_%02d_%02d", s, c)
			sec := domain.ChannelSecrets{URL: urls[(s*domain.MaxChannelsPerSession+c)%len(urls)] + "/hook/" + id, Secret: "bench-secret"}
			sealed, err := sealer.Seal(id, sec)
			if err != nil {
				b.Fatal(err)
			}
			if err := db.CreateChannel(ctx, domain.Channel{ID: id, SessionID: sess.ID, Type: domain.ChannelWebhook,
				Notify: domain.NotifyFailures, Verified: true, Sealed: sealed, Shown: channel.Mask(domain.ChannelWebhook, sec)}, nil, now); err != nil {
				b.Fatal(err)
			}
		}
	}
	guard, err := channel.NewGuard([]string{"127.0.0.1"})
	if err != nil {
		b.Fatal(err)
	}
	o := channel.WorkerOptions{Store: db, Sealer: sealer, PublicURL: "https://obs.example.com",
		Senders: channel.NewSenders(channel.Options{Guard: guard, UserAgent: "observable-server/bench", PublicHost: "obs.example.com"})}
	if tweak != nil {
		tweak(&o)
	}
	if cb.w, err = channel.NewWorker(o); err != nil {
		b.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); cb.w.Run(runCtx) }()
	b.Cleanup(func() { cancel(); wg.Wait() })
	return cb
}

// fail commits one failing run of job in each of the sessions (each
// opening an incident, so each of their channels gets an alert) and wakes
// the worker, as the committer's after-commit hook does.
func (cb *chanBench) fail(b *testing.B, job string, sessions []int64) {
	var batch []*store.Append
	for _, s := range sessions {
		batch = append(batch, &store.Append{SessionID: s, ReceivedAt: time.Now(),
			Events: []domain.Event{{Name: job, Status: domain.StatusFailed, Error: &domain.ErrorInfo{Type: "KeyError", Message: "'customer_id'"}}}})
	}
	if err := cb.db.AppendEvents(context.Background(), batch); err != nil {
		b.Fatal(err)
	}
	cb.w.Wake()
}

func (cb *chanBench) wait(b *testing.B, n int64) {
	for deadline := time.Now().Add(5 * time.Minute); cb.got.Load() < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d messages within 5 min", cb.got.Load(), n)
		}
	}
}

// BenchmarkChannelThroughput: one op is one failure in every session, 1,000
// alerts (one per channel), from the commit to the last arrival. The
// receivers are 200 ports, 5 channels each: the default pace (5 a second,
// 2 at once per host) holds, as it would with 200 Slack workspaces.
//
//	go test ./bench -run '^$' -bench ChannelThroughput -benchtime 3x
func BenchmarkChannelThroughput(b *testing.B) {
	chanThroughput(b, newChanBench(b, 200, nil))
}

// BenchmarkChannelThroughputOneHost is the same to one receiver with the
// pace lifted (PerHost 16, no rate): what the worker and the store do
// when the destination is no limit.
//
//	go test ./bench -run '^$' -bench ChannelThroughputOneHost -benchtime 3x
func BenchmarkChannelThroughputOneHost(b *testing.B) {
	chanThroughput(b, newChanBench(b, 1, func(o *channel.WorkerOptions) { o.PerHost, o.HostRate = 16, 1e9 }))
}

// chanThroughput fails a job in every session per op and waits for the
// 1,000 messages each op queues.
func chanThroughput(b *testing.B, cb *chanBench) {
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		cb.fail(b, fmt.Sprintf("job_%d", i), cb.sessions)
		cb.wait(b, int64(i+1)*1000)
	}
	b.ReportMetric(float64(b.N*1000)/time.Since(start).Seconds(), "alerts/s")
}

// BenchmarkChannelLatency: with 1,000 channels configured, one op is one
// session's job failing (an incident opening): from the commit of the
// failing event to the arrival of its first channel message. Reported as
// p50 and p99 over the ops.
//
//	go test ./bench -run '^$' -bench ChannelLatency -benchtime 200x
func BenchmarkChannelLatency(b *testing.B) {
	cb := newChanBench(b, 200, nil)
	var lat []time.Duration
	b.ResetTimer()
	for i := range b.N {
		sess := cb.sessions[i%len(cb.sessions)]
		before := cb.got.Load()
		start := time.Now()
		cb.fail(b, fmt.Sprintf("job_%d", i), []int64{sess})
		first := <-cb.arrived
		lat = append(lat, first.Sub(start))
		// Let the op's other 19 messages arrive before the next op.
		cb.wait(b, before+domain.MaxChannelsPerSession)
		for len(cb.arrived) > 0 {
			<-cb.arrived
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
