package push

import (
	"testing"

	"github.com/observable-code/observable/internal/domain"
)

// BenchmarkDelivery measures notifications taken from the queue, encrypted,
// signed and accepted by a local push service that verifies the VAPID JWT
// and decrypts each one (its cost is included: both ends share the CPU).
func BenchmarkDelivery(b *testing.B) {
	e := newEnv(b, Options{})
	_, sub := e.push.subscribe("phone")
	e.addDevice("phone", domain.NotifyAll, nil, &sub)
	e.start(nil)
	b.ReportAllocs()
	b.ResetTimer()
	for left := b.N; left > 0; {
		n := min(left, 500)
		events := make([]domain.Event, n)
		for i := range events {
			events[i] = completed("backup", 1200)
		}
		e.post(events...)
		for range n {
			e.next(wait)
		}
		left -= n
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "notifications/s")
}
