package expect

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"90": 90 * time.Second, "1.5": 1500 * time.Millisecond, "90s": 90 * time.Second, "15m": 15 * time.Minute,
		"1d": 24 * time.Hour, "2h30m": 150 * time.Minute, "1w": 7 * 24 * time.Hour, "500ms": 500 * time.Millisecond,
		" 1h 30m ": 90 * time.Minute, "1 h": time.Hour, "1.5h": 90 * time.Minute, "0": 0, "10min": 10 * time.Minute, "1D": 24 * time.Hour,
	} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("%q: %v %v, want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-5", "5x", "m", "1mo", "1.2.3s", "NaN", "Inf", "1e300", "99999999999w"} {
		if got, err := ParseDuration(in); err == nil {
			t.Errorf("%q: %v, want an error", in, got)
		}
	}
}

func TestExpectJSON(t *testing.T) {
	for in, want := range map[string]Expectation{
		`{"every_s": 3600}`:                   {Source: Code, Every: time.Hour},
		`{"every_s": "1d", "grace_s": "15m"}`: {Source: Code, Every: 24 * time.Hour, Grace: 15 * time.Minute},
		`{"cron": "0 3 * * *", "tz": "Europe/Berlin", "grace_s": 600, "max_duration_ms": 7200000, "min_duration_ms": 1000, "alert_after": 3}`: {
			Source: Code, Cron: "0 3 * * *", TZ: "Europe/Berlin", Grace: 10 * time.Minute, MaxDuration: 2 * time.Hour, MinDuration: time.Second, AlertAfter: 3},
		`{"source": "learned", "every_s": 60, "typical_ms": 50, "usual_ms": [40, 60], "next_due_at": null}`: {Source: Code, Every: time.Minute},
	} {
		got, err := Parse([]byte(in), Code)
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if !got.Same(want) {
			t.Errorf("%s: %+v, want %+v", in, got, want)
		}
	}
	for in, want := range map[string]string{
		`{"evry_s": 60}`:                           "unknown field",
		`{}`:                                       "set every_s",
		`{"every_s": 30}`:                          "shortest period is 60",
		`{"every_s": 60, "cron": "* * * * *"}`:     "not both",
		`{"every_s": 3000000}`:                     "31 days",
		`{"every_s": 60, "tz": "Europe/Berlin"}`:   "cron schedule only",
		`{"every_s": -1}`:                          "every_s",
		`{"every_s": "soon"}`:                      "every_s",
		`{"every_s": 60, "max_duration_ms": "90"}`: "needs a unit",
		`{"every_s": 60, "min_duration_ms": 5, "max_duration_ms": 5}`: "less than",
		`{"every_s": 60, "alert_after": -1}`:                          "alert_after",
		`{"every_s": 60, "alert_after": 5000}`:                        "alert_after",
		`{"every_s": 60, "grace_s": 1e12}`:                            "grace_s",
		`{"cron": "0 3 * * *", "tz": "Nowhere/Land"}`:                 "IANA",
		`[1]`: "expect",
	} {
		if _, err := Parse([]byte(in), User); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error mentioning %q", in, err, want)
		}
	}
	// What the server stores and answers: EXPECT plus source, typical_ms, usual_ms; round trips.
	e := Expectation{Source: Learned, Cron: "0 3 * * *", TZ: "Europe/Berlin", Grace: 30 * time.Minute,
		MaxDuration: 13 * time.Second, MinDuration: time.Second, Typical: 3300 * time.Millisecond,
		UsualLow: 3100 * time.Millisecond, UsualHigh: 3800 * time.Millisecond}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"source":"learned","cron":"0 3 * * *","tz":"Europe/Berlin","grace_s":1800,"max_duration_ms":13000,"min_duration_ms":1000,"typical_ms":3300,"usual_ms":[3100,3800]}`
	if string(b) != want {
		t.Fatalf("JSON %s\nwant %s", b, want)
	}
	back, err := Parse(b, Learned)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Same(e) {
		t.Fatalf("round trip %+v", back)
	}
	if b, _ := json.Marshal(Expectation{Source: User, Every: 90 * time.Second}); string(b) != `{"source":"user","every_s":90}` {
		t.Fatalf("JSON %s", b)
	}
}

func TestDescribe(t *testing.T) {
	for _, c := range []struct {
		e    Expectation
		want string
	}{
		{Expectation{Every: time.Minute}, "every minute"},
		{Expectation{Every: 15 * time.Minute}, "every 15 minutes"},
		{Expectation{Every: 6 * time.Hour}, "every 6 hours"},
		{Expectation{Every: time.Hour}, "every hour"},
		{Expectation{Every: 24 * time.Hour}, "every day"},
		{Expectation{Every: 14 * 24 * time.Hour}, "every 2 weeks"},
		{Expectation{Every: 90*time.Minute + 10*time.Second}, "every 1 h 30 min 10 s"},
		{Expectation{Cron: "15 * * * *"}, "hourly at :15"},
		{Expectation{Cron: "15 9-17 * * 1-5", TZ: "Europe/Berlin"}, "weekdays, hourly at :15 from 09:15 to 17:15 (Europe/Berlin)"},
		{Expectation{Source: Learned, Cron: "5 22-23,0-5 * * *"}, "hourly around :05 from 22:05 to 05:05"},
		{Expectation{Cron: "5 9-17 * * 2"}, "cron 5 9-17 * * 2"},
		{Expectation{Source: Learned, Cron: "0 3 * * *", UsualLow: 3100 * time.Millisecond, UsualHigh: 3900 * time.Millisecond}, "every day around 03:00, usually 3–4 s"},
		{Expectation{Cron: "0 9 * * 1-5", TZ: "Europe/Berlin"}, "weekdays at 09:00 (Europe/Berlin)"},
		{Expectation{Cron: "30 10 * * 0,6"}, "weekends at 10:30"},
		{Expectation{Cron: "0 3 * * 1"}, "every Monday at 03:00"},
		{Expectation{Cron: "0 3 * * 1,3,5"}, "Mon, Wed, Fri at 03:00"},
		{Expectation{Cron: "0 2 1 * *"}, "monthly on the 1st at 02:00"},
		{Expectation{Cron: "0 2 22 * *"}, "monthly on the 22nd at 02:00"},
		{Expectation{Cron: "*/5 * * * *"}, "every 5 minutes"},
		{Expectation{Cron: "0 */6 * * *"}, "every 6 hours at :00"},
		{Expectation{Cron: "@daily"}, "every day at 00:00"},
		{Expectation{Cron: "0 3 1-7 * 1"}, "cron 0 3 1-7 * 1"},
		{Expectation{Cron: "0 9-17 * * *", TZ: "UTC"}, "hourly at :00 from 09:00 to 17:00"},
		{Expectation{Cron: "0 9-17,20 * * *"}, "cron 0 9-17,20 * * *"},
		{Expectation{Every: time.Hour, Typical: 200 * time.Millisecond}, "every hour, usually 0.2 s"},
		{Expectation{Every: time.Hour, UsualLow: 40 * time.Millisecond, UsualHigh: 60 * time.Millisecond}, "every hour, usually 40–60 ms"},
		{Expectation{Every: time.Hour, UsualLow: 3 * time.Minute, UsualHigh: 5 * time.Minute}, "every hour, usually 3–5 min"},
		{Expectation{Every: 24 * time.Hour, UsualLow: 70 * time.Minute, UsualHigh: 3 * time.Hour}, "every day, usually 1–3 h"},
		{Expectation{Every: 24 * time.Hour, MaxDuration: 2 * time.Hour}, "every day, at most 2 h"},
		{Expectation{Every: time.Hour, UsualLow: 1200 * time.Millisecond, UsualHigh: 1400 * time.Millisecond}, "every hour, usually 1.2–1.4 s"},
		{Expectation{}, "no schedule"},
	} {
		if got := c.e.Describe(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.e, got, c.want)
		}
	}
}

func TestExpectOff(t *testing.T) {
	e, err := Parse([]byte(`{"off": true}`), User)
	if err != nil || !e.Off || e.Source != User {
		t.Fatalf(`{"off": true} from the user: %+v, %v`, e, err)
	}
	if b, _ := json.Marshal(e); string(b) != `{"source":"user","off":true}` {
		t.Errorf("off written as %s", b)
	}
	if d := e.Describe(); !strings.Contains(d, "turned off") {
		t.Errorf("Describe() = %q", d)
	}
	for in, src := range map[string]Source{`{"off": true}`: Code, `{"off": true, "every_s": 60}`: User, `{"off": true, "grace_s": 60}`: User} {
		if _, err := Parse([]byte(in), src); err == nil {
			t.Errorf("%s from %s: accepted", in, src)
		}
	}
}
