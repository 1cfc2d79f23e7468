// Package metrics defines the server's Prometheus metrics on a registry of
// its own, served at /metrics.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds every collector. The zero value is not usable: call New.
type Metrics struct {
	Registry *prometheus.Registry

	EventsAccepted  prometheus.Counter
	EventsDuplicate prometheus.Counter
	EventsRejected  *prometheus.CounterVec // by reason
	IngestLatency   prometheus.Histogram
	CommitEvents    prometheus.Histogram
	CommitLatency   prometheus.Histogram
	StreamSubs      prometheus.Gauge
	StreamDropped   prometheus.Counter
	ConnsRefused    prometheus.Counter
	DatabaseErrors  *prometheus.CounterVec // by operation
	Requests        *prometheus.CounterVec // by route and status code
	PushSent        *prometheus.CounterVec // by result
	ChannelMessages *prometheus.CounterVec // by result
	RateLimited     *prometheus.CounterVec // by limit
	PrunedEvents    prometheus.Counter
	PairingsClaimed prometheus.Counter
	SessionsCreated prometheus.Counter
}

// New registers every metric on a fresh registry.
func New() *Metrics {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := func(c prometheus.Collector) { r.MustRegister(c) }
	m := &Metrics{Registry: r}
	m.EventsAccepted = prometheus.NewCounter(prometheus.CounterOpts{Name: "observable_events_accepted_total", Help: "Events stored."})
	m.EventsDuplicate = prometheus.NewCounter(prometheus.CounterOpts{Name: "observable_events_duplicate_total", Help: "Events skipped because their client id was already stored."})
	m.EventsRejected = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "observable_events_rejected_total", Help: "Event requests refused, by reason."}, []string{"reason"})
	m.IngestLatency = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "observable_ingest_duration_seconds", Help: "Time from an event request's arrival to its answer.",
		Buckets: []float64{.0002, .0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 2.5}})
	m.CommitEvents = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "observable_commit_batch_events", Help: "Events per group commit.",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096}})
	m.CommitLatency = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "observable_commit_duration_seconds", Help: "Time to write one group commit.",
		Buckets: []float64{.0001, .0002, .0005, .001, .002, .005, .01, .02, .05, .1, .25, 1}})
	m.StreamSubs = prometheus.NewGauge(prometheus.GaugeOpts{Name: "observable_stream_subscribers", Help: "Open event streams."})
	m.StreamDropped = prometheus.NewCounter(prometheus.CounterOpts{Name: "observable_stream_dropped_total", Help: "Streams dropped for reading too slowly."})
	m.ConnsRefused = prometheus.NewCounter(prometheus.CounterOpts{Name: "observable_connections_refused_total", Help: "Connections closed at once for passing --max-conns-per-address."})
	m.DatabaseErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "observable_database_errors_total", Help: "Database operations that failed, by operation."}, []string{"op"})
	m.Requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "observable_http_requests_total", Help: "HTTP requests, by route and status code."}, []string{"route", "code"})
	m.PushSent = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "observable_push_notifications_total", Help: "Push deliveries, by result."}, []string{"result"})
	m.ChannelMessages = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "observable_channel_messages_total", Help: "Channel deliveries (webhook, Slack, Discord, ntfy, email), by result."}, []string{"result"})
	m.RateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "observable_rate_limited_total", Help: "Requests refused by a rate limit, by limit."}, []string{"limit"})
	m.PrunedEvents = prometheus.NewCounter(prometheus.CounterOpts{Name: "observable_events_pruned_total", Help: "Events deleted by retention."})
	m.PairingsClaimed = prometheus.NewCounter(prometheus.CounterOpts{Name: "observable_pairings_claimed_total", Help: "Devices paired."})
	m.SessionsCreated = prometheus.NewCounter(prometheus.CounterOpts{Name: "observable_sessions_created_total", Help: "Sessions created."})
	for _, c := range []prometheus.Collector{m.EventsAccepted, m.EventsDuplicate, m.EventsRejected, m.IngestLatency, m.CommitEvents,
		m.CommitLatency, m.StreamSubs, m.StreamDropped, m.ConnsRefused, m.DatabaseErrors, m.Requests, m.PushSent, m.ChannelMessages, m.RateLimited,
		m.PrunedEvents, m.PairingsClaimed, m.SessionsCreated} {
		f(c)
	}
	return m
}

// Handler serves the metrics in Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}
