package api

import (
	"errors"
	"testing"

	"github.com/observable-code/observable/internal/domain"
)

// TestJSONTextNamesTheField: a body's first byte that is not UTF-8, or its
// first unpaired surrogate escape, is named by its path, at any depth.
func TestJSONTextNamesTheField(t *testing.T) {
	const ff = "\xff"
	for body, want := range map[string]string{
		`{"name":"phone` + ff + `"}`:                                      "name",
		`{"notify":"all","muted":["ok","job` + ff + `"]}`:                 "muted[1]",
		`{"expect":{"every_s":60,"zone":"Europe/` + ff + `"},"x":1}`:      "expect.zone",
		`{"a":[1,{"b":[true,null,{"c":"` + ff + `"}]}],"d":"` + ff + `"}`: "a[1].b[2].c",
		`{"a":{"b":1},"c":[[],{}],"k` + ff + `":1}`:                       "k\ufffd",
		`{"name":"j\ud800"}`:                                              "name",
		`{"name":"j\ud83d\ude00","topic":["x","\udc00"]}`:                 "topic[1]",
		`{"u":"\\ud800","v":"` + ff + `"}`:                                "v",
		`["x","` + ff + `"]`:                                              "[1]",
		`"` + ff + `"`:                                                    "",
		`{"name":` + ff + `}`:                                             "",
	} {
		err := badText([]byte(body))
		var e *domain.Error
		if !errors.As(err, &e) || e.Code != domain.EInvalidJSON || e.Field != want {
			t.Errorf("%q: %v (%+v), want invalid_json naming %q", body, err, e, want)
		}
	}
	for _, body := range []string{`{"name":"café é \ud83d\ude00","u":"\\ud800"}`, `{}`, ``} {
		if err := badText([]byte(body)); err != nil {
			t.Errorf("%q: %v, want none", body, err)
		}
	}
}
