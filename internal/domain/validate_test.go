package domain

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestValidStatus(t *testing.T) {
	for s, want := range map[string]bool{
		"completed": true, "failed": true, "in_progress": true, "a": true, "x9_": true,
		strings.Repeat("a", 32): true, strings.Repeat("a", 33): false,
		"": false, "Failed": false, "9lives": false, "_x": false, "a-b": false, "a b": false, "é": false,
	} {
		if got := ValidStatus(s); got != want {
			t.Errorf("ValidStatus(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestParseEventsShapes(t *testing.T) {
	events, batch, err := ParseEvents([]byte(` {"name":"a","status":"completed","metadata": { "k" : [1, 2] } } `), 500)
	if err != nil || batch || len(events) != 1 || string(events[0].Metadata) != `{"k":[1,2]}` {
		t.Fatalf("single: %+v %v %v", events, batch, err)
	}
	events, batch, err = ParseEvents([]byte(`{"events":[{"name":"a","status":"completed"},{"name":"b","status":"failed"}]}`), 500)
	if err != nil || !batch || len(events) != 2 || events[1].Name != "b" {
		t.Fatalf("batch: %+v %v %v", events, batch, err)
	}
	_, _, err = ParseEvents([]byte(`{"events":[{"name":"a","status":"completed"},{"name":"b","status":"completed"}]}`), 1)
	if !errors.Is(err, ErrTooManyEvents) {
		t.Fatalf("over the batch limit: %v", err)
	}
}

func TestTimeRoundTrip(t *testing.T) {
	var tm Time
	if err := json.Unmarshal([]byte(`"2026-03-01T10:00:00.123456+01:00"`), &tm); err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(tm)
	if string(out) != `"2026-03-01T09:00:00.123Z"` {
		t.Fatalf("normalised time = %s", out)
	}
	if out, _ := json.Marshal(Time{}); string(out) != "null" {
		t.Fatalf("zero time = %s", out)
	}
}

func TestAlertRules(t *testing.T) {
	failed, done, other := &Event{Name: "j", Status: "failed"}, &Event{Name: "j", Status: "completed"}, &Event{Name: "j", Status: "started"}
	tests := []struct {
		notify   string
		muted    []string
		ev       *Event
		previous string
		want     string
	}{
		{NotifyFailures, nil, failed, "", AlertFailed},
		{NotifyFailures, nil, failed, "failed", AlertFailed},
		{NotifyFailures, nil, done, "", ""},
		{NotifyFailures, nil, done, "completed", ""},
		{NotifyFailures, nil, done, "failed", AlertRecovered},
		{NotifyFailures, nil, other, "failed", ""},
		{NotifyAll, nil, done, "", AlertEvent},
		{NotifyAll, nil, other, "", AlertEvent},
		{NotifyAll, nil, failed, "", AlertFailed},
		{NotifyAll, nil, done, "failed", AlertRecovered},
		{NotifyOff, nil, failed, "", ""},
		{NotifyOff, nil, done, "failed", ""},
		{NotifyAll, []string{"j"}, failed, "", ""},
		{NotifyFailures, []string{"other"}, failed, "", AlertFailed},
	}
	for _, tt := range tests {
		if got := Alert(tt.notify, tt.muted, tt.ev, tt.previous); got != tt.want {
			t.Errorf("Alert(%s, muted %v, %s after %q) = %q, want %q", tt.notify, tt.muted, tt.ev.Status, tt.previous, got, tt.want)
		}
	}
}

// FuzzParseEvents checks the decoder and validator on any input: they
// never panic, and what they accept is valid, re-encodes, and parses back
// to the same events.
func FuzzParseEvents(f *testing.F) {
	for _, seed := range []string{
		`{"name":"a","status":"completed"}`,
		`{"events":[{"name":"a","status":"failed","error":{"type":"E","message":"m","traceback":"t"}}]}`,
		`{"id":"x","name":"é","status":"in_progress","duration_ms":1.5,"timestamp":"2026-01-01T00:00:00Z","metadata":{"a":[1,{"b":null}]},"source":{"pid":1}}`,
		`{"events":[]}`, `{"events":null}`, `{"events":{}}`, `[]`, `null`, `"x"`, `{`, ``,
		`{"name":"a","status":"completed","metadata":"x"}`,
		`{"name":"a","status":"completed","timestamp":"2026-13-45T99:00:00Z"}`,
		`{"name":"a","status":"completed","duration_ms":1e400}`,
		`{"name":"\ud800","status":"completed"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		events, _, err := ParseEvents(body, 500)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) && !errors.Is(err, ErrTooManyEvents) {
				t.Fatalf("error of an unexpected kind: %T %v", err, err)
			}
			if err.Error() == "" {
				t.Fatal("an error without a message")
			}
			return
		}
		if len(events) == 0 {
			t.Fatal("accepted a request with no events")
		}
		for i := range events {
			e := &events[i]
			if err := e.Validate(i); err != nil {
				t.Fatalf("accepted an invalid event: %v", err)
			}
			if !utf8.ValidString(e.Name) || !ValidStatus(e.Status) {
				t.Fatalf("accepted name %q status %q", e.Name, e.Status)
			}
			for _, raw := range [][]byte{e.Metadata, e.Source} {
				if raw != nil && (!json.Valid(raw) || raw[0] != '{') {
					t.Fatalf("accepted a non-object: %s", raw)
				}
			}
		}
		again, err := json.Marshal(map[string]any{"events": events})
		if err != nil {
			t.Fatalf("accepted events do not re-encode: %v", err)
		}
		back, _, err := ParseEvents(again, 500)
		if err != nil {
			t.Fatalf("re-encoded events are refused: %v\n%s", err, again)
		}
		for i := range back {
			a, _ := json.Marshal(events[i])
			b, _ := json.Marshal(back[i])
			if !bytes.Equal(a, b) {
				t.Fatalf("round trip changed an event:\n%s\n%s", a, b)
			}
		}
	})
}
