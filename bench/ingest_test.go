package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/config"
	"github.com/observable-code/observable/internal/instance"
	"github.com/observable-code/observable/internal/store/sqlstore"
)

// BenchmarkIngest drives the server's real HTTP handler in-process, wired
// as cmd/observable-server wires it, on SQLite (synchronous=full) in a
// temporary directory. Without the network and the load generator, its
// profile shows the ingest path alone:
//
//	go test ./bench -run '^$' -bench Ingest -benchtime 10s -cpuprofile /tmp/ingest.cpu
//	go tool pprof -top -cum /tmp/ingest.cpu
//
// Its figures are for before/after comparisons of that path; the published
// ones come from bench/run.sh, over real HTTP.
func BenchmarkIngest(b *testing.B) {
	for _, c := range []struct {
		name                      string
		events, clients, sessions int
		id                        func() string
	}{
		{"single/clients=32/sessions=32", 1, 32, 32, sdkID},
		{"single/clients=32/sessions=1", 1, 32, 1, sdkID},
		{"batch500/clients=8/sessions=32", 500, 8, 32, sdkID},
		{"one-after-another", 1, 1, 1, sdkID},
		// Ids in no order, as the SDK made them before it made them by
		// time, and as other clients may: each dirties its own page of the
		// duplicate index.
		{"single/clients=32/sessions=1/ids=random", 1, 32, 1, randomID},
		{"batch500/clients=8/sessions=32/ids=random", 500, 8, 32, randomID},
	} {
		b.Run(c.name, func(b *testing.B) {
			h := newIngestHandler(b)
			keys := make([]string, c.sessions)
			for i := range keys {
				keys[i] = createSession(b, h)
			}
			benchPosts(b, h, keys, c.events, c.clients, c.id)
		})
	}
}

// sdkID makes a client id as the Python SDK does (observable._events.new_id):
// milliseconds since the epoch in 12 hex digits, then 80 random bits.
func sdkID() string {
	return fmt.Sprintf("%012x%016x%04x", time.Now().UnixMilli(), rand.Uint64(), rand.Uint32()&0xffff)
}

// randomID is 128 random bits in hex.
func randomID() string {
	return fmt.Sprintf("%016x%016x", rand.Uint64(), rand.Uint64())
}

// benchPosts posts b.N requests of events events from clients goroutines,
// taking the session keys in turn.
func benchPosts(b *testing.B, h http.Handler, keys []string, events, clients int, id func() string) {
	var next atomic.Int64
	var lat latencies
	post := func(took *[]time.Duration) bool {
		start := time.Now()
		defer func() { *took = append(*took, time.Since(start)) }()
		n := next.Add(1)
		req := httptest.NewRequest(http.MethodPost, "/api/v1/events", bytes.NewReader(eventsBody(events, id)))
		req.Header.Set("Authorization", "Bearer "+keys[n%int64(len(keys))])
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusAccepted {
			b.Errorf("POST /api/v1/events: %d %s", rec.Code, rec.Body)
			return false
		}
		return true
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPU()
	if clients == 1 {
		took := make([]time.Duration, 0, b.N)
		for i := 0; i < b.N && post(&took); i++ {
		}
		lat.add(took)
	} else {
		// RunParallel starts parallelism × GOMAXPROCS goroutines: one per client.
		b.SetParallelism(max(1, clients/runtime.GOMAXPROCS(0)))
		b.RunParallel(func(pb *testing.PB) {
			took := make([]time.Duration, 0, b.N/clients+1)
			for pb.Next() && post(&took) {
			}
			lat.add(took)
		})
	}
	b.ReportMetric(float64(next.Load()*int64(events))/b.Elapsed().Seconds(), "events/s")
	// The process's CPU an event (handler, commit, GC): on a shared machine
	// it moves much less than events/s, which other work's load shapes.
	b.ReportMetric(float64((processCPU()-cpu).Microseconds())/float64(next.Load()*int64(events)), "cpu-µs/event")
	// A request's latency, from the handler's call to its answer (the
	// commit and its fsync included): issue 15 bounds p99 in every run.
	lat.report(b)
}

// latencies collects the requests' latencies from every client.
type latencies struct {
	mu  sync.Mutex
	all []time.Duration
}

func (l *latencies) add(took []time.Duration) {
	l.mu.Lock()
	l.all = append(l.all, took...)
	l.mu.Unlock()
}

func (l *latencies) report(b *testing.B) {
	if len(l.all) == 0 {
		return
	}
	slices.Sort(l.all)
	at := func(p float64) float64 {
		return float64(l.all[min(len(l.all)-1, int(p*float64(len(l.all))))].Microseconds()) / 1000
	}
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
	b.ReportMetric(at(1), "max-ms")
}

// processCPU is the user and system CPU time the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// newIngestHandler is the server's handler as cmd/observable-server runs
// it (internal/instance), on SQLite in a temporary directory.
func newIngestHandler(b *testing.B) http.Handler {
	b.Helper()
	ctx := context.Background()
	db, err := sqlstore.OpenSQLite(ctx, filepath.Join(b.TempDir(), "bench.db"), sqlstore.SQLiteOptions{})
	if err != nil {
		b.Fatal(err)
	}
	cfg := config.Default()
	cfg.PublicURL = "http://127.0.0.1:3000"
	cfg.SessionRate, cfg.SessionsPerMinute = 0, 0
	in, err := instance.New(ctx, cfg, db, 1, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		in.Drain()
		in.Close()
		db.Close()
	})
	return in.Handler()
}

func createSession(b *testing.B, h http.Handler) string {
	b.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/v1/sessions", strings.NewReader("{}")))
	var created struct {
		SessionID string `json:"session_id"`
	}
	if rec.Code != http.StatusCreated || json.Unmarshal(rec.Body.Bytes(), &created) != nil {
		b.Fatalf("POST /api/v1/sessions: %d %s", rec.Code, rec.Body)
	}
	return created.SessionID
}

// eventsBody is a request's body: one event, or a batch, each with an id
// of its own.
func eventsBody(events int, id func() string) []byte {
	if events == 1 {
		return Event(id(), "train_model")
	}
	var buf bytes.Buffer
	buf.WriteString(`{"events":[`)
	for i := 0; i < events; i++ {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(Event(id(), "train_model_"+strconv.Itoa(i%20)))
	}
	buf.WriteString("]}")
	return buf.Bytes()
}
