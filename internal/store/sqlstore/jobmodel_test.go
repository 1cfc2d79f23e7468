package sqlstore

import (
	"slices"
	"testing"
)

func TestRecentRoundTrip(t *testing.T) {
	for _, r := range [][][2]int64{nil, {{1772323200000, 3000}}, {{1772323200000, -1}, {1772326800000, 4000}, {1772326790000, 0}}} {
		text := formatRecent(r)
		back, err := parseRecent(text)
		if err != nil || !slices.Equal(back, r) {
			t.Fatalf("%v → %q → %v, %v", r, text, back, err)
		}
	}
	if _, err := parseRecent("12:x"); err == nil {
		t.Fatal("parseRecent took a broken column")
	}
}
