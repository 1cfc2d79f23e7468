package api

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestLimitsAreNamedFromTheirConstants: a refusal names the bound it
// enforces, from the constant that enforces it, so the two cannot drift
// apart (they were typed twice: a number in the check, another in the text).
func TestLimitsAreNamedFromTheirConstants(t *testing.T) {
	h := newHarness(t)
	s := h.newSession()
	token := h.pair(s)
	h.post(s, `{"name":"nightly","status":"completed"}`)
	cases := []struct {
		what  string
		reply reply
		bound string
	}{
		{"wait timeout", h.do("GET", fmt.Sprintf("/api/v1/session?wait=paired&timeout=%d", int64(MaxWait/time.Second)+1), nil, bearerAuth(s.key)),
			fmt.Sprintf("from 0 to %d", int64(MaxWait/time.Second))},
		{"session host", h.do("POST", "/api/v1/sessions", map[string]string{"host": strings.Repeat("h", MaxHostLen+1)}),
			fmt.Sprintf("at most %d characters", MaxHostLen)},
		{"snooze", h.do("PATCH", "/api/v1/jobs/nightly", map[string]any{"snooze_s": maxSnooze.Seconds() + 1}, bearerAuth(token)),
			fmt.Sprintf("to %d (%d days)", int64(maxSnooze/time.Second), int64(maxSnooze/(24*time.Hour)))},
	}
	for _, c := range cases {
		if c.reply.status != 400 || !strings.Contains(string(c.reply.body), c.bound) {
			t.Errorf("%s past its bound: %d %s; want 400 naming %q", c.what, c.reply.status, c.reply.body, c.bound)
		}
	}
	// The bound itself is accepted.
	if r := h.do("POST", "/api/v1/sessions", map[string]string{"host": strings.Repeat("h", MaxHostLen)}); r.status != 201 {
		t.Errorf("a host of %d characters: %d %s", MaxHostLen, r.status, r.body)
	}
}
