package api

import (
	"net/http/httptest"
	"testing"
)

// Over HTTP/2 the connection cannot be taken over: the stream is held
// through the ResponseWriter instead, with the same headers and the same
// frames as over HTTP/1.1.
func TestStreamOverHTTP2(t *testing.T) {
	h := newHarness(t)
	s := h.newSession()
	srv := httptest.NewUnstartedServer(h.srv.Handler())
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	plain := h.http
	h.http = srv // h.stream reads h.http
	st := h.stream(s.key, map[string]string{"Last-Event-ID": "0"}, "")
	h.http = plain
	if st.resp.ProtoMajor != 2 || st.resp.StatusCode != 200 {
		t.Fatalf("stream: %s %d; want HTTP/2 200", st.resp.Proto, st.resp.StatusCode)
	}
	for _, name := range []string{"X-Content-Type-Options", "Referrer-Policy"} {
		if st.resp.Header.Get(name) == "" {
			t.Errorf("the held stream has no %s", name)
		}
	}
	if r := h.post(s, `{"id":"h2-1","name":"nightly","status":"completed"}`); r.status != 202 {
		t.Fatalf("post: %d %s", r.status, r.body)
	}
	if id, ev := st.next(t); id != "1" || ev["id"] != "h2-1" {
		t.Fatalf("first event over HTTP/2: id %s, %v", id, ev)
	}
}
