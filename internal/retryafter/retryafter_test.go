package retryafter

import (
	"net/http"
	"testing"
	"time"
)

func TestRetryAfterParse(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"   ", 0},
		{"7", 7 * time.Second},
		{" 7 ", 7 * time.Second},
		{"1.5", 1500 * time.Millisecond},
		{"0", 0},
		{"-5", 0},
		{"NaN", 0},
		{"Inf", 0},
		{"soon", 0},
		{"86400", day},
		{"90000", day},
		{"99999999999999999999", day}, // would overflow a Duration
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{now.Add(48 * time.Hour).Format(http.TimeFormat), day},
	} {
		if got := Parse(tc.in, now, day); got != tc.want {
			t.Errorf("Parse(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
	if got := Parse("5", now, 0); got != 0 {
		t.Errorf("a zero limit gives %s, want 0", got)
	}
}
