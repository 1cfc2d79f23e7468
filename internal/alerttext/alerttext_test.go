package alerttext

import "testing"

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		ms   float64
		want string
	}{
		{0, "0 ms"}, {4.4, "4 ms"}, {450, "450 ms"}, {999.4, "999 ms"}, {999.6, "1 s"},
		{1000, "1 s"}, {3200, "3.2 s"}, {3249, "3.2 s"}, {9949, "9.9 s"}, {9960, "10 s"},
		{12000, "12 s"}, {59400, "59 s"}, {59600, "1 min"}, {245000, "4 min 5 s"},
		{3599000, "59 min 59 s"}, {3600000, "1 h"}, {7380000, "2 h 3 min"}, {-1, ""},
	}
	for _, tt := range tests {
		if got := Duration(tt.ms); got != tt.want {
			t.Errorf("Duration(%v) = %q, want %q", tt.ms, got, tt.want)
		}
	}
}

// Text that would spoof another job in a notification, or break its one or
// two lines, is shown for what it is.
func TestCleanShowsInvisibleCharacters(t *testing.T) {
	const mark = "\uFFFD"
	tests := []struct {
		name, in, want string
	}{
		{"plain text stays", "nightly_sync", "nightly_sync"},
		{"accents, CJK and emoji stay", "café 夜間 🚀 ❤️", "café 夜間 🚀 ❤️"},
		{"right-to-left override", "invoice\u202Efdp.exe", "invoice" + mark + "fdp.exe"},
		{"every embedding and override", "a\u202Ab\u202Bc\u202Cd\u202De", "a" + mark + "b" + mark + "c" + mark + "d" + mark + "e"},
		{"isolates", "\u2066x\u2067y\u2068z\u2069", mark + "x" + mark + "y" + mark + "z" + mark},
		{"directional marks", "l\u200Er\u200Fa\u061C", "l" + mark + "r" + mark + "a" + mark},
		{"zero-width space makes a look-alike", "deploy\u200B", "deploy" + mark},
		{"zero-width non-joiner and joiner", "a\u200Cb\u200Dc", "a" + mark + "b" + mark + "c"},
		{"word joiner and byte order mark", "\uFEFFa\u2060b", mark + "a" + mark + "b"},
		{"other format characters", "soft\u00ADhyphen\U000E0041", "soft" + mark + "hyphen" + mark},
		{"blank fillers", "x\u3164y\u115F", "x" + mark + "y" + mark},
		{"C0 and C1 controls become spaces", "a\tb\nc\x1b[0m\u0085d\x7f", "a b c [0m d "},
		{"line and paragraph separators become spaces", "a\u2028b\u2029c", "a b c"},
		{"invalid UTF-8 is marked", "a\xffb", "a" + mark + "b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Clean(tt.in); got != tt.want {
				t.Fatalf("Clean(%+q) = %+q, want %+q", tt.in, got, tt.want)
			}
		})
	}
}

func TestClip(t *testing.T) {
	if got := Clip("abcdef", 4); got != "abc…" {
		t.Errorf("Clip = %q", got)
	}
	if got := Clip("ab   cdef", 5); got != "ab…" {
		t.Errorf("Clip keeps no space before the ellipsis: %q", got)
	}
	if got := Clip("𝔘𝔘𝔘", 3); got != "𝔘𝔘𝔘" {
		t.Errorf("Clip counts runes, not bytes: %q", got)
	}
}
