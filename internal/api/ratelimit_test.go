package api

import (
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLimiter(10, 20) // 10/s, bursts of 20
	steps := []struct {
		at   time.Duration
		key  string
		n    float64
		ok   bool
		wait time.Duration
	}{
		{0, "a", 20, true, 0},
		{0, "a", 1, false, 100 * time.Millisecond},
		{0, "b", 20, true, 0}, // keys are independent
		{500 * time.Millisecond, "a", 5, true, 0},
		{500 * time.Millisecond, "a", 1, false, 100 * time.Millisecond},
		{10 * time.Second, "a", 20, true, 0}, // refilled, capped at the burst
		{10 * time.Second, "a", 1, false, 100 * time.Millisecond},
		{20 * time.Second, "a", 25, false, 500 * time.Millisecond}, // more than a burst never fits: say how long
	}
	for i, s := range steps {
		ok, wait := l.allow(s.key, s.n, start.Add(s.at))
		if ok != s.ok || wait != s.wait {
			t.Fatalf("step %d: allow(%s, %v) = %v, %v; want %v, %v", i, s.key, s.n, ok, wait, s.ok, s.wait)
		}
	}
	off := newLimiter(0, 0)
	if ok, _ := off.allow("x", 1e9, start); !ok {
		t.Fatal("a zero rate must turn the limit off")
	}
	// Idle keys are forgotten.
	l.allow("c", 1, start.Add(30*time.Second))
	l.allow("a", 1, start.Add(10*time.Minute))
	if _, kept := l.buckets["c"]; kept || len(l.buckets) != 1 {
		t.Fatalf("buckets after a sweep: %v", l.buckets)
	}
}

func TestThrottle(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	th := throttle{interval: 5 * time.Second}
	if n, ok := th.due(start); !ok || n != 0 {
		t.Fatal("the first warning must pass")
	}
	for i := 1; i <= 3; i++ {
		if _, ok := th.due(start.Add(time.Duration(i) * time.Second)); ok {
			t.Fatal("a warning within the interval passed")
		}
	}
	if n, ok := th.due(start.Add(6 * time.Second)); !ok || n != 3 {
		t.Fatalf("after the interval: %d held, passed %v; want 3 and true", n, ok)
	}
}
