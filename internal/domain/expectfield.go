package domain

import (
	"bytes"
	"encoding/json"

	"github.com/observable-code/observable/internal/expect"
)

// ExpectNull is an event's expect that clears the expectation declared in code.
var ExpectNull = json.RawMessage("null")

// declaredExpect checks an event's "expect" (expect.Parse, as code's) and returns
// it compacted: nil when absent, ExpectNull for null.
func declaredExpect(raw json.RawMessage) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, nil
	}
	if string(raw) == "null" {
		return ExpectNull, nil
	}
	if _, err := expect.Parse(raw, expect.Code); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
