package channel

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/observable-code/observable/internal/domain"
)

func TestNtfyPublish(t *testing.T) {
	type publish struct {
		Topic, Title, Message, Click string
		Priority                     int
		Tags                         []string
	}
	var got publish
	var auth string
	srv, senders := receive(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		// ntfy's JSON publishing: a POST of the JSON to the server root.
		if r.Method != http.MethodPost || r.URL.Path != "/" {
			http.Error(w, `{"code":40401,"http":404,"error":"page not found"}`, http.StatusNotFound)
			return
		}
		dec := json.NewDecoder(bytesReader(body))
		dec.DisallowUnknownFields()
		got = publish{}
		if err := dec.Decode(&got); err != nil || got.Topic == "" {
			http.Error(w, `{"code":40001,"http":400,"error":"invalid request: `+err.Error()+`"}`, http.StatusBadRequest)
			return
		}
		auth = r.Header.Get("Authorization")
		w.Write([]byte(`{"id":"abc","event":"message"}`))
	})
	sec := domain.ChannelSecrets{Server: srv.URL, Topic: "alerts", Token: "tk_0123456789abcdefghijklmnopq"}
	m := NewMessage(failedJob(), sec, "https://obs.example.com")
	if err := senders[domain.ChannelNtfy].Send(context.Background(), domain.Channel{}, sec, m); err != nil {
		t.Fatal(err)
	}
	if got.Topic != "alerts" || got.Title != "nightly_sync failed" || got.Priority != 4 || len(got.Tags) != 1 || got.Tags[0] != "rotating_light" ||
		got.Click != "https://obs.example.com/runs/42" || got.Message != m.Body || auth != "Bearer "+sec.Token {
		t.Errorf("failed: %+v, auth %q", got, auth)
	}
	sec.Token = ""
	if err := senders[domain.ChannelNtfy].Send(context.Background(), domain.Channel{}, sec, NewMessage(recoveredJob(), sec, "https://obs.example.com")); err != nil {
		t.Fatal(err)
	}
	if got.Priority != 3 || got.Tags[0] != "white_check_mark" || auth != "" {
		t.Errorf("recovered: %+v, auth %q", got, auth)
	}
	for kind, want := range map[string]int{domain.IncidentMissed: 4, domain.IncidentOverdue: 4, domain.IncidentSlow: 4, domain.IncidentFast: 4, domain.AlertEvent: 3, domain.ChannelKindTest: 3} {
		if p := ntfyFormat(Message{Kind: kind}, "t"); p.Priority != want {
			t.Errorf("priority of %s = %d, want %d", kind, p.Priority, want)
		}
	}
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
