package api

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/observable-code/observable/internal/domain"
)

// badText refuses a JSON body holding text no database keeps as sent
// (a byte that is not UTF-8, an unpaired surrogate escape), naming the
// field it is in: the decoder would quietly turn it into U+FFFD, and what
// is stored must be what the client meant. nil when the body has none.
func badText(body []byte) error {
	off, reason := domain.TextFault(body)
	if off < 0 {
		return nil
	}
	field := jsonPathAt(body, off)
	if field == "" {
		return domain.Errorf(domain.EInvalidJSON, "the body %s", reason)
	}
	e := domain.Errorf(domain.EInvalidJSON, "%s %s", field, reason)
	e.Field = field
	return e
}

// jsonFrame is an object or array being walked: the key or index of its
// member being read.
type jsonFrame struct {
	object, wantKey bool
	key             string
	index           int
}

// jsonPathAt names the member of the JSON document body whose token holds
// byte off ("muted[1]", "metadata.k"); "" when body is not JSON, or off is
// outside every string. Only a string can hold a byte that is not ASCII
// (or an escape), so the first token ending past off is the one.
func jsonPathAt(body []byte, off int) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	var stack []jsonFrame
	for {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		var top *jsonFrame
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		delim, isDelim := tok.(json.Delim)
		closing := isDelim && (delim == '}' || delim == ']')
		if top != nil && top.object && top.wantKey && !closing {
			top.key, top.wantKey = tok.(string), false
			if dec.InputOffset() > int64(off) {
				return jsonPath(stack)
			}
			continue
		}
		if !closing && top != nil && !top.object {
			top.index++
		}
		if dec.InputOffset() > int64(off) {
			if _, isString := tok.(string); isString {
				return jsonPath(stack)
			}
			return ""
		}
		switch {
		case isDelim && !closing:
			stack = append(stack, jsonFrame{object: delim == '{', wantKey: delim == '{', index: -1})
			continue
		case closing:
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				return ""
			}
			top = &stack[len(stack)-1]
		}
		if top != nil && top.object {
			top.wantKey = true // the member's value is read
		}
	}
}

func jsonPath(stack []jsonFrame) string {
	var b strings.Builder
	for _, f := range stack {
		if f.object {
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(f.key)
		} else {
			b.WriteString("[" + strconv.Itoa(f.index) + "]")
		}
	}
	return b.String()
}
