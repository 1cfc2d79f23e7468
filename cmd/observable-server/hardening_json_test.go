package main

// Issue 9's audit, G3 and G8, on the JSON routes that are not events:
// invalid UTF-8 in a body is refused with 400 naming the field that holds
// it (it answered invalid_json without a field), and a declared oversized
// body is refused at once with advice that fits the route (it told every
// route to "send fewer events per request").

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// jsonPhone starts a server and pairs a phone: its session key, device token.
func jsonPhone(t *testing.T, extra ...string) (*serverProc, string, string) {
	p := launch(t, filepath.Join(t.TempDir(), "json.db"), extra...)
	awaitReady(t, 30*time.Second, p)
	key, code := newSession(t, p)
	return p, key, claimPairing(t, p, code)
}

// jsonExpect checks that r is a 400 invalid_json naming field.
func jsonExpect(t *testing.T, r apiReply, what, field string) {
	t.Helper()
	var e validErrorBody
	if r.err != nil || r.status != http.StatusBadRequest || json.Unmarshal(r.body, &e) != nil {
		t.Fatalf("%s: %d %v %s; want 400 naming %s", what, r.status, r.err, r.body, field)
	}
	if e.Error.Code != "invalid_json" || e.Error.Field != field || !strings.HasPrefix(e.Error.Message, field+" ") {
		t.Fatalf("%s: %s; want invalid_json with field %q, named in the message", what, r.body, field)
	}
}

func TestHardeningJSONInvalidUTF8NamesTheField(t *testing.T) {
	p, key, device := jsonPhone(t)
	postEvent(t, p, key, "e1", "nightly", "completed")
	const ff = "\xff"
	for _, c := range []struct {
		method, path, token, body, field string
	}{
		{"PATCH", "/api/v1/jobs/nightly", device, `{"paused":true,"expect":{"every_s":3600,"zone":"Europe/Par` + ff + `s"}}`, "expect.zone"},
		{"PATCH", "/api/v1/jobs/nightly", device, `{"expect":{"cron":"0 3 * * *","x":[1,"` + ff + `"]}}`, "expect.x[1]"},
		{"PATCH", "/api/v1/device", device, `{"notify":"all","name":"ph` + ff + `ne"}`, "name"},
		{"PATCH", "/api/v1/device", device, `{"muted":["a","b","c` + ff + `"]}`, "muted[2]"},
		{"POST", "/api/v1/pairings", key, `{"replace":false,"n` + ff + `":1}`, "n\ufffd"},
		{"POST", "/api/v1/sessions", "", `{"host":"build-` + ff + `"}`, "host"},
	} {
		jsonExpect(t, callAPI(c.method, p.url+c.path, c.token, c.body), c.method+" "+c.path, c.field)
	}
	// Nothing of them was stored.
	var d struct {
		Name  string   `json:"name"`
		Muted []string `json:"muted"`
	}
	mustCall(t, http.StatusOK, "GET", p.url+"/api/v1/device", device, "", &d)
	if d.Name != "test phone" || len(d.Muted) != 0 {
		t.Fatalf("the refused settings were stored: %+v", d)
	}
}

// TestHardeningJSONChannelsNamesTheField is G3 on POST /api/v1/channels,
// whose body is read by readChannelBody (channels_fields.go), not by the
// shared decoder: it passes once that calls badText.
func TestHardeningJSONChannelsNamesTheField(t *testing.T) {
	p, _, device := jsonPhone(t, chanwAllow()...)
	jsonExpect(t, callAPI("POST", p.url+"/api/v1/channels", device, `{"type":"ntfy","topic":"alerts-`+"\xff"+`"}`), "POST /api/v1/channels", "topic")
}

// TestHardeningJSONDeclaredTooLarge: a declared body over --max-body-bytes
// is refused at once on every JSON route, and only the routes carrying
// events say to send fewer of them.
func TestHardeningJSONDeclaredTooLarge(t *testing.T) {
	p, key, device := jsonPhone(t, "--max-body-bytes", "4096")
	_, code := newSession(t, p)
	for _, c := range []struct {
		method, path, token string
		events              bool
	}{
		{"PATCH", "/api/v1/device", device, false},
		{"PATCH", "/api/v1/jobs/nightly", device, false},
		{"POST", "/api/v1/pairings/" + code + "/claim", "", false},
		{"POST", "/api/v1/pairings", key, false},
		{"POST", "/api/v1/events", key, true},
	} {
		start := time.Now()
		head := c.method + " " + c.path + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000000"
		if c.token != "" {
			head += "\r\nAuthorization: Bearer " + c.token
		}
		resp, body := edgeReadAnswer(t, edgeRawRequest(t, p.url, head, `{"name":"`), 3*time.Second)
		var e validErrorBody
		if resp.StatusCode != http.StatusRequestEntityTooLarge || json.Unmarshal(body, &e) != nil || e.Error.Code != "body_too_large" {
			t.Fatalf("%s %s declaring 5 MB: %d %s; want 413 body_too_large", c.method, c.path, resp.StatusCode, body)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Fatalf("%s %s: the 413 took %v", c.method, c.path, took)
		}
		if fewer := strings.Contains(e.Error.Message, "fewer events"); fewer != c.events || !strings.Contains(e.Error.Message, "4096") {
			t.Fatalf("%s %s: %q; want the limit, and advice to send fewer events only on an events route", c.method, c.path, e.Error.Message)
		}
	}
}
