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

// AlertFor is the rule of every push and channel: an incident's own alert
// (Judge decides it) goes out unless notify is off or the job is muted, and
// with notify "all" every other event does too, except a failure that
// opened nothing (folded into an open incident, or under alert_after).
func TestAlertRules(t *testing.T) {
	failed, done, started := &Event{Name: "j", Status: "failed"}, &Event{Name: "j", Status: "completed"}, &Event{Name: "j", Status: "started"}
	tests := []struct {
		notify   string
		muted    []string
		ev       *Event
		incident string
		want     string
	}{
		{NotifyFailures, nil, failed, AlertFailed, AlertFailed},
		{NotifyFailures, nil, failed, "", ""}, // folded into an open incident
		{NotifyFailures, nil, done, AlertRecovered, AlertRecovered},
		{NotifyFailures, nil, done, "", ""},
		{NotifyFailures, nil, started, "", ""},
		{NotifyAll, nil, done, "", AlertEvent},
		{NotifyAll, nil, started, "", AlertEvent},
		{NotifyAll, nil, failed, "", ""},
		{NotifyAll, nil, failed, AlertFailed, AlertFailed},
		{NotifyAll, nil, done, AlertRecovered, AlertRecovered},
		{NotifyOff, nil, failed, AlertFailed, ""},
		{NotifyOff, nil, done, AlertRecovered, ""},
		{NotifyAll, []string{"j"}, failed, AlertFailed, ""},
		{NotifyFailures, []string{"other"}, failed, AlertFailed, AlertFailed},
	}
	for _, tt := range tests {
		if got := AlertFor(tt.notify, tt.muted, tt.ev, tt.incident); got != tt.want {
			t.Errorf("AlertFor(%s, muted %v, %s, incident %q) = %q, want %q", tt.notify, tt.muted, tt.ev.Status, tt.incident, got, tt.want)
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
		`{"name":"a\u0000","status":"completed"}`,
		`{"name":"a","status":"completed","metadata":{"k\u0000":"\\u0000"}}`,
		"{\"name\":\"a\",\"status\":\"completed\",\"source\":{\"k\":\"\xff\"}}",
		"{\"events\":[{\"name\":\"\xc3\",\"status\":\"completed\"}]}",
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
			strs := []string{e.ID, e.Name, e.Status}
			if e.Error != nil {
				strs = append(strs, e.Error.Type, e.Error.Message, e.Error.Traceback)
			}
			for _, raw := range [][]byte{e.Metadata, e.Source} {
				if raw != nil && (!json.Valid(raw) || raw[0] != '{') {
					t.Fatalf("accepted a non-object: %s", raw)
				}
				if !utf8.Valid(raw) {
					t.Fatalf("accepted invalid UTF-8: %q", raw)
				}
				var v any
				if raw != nil {
					if err := json.Unmarshal(raw, &v); err != nil {
						t.Fatal(err)
					}
				}
				strs = validFuzzStrings(v, strs)
			}
			for _, s := range strs {
				if strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s) {
					t.Fatalf("accepted a string no database stores: %q", s)
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

// validBenchBodies are the requests the SDK sends: one event, and a full
// batch of 500 with a little metadata and non-ASCII text.
func validBenchBodies() map[string][]byte {
	one := `{"id":"0f8fad5b-d9cb-469f-a165-70867728950e","name":"nightly_sync","status":"failed","duration_ms":3210.5,` +
		`"timestamp":"2026-03-01T10:00:00.123Z","error":{"type":"KeyError","message":"'customer_id' caf\u00e9 é","traceback":"Traceback (most recent call last):\n  File \"x.py\", line 1"},` +
		`"metadata":{"rows":1200,"region":"eu-west-1","tags":["a","b"],"nested":{"k":"v é"}},"source":{"host":"build-1","pid":4242,"argv":["python","x.py"]}}`
	var batch strings.Builder
	batch.WriteString(`{"events":[`)
	for i := 0; i < 500; i++ {
		if i > 0 {
			batch.WriteByte(',')
		}
		batch.WriteString(one)
	}
	batch.WriteString(`]}`)
	return map[string][]byte{"single": []byte(one), "batch500": []byte(batch.String())}
}

func BenchmarkParseEvents(b *testing.B) {
	for name, body := range validBenchBodies() {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, _, err := ParseEvents(body, 500); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestParseEventsRefusesUnstorableText covers every string of an event,
// in a single event and in a batch, with NUL escaped (the only way JSON
// carries it) and invalid UTF-8 as raw bytes, at any depth of metadata
// and source, keys included.
func TestParseEventsRefusesUnstorableText(t *testing.T) {
	const nul, bad = `\u0000`, "\xff"
	cases := []struct {
		field, event string
	}{
		{"id", `{"id":"a` + nul + `","name":"j","status":"completed"}`},
		{"id", `{"id":"a` + bad + `","name":"j","status":"completed"}`},
		{"name", `{"name":"j` + nul + `","status":"completed"}`},
		{"name", `{"name":"j` + bad + `","status":"completed"}`},
		{"name", `{"NAME":"j` + bad + `","status":"completed"}`},
		{"status", `{"name":"j","status":"failed` + nul + `"}`},
		{"status", `{"name":"j","status":"failed` + bad + `"}`},
		{"timestamp", `{"name":"j","status":"completed","timestamp":"2026` + bad + `"}`},
		{"error.type", `{"name":"j","status":"failed","error":{"type":"E` + nul + `","message":""}}`},
		{"error.type", `{"name":"j","status":"failed","error":{"type":"E` + bad + `","message":""}}`},
		{"error.message", `{"name":"j","status":"failed","error":{"type":"E","message":"m` + nul + `"}}`},
		{"error.message", `{"name":"j","status":"failed","error":{"type":"E","message":"m` + bad + `"}}`},
		{"error.traceback", `{"name":"j","status":"failed","error":{"type":"E","message":"","traceback":"t` + nul + `"}}`},
		{"error.traceback", `{"name":"j","status":"failed","error":{"type":"E","message":"","traceback":"t` + bad + `"}}`},
		{"metadata", `{"name":"j","status":"completed","metadata":{"k":"v` + nul + `"}}`},
		{"metadata", `{"name":"j","status":"completed","metadata":{"k":"v` + bad + `"}}`},
		{"metadata", `{"name":"j","status":"completed","metadata":{"k` + nul + `":1}}`},
		{"metadata", `{"name":"j","status":"completed","metadata":{"k` + bad + `":1}}`},
		{"metadata", `{"name":"j","status":"completed","metadata":{"a":[1,{"b":{"c":["x` + nul + `"]}}]}}`},
		{"metadata", `{"name":"j","status":"completed","metadata":{"a":[1,{"b":{"c":["x` + bad + `"]}}]}}`},
		{"metadata", `{"name":"j","status":"completed","metadata": { "a" : "\\` + nul + `" } }`},
		{"source", `{"name":"j","status":"completed","source":{"host":"h` + nul + `"}}`},
		{"source", `{"name":"j","status":"completed","source":{"env":{"PATH":"/bin` + bad + `"}}}`},
		{"source", `{"name":"j","status":"completed","source":{"argv":["x` + bad + `"]}}`},
		// Unpaired surrogate escapes: a high half alone, at the end, or
		// before anything but a low half; a low half alone.
		{"id", `{"id":"a\ud800","name":"j","status":"completed"}`},
		{"name", `{"name":"j\uDBFF","status":"completed"}`},
		{"name", `{"name":"j\udc00x","status":"completed"}`},
		{"name", `{"name":"j\ud83d\ud83d","status":"completed"}`},
		{"status", `{"name":"j","status":"failed\ud800"}`},
		{"error.type", `{"name":"j","status":"failed","error":{"type":"E\ud800","message":""}}`},
		{"error.message", `{"name":"j","status":"failed","error":{"type":"E","message":"m\ud800\u0041"}}`},
		{"error.traceback", `{"name":"j","status":"failed","error":{"type":"E","message":"","traceback":"\udfff"}}`},
		{"metadata", `{"name":"j","status":"completed","metadata":{"k":"\ud800"}}`},
		{"metadata", `{"name":"j","status":"completed","metadata":{"k\udc00":1}}`},
		{"metadata", `{"name":"j","status":"completed","metadata":{"a":[{"b":"x\\\ud800"}]}}`},
		{"source", `{"name":"j","status":"completed","source":{"host":"h\ud800"}}`},
		{"run", `{"name":"j","status":"completed","run":"r\ud800"}`},
	}
	for _, tc := range cases {
		for _, batch := range []bool{false, true} {
			body, wantIndex := tc.event, -1
			if batch {
				body, wantIndex = `{"events":[{"name":"ok","status":"completed"},`+tc.event+`]}`, 1
			}
			events, _, err := ParseEvents([]byte(body), 500)
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != tc.field || ve.Index != wantIndex {
				t.Errorf("%q: got %v (%+v, %d events), want a ValidationError for events[%d].%s", body, err, ve, len(events), wantIndex, tc.field)
				continue
			}
			// A status is a lowercase ASCII word: its own rule says so.
			if tc.field != "status" && !strings.Contains(ve.Reason, "NUL") && !strings.Contains(ve.Reason, "UTF-8") && !strings.Contains(ve.Reason, "surrogate") {
				t.Errorf("%q: reason %q does not say what is wrong", body, ve.Reason)
			}
		}
	}
}

// TestParseEventsKeepsStorableText: escapes that only look like a NUL,
// other control characters, and non-ASCII text in every form are kept.
func TestParseEventsKeepsStorableText(t *testing.T) {
	for _, body := range []string{
		`{"name":"caf\u00e9 é \ufffd","status":"completed","metadata":{"p":"C:\\u0000\\x","q":"\u0001","é":"\u00e9"}}`,
		`{"name":"j","status":"failed","error":{"type":"E","message":"a\\u0000b"},"source":{"s":"\\\\u0000"}}`,
		`{"events":[{"name":"j","status":"completed","metadata":{"k":"\u0100\u0010\u00100"}}]}`,
		`{"name":"j","status":"completed","unknown":"` + "\xff" + `"}`,
		// Whole pairs, either case; a backslash escaped before "ud800".
		`{"name":"j \ud83d\ude00","status":"completed","metadata":{"e":"\uD83D\uDE00","p":"\\ud800"},"source":{"k\ud83d\ude00":"\\udc00"}}`,
		`{"name":"j","status":"completed","unknown":"\ud800"}`,
	} {
		events, _, err := ParseEvents([]byte(body), 500)
		if err != nil || len(events) != 1 {
			t.Errorf("%s: %v", body, err)
		}
	}
}

// TestDecodeErrorsNameTheJSONField: the field is the one the client
// wrote, not a Go path ("wireEvent.duration_ms").
func TestDecodeErrorsNameTheJSONField(t *testing.T) {
	for body, want := range map[string]string{
		`{"name":"j","status":"completed","duration_ms":"slow"}`:                      "duration_ms",
		`{"events":[{"name":"j","status":"completed","duration_ms":"slow"}]}`:         "duration_ms",
		`{"name":5,"status":"completed"}`:                                             "name",
		`{"name":"j","status":"failed","error":{"type":1,"message":""}}`:              "error.type",
		`{"events":[{"name":"j","status":"failed","error":{"type":1,"message":""}}]}`: "error.type",
		`{"name":"j","status":"failed","error":"boom"}`:                               "error",
	} {
		_, _, err := ParseEvents([]byte(body), 500)
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field != want {
			t.Errorf("%s: got %v (%+v), want field %q", body, err, ve, want)
		}
	}
}

// validFuzzStrings appends every key and string of a decoded JSON value.
func validFuzzStrings(v any, out []string) []string {
	switch v := v.(type) {
	case string:
		out = append(out, v)
	case []any:
		for _, x := range v {
			out = validFuzzStrings(x, out)
		}
	case map[string]any:
		for k, x := range v {
			out = validFuzzStrings(x, append(out, k))
		}
	}
	return out
}

// BenchmarkTextChecks is what the NUL and UTF-8 checks add to
// BenchmarkParseEvents: the pass over the body and the per-event checks.
func BenchmarkTextChecks(b *testing.B) {
	for name, body := range validBenchBodies() {
		events, _, err := ParseEvents(body, 500)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if !utf8.Valid(body) {
					b.Fatal("invalid")
				}
				for i := range events {
					e := &events[i]
					if TextProblem(e.ID)+TextProblem(e.Name)+TextProblem(e.Error.Type)+TextProblem(e.Error.Message)+
						TextProblem(e.Error.Traceback)+rawTextProblem(e.Metadata)+rawTextProblem(e.Source) != "" {
						b.Fatal("refused")
					}
				}
			}
		})
	}
}

// rawTextProblem (the tests' oracle) is TextProblem for JSON kept as sent (metadata, source):
// its keys and strings at any depth, escaped NULs and unpaired surrogate
// escapes included.
func rawTextProblem(raw []byte) string {
	if bytes.IndexByte(raw, 0) >= 0 {
		return reasonNUL
	}
	if !utf8.Valid(raw) {
		return reasonUTF8
	}
	if _, p := badEscape(raw); p != "" {
		return p
	}
	return ""
}
