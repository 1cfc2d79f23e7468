package expect

import (
	"encoding/json"
	"testing"
	"time"
)

// FuzzParse: any input is an expectation that validates and survives a round trip, or an
// error; never a panic.
func FuzzParse(f *testing.F) {
	for _, s := range []string{`{"every_s": 60}`, `{"cron": "0 3 * * *", "tz": "Europe/Berlin", "grace_s": "15m"}`,
		`{"cron": "@daily", "max_duration_ms": 1000, "min_duration_ms": 10, "alert_after": 2}`, `null`, `{"every_s": "1w"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := Parse(data, User)
		if err != nil {
			return
		}
		if err := e.Validate(); err != nil {
			t.Fatalf("Parse accepted what Validate refuses: %v", err)
		}
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse(b, User)
		if err != nil || !back.Same(e) {
			t.Fatalf("round trip of %s: %+v %v", b, back, err)
		}
		_ = e.Describe()
		if due, dl := e.Due(time.Date(2026, 3, 29, 0, 30, 0, 0, time.UTC)); !due.IsZero() && dl.Before(due) {
			t.Fatalf("deadline %v before due %v", dl, due)
		}
	})
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"90", "1.5", "2h30m", "1d", "1w", "500ms", "-1", "1e9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d, err := ParseDuration(s); err == nil && d < 0 {
			t.Fatalf("%q: negative %v", s, d)
		}
	})
}
