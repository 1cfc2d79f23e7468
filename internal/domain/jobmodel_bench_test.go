package domain

import (
	"encoding/json"

	"github.com/observable-code/observable/internal/expect"
	"testing"
	"time"
)

// BenchmarkJobModelCommit is what a commit does per job it touches: one
// event applied, learned again, settled, written back.
func BenchmarkJobModelCommit(b *testing.B) {
	m := &JobModel{}
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < RecentRuns; i++ {
		m.Recent = append(m.Recent, [2]int64{t0.Add(time.Duration(i) * time.Millisecond).UnixMilli(), 3})
	}
	ms := 3.0
	ev := &StoredEvent{Event: Event{Name: "train_model", Status: "completed", DurationMS: &ms, Timestamp: NewTime(t0)}}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		var r [][2]int64
		raw, _ := json.Marshal(m.Recent)
		_ = json.Unmarshal(raw, &r)
		m.Recent = r
		m.Apply(ev)
		m.Judge(ev, t0)
		m.Learn(expect.Options{})
		m.Settle(t0)
	}
}
