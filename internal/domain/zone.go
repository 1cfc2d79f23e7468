package domain

import (
	"bytes"
	"sync"
	"time"

	"github.com/observable-code/observable/internal/expect"
)

// MaxZoneLen bounds a zone name taken from an event (the longest IANA
// name is 32 bytes).
const MaxZoneLen = 64

var tzKey = []byte(`"tz"`)

// SourceZone is the IANA time zone an event's source names ("source":
// {"tz": "Europe/Berlin"}, which the SDK sends: the host's zone, the one
// its cron follows), or "" when it names none a job can be learned in. It
// scans the raw JSON rather than decoding it: every event of a run goes
// through here, and most carry the same short source.
func SourceZone(source []byte) string {
	i := bytes.Index(source, tzKey)
	if i < 0 {
		return ""
	}
	rest := bytes.TrimLeft(source[i+len(tzKey):], " \t\r\n")
	if len(rest) == 0 || rest[0] != ':' {
		return ""
	}
	rest = bytes.TrimLeft(rest[1:], " \t\r\n")
	if len(rest) < 2 || rest[0] != '"' {
		return ""
	}
	end := bytes.IndexByte(rest[1:], '"')
	if end < 1 || end > MaxZoneLen {
		return ""
	}
	name := rest[1 : 1+end]
	for _, c := range name { // IANA names only: an escape or anything else is not one
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '/' || c == '_' || c == '+' || c == '-') {
			return ""
		}
	}
	zone := string(name)
	if _, ok := zoneOf(zone); !ok {
		return ""
	}
	return zone
}

// zones caches loaded zones by name: time.LoadLocation reads and parses
// the embedded tzdata each time. Names are bounded by what tzdata knows.
var zones sync.Map // string → *time.Location, or nil for a name tzdata lacks

func zoneOf(name string) (*time.Location, bool) {
	if v, ok := zones.Load(name); ok {
		loc, _ := v.(*time.Location)
		return loc, loc != nil
	}
	loc, err := expect.LoadZone(name)
	if err != nil {
		return nil, false // unknown names are not cached: a hostile client could fill the map
	}
	if loc == time.UTC {
		loc = nil // UTC is always tried
	}
	zones.Store(name, loc)
	return loc, loc != nil
}
