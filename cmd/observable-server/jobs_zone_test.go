package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"
)

// A cron job on a host in Berlin, reported with the host's zone in its
// source (as the SDK sends it), is learned as "03:00 in Europe/Berlin"
// across the change to summer time, and its next run is due at 03:00
// local; the same history without a zone is learned in UTC.
func TestJobsZoneFromTheSource(t *testing.T) {
	p := launch(t, filepath.Join(t.TempDir(), "zone.db"))
	awaitReady(t, 15*time.Second, p)
	key, _ := newSession(t, p)
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	post := func(name, source string) {
		var runs []string
		for i := 0; i < 6; i++ { // 26 March to 31 March 2026: summer time from the 29th
			end := time.Date(2026, 3, 26+i, 3, 0, 4, 0, berlin)
			runs = append(runs, fmt.Sprintf(`{"name":%q,"status":"completed","duration_ms":4000,"timestamp":%q%s}`,
				name, end.UTC().Format(time.RFC3339), source))
		}
		jobsModelPost(t, p, key, runs...)
	}
	post("backup", `,"source":{"host":"db1","tz":"Europe/Berlin"}`)
	post("plain", `,"source":{"host":"db1"}`)

	var j struct {
		Expect *struct {
			Cron string `json:"cron"`
			TZ   string `json:"tz"`
		} `json:"expect"`
	}
	mustCall(t, http.StatusOK, "GET", p.url+"/api/v1/jobs/backup", key, "", &j)
	if j.Expect == nil || j.Expect.Cron != "0 3 * * *" || j.Expect.TZ != "Europe/Berlin" {
		t.Fatalf("backup learned %+v; want cron 0 3 * * * in Europe/Berlin", j.Expect)
	}
	j.Expect = nil
	mustCall(t, http.StatusOK, "GET", p.url+"/api/v1/jobs/plain", key, "", &j)
	if j.Expect != nil && j.Expect.TZ != "" {
		t.Fatalf("plain learned %+v; want nothing in a zone it was not told", j.Expect)
	}
}
