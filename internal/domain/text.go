package domain

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// Why a string is refused: each is text no database here keeps as sent,
// or serves back as strict JSON. PostgreSQL refuses NUL and invalid UTF-8
// in text (failing the whole group commit), and SQLite would store bytes
// that strict JSON parsers reject when they are served back.
const (
	reasonNUL  = `must not hold a NUL character (U+0000, "\u0000"), which cannot be stored; remove it or replace it`
	reasonUTF8 = "must be valid UTF-8, and holds bytes that are not; send text encoded as UTF-8"
	// A lone half of a UTF-16 pair is no character: strict parsers refuse
	// it where metadata is served back as sent, and Go's decoder would
	// quietly make it U+FFFD in a string.
	reasonSurrogate = `must not hold an unpaired surrogate escape (such as "\ud800" without the low half that must follow it), which is no character; send the character itself, or both halves of its pair`
)

// TextProblem says why s cannot be stored, or "" when it can.
func TextProblem(s string) string {
	if strings.IndexByte(s, 0) >= 0 {
		return reasonNUL
	}
	if !utf8.ValidString(s) {
		return reasonUTF8
	}
	return ""
}

// TextFault finds, in a JSON body, the first thing no database stores as
// sent: a byte that is not UTF-8, or an unpaired surrogate escape. It
// returns its offset and why it is refused, or -1 and "".
func TextFault(raw []byte) (int, string) {
	if !utf8.Valid(raw) {
		for i := 0; i < len(raw); {
			r, n := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && n == 1 {
				return i, reasonUTF8
			}
			i += n
		}
	}
	if i := loneSurrogate(raw); i >= 0 {
		return i, reasonSurrogate
	}
	return -1, ""
}

// badEscape finds the first escape of raw JSON that no database keeps:
// \u0000, or half of a surrogate pair alone. In valid JSON a backslash
// only starts an escape inside a string, so jumping from one to the next
// (two bytes each, \\ included) never needs to track where strings begin
// and end.
func badEscape(raw []byte) (int, string) {
	for i := 0; i < len(raw); {
		j := bytes.IndexByte(raw[i:], '\\')
		if j < 0 {
			return -1, ""
		}
		i += j
		if i+6 <= len(raw) && raw[i+1] == 'u' {
			if string(raw[i+2:i+6]) == "0000" {
				return i, reasonNUL
			}
			if hi, ok := surrogateAt(raw, i); ok {
				if lo, ok := surrogateAt(raw, i+6); ok && hi < 0xDC00 && lo >= 0xDC00 {
					i += 12
					continue
				}
				return i, reasonSurrogate
			}
		}
		i += 2
	}
	return -1, ""
}

// loneSurrogate is the offset of raw's first unpaired surrogate escape, or -1.
func loneSurrogate(raw []byte) int {
	for i := 0; i < len(raw); {
		j, p := badEscape(raw[i:])
		switch {
		case j < 0:
			return -1
		case p == reasonSurrogate:
			return i + j
		}
		i += j + 6 // past a \u0000
	}
	return -1
}

// nulEscape is the offset of raw's first \u0000 escape, or -1.
func nulEscape(raw []byte) int {
	for i := 0; i < len(raw); {
		j, p := badEscape(raw[i:])
		switch {
		case j < 0:
			return -1
		case p == reasonNUL:
			return i + j
		}
		i += j + 6 // past an unpaired surrogate
	}
	return -1
}

// surrogateAt reads the escape \uXXXX at raw[i], and says whether it is
// half of a UTF-16 surrogate pair.
func surrogateAt(raw []byte, i int) (rune, bool) {
	if i+6 > len(raw) || raw[i] != '\\' || raw[i+1] != 'u' {
		return 0, false
	}
	var r rune
	for _, c := range raw[i+2 : i+6] {
		switch {
		case '0' <= c && c <= '9':
			r = r<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, r >= 0xD800 && r <= 0xDFFF
}
