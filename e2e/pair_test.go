package e2e

import (
	"net/http"
	"strings"
	"testing"
)

func TestPairByOpeningTheLinkAndTapping(t *testing.T) {
	srv := startServer(t)
	s := srv.newSession("ana-laptop")
	p := newPhone(t, srv)

	p.open("/pair/" + s.Code)
	p.wait("the pair page", `document.querySelector('h1') && document.querySelector('#device-name').value`)
	body := p.text("main")
	for _, want := range []string{"Pair this phone?", "ana-laptop", "Session created", "This code expires in", "observable pair"} {
		if !strings.Contains(body, want) {
			t.Errorf("the pair page does not say %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "not secure") {
		t.Errorf("the pair page warns about plain HTTP on 127.0.0.1, which browsers treat as secure:\n%s", body)
	}
	checkContrast(t, p, "pair page")
	p.shot("pair")
	p.dark(true)
	checkContrast(t, p, "pair page, dark")
	p.shot("pair-dark")
	p.dark(false)

	// Opening the link again (a link preview, a second look) does not use it up.
	p.open("/pair/" + s.Code)
	p.wait("the pair page again", `document.querySelector('#pair-button')`)

	p.tap("#pair-button")
	p.wait("the feed", `location.pathname === '/' && document.querySelector('#view h1') && document.querySelector('#view h1').textContent === 'Feed'`)

	var st struct {
		Paired  bool `json:"paired"`
		Devices []struct {
			Name string `json:"name"`
		} `json:"devices"`
	}
	if code := srv.call("GET", "/api/v1/session", s.Key, nil, &st); code != http.StatusOK || !st.Paired || len(st.Devices) != 1 {
		t.Fatalf("GET /api/v1/session: status %d, %+v; want one paired device", code, st)
	}
	if st.Devices[0].Name != "Pixel 7" {
		t.Errorf("device name %q, want the phone's model from its browser, Pixel 7", st.Devices[0].Name)
	}
	if p.deviceToken() == "" {
		t.Errorf("no observable_device cookie after pairing")
	}

	// The code is used now: the page says so and how to get a new one. It
	// answers 410 Gone, which Chromium logs as a failed load of the page.
	p.allowHTTP("/pair/", 410)
	p.open("/pair/" + s.Code)
	p.wait("the used-code page", `document.querySelector('h1')`)
	if got := p.text("main"); !strings.Contains(got, "already used") || !strings.Contains(got, "observable pair") {
		t.Errorf("used-code page:\n%s", got)
	}
}
