package main

// Issue 9's audit, G1: a session's paired devices are capped
// (--max-devices-per-session). Without the cap, claims of fresh codes grew
// one session without bound, and GET /api/v1/session, which lists every
// device, with it (301 devices: 57 KB). Past the cap a claim is refused
// with 422 too_many_devices, whose message says what to do, and its code
// stays usable; a replacing pairing still pairs; concurrent claims, on two
// instances of one PostgreSQL database too, never pass the cap together.

import (
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/pgtest"
)

const devicesCap = 3

func TestHardeningDevicesCapSQLite(t *testing.T) {
	p := launch(t, filepath.Join(t.TempDir(), "devices.db"), "--max-devices-per-session", strconv.Itoa(devicesCap))
	awaitReady(t, 30*time.Second, p)
	devicesCapChecks(t, p, p)
}

func TestHardeningDevicesCapPostgres(t *testing.T) {
	a, b := twoInstances(t, pgtest.NewDatabase(t), "--max-devices-per-session", strconv.Itoa(devicesCap))
	devicesCapChecks(t, a, b)
}

// TestHardeningDevicesCapDefault: with no flag the cap is 20.
func TestHardeningDevicesCapDefault(t *testing.T) {
	p := launch(t, filepath.Join(t.TempDir(), "default.db"))
	awaitReady(t, 30*time.Second, p)
	key, code := newSession(t, p)
	claimPairing(t, p, code)
	for i := 1; i < 20; i++ {
		claimPairing(t, p, devicesPairing(t, p, key, false))
	}
	devicesRefused(t, p, devicesPairing(t, p, key, false), "")
	if n, size := devicesListed(t, p, key); n != 20 {
		t.Fatalf("GET /api/v1/session lists %d devices (%d bytes), want the default cap of 20", n, size)
	}
}

// devicesPairing makes a new pairing code of the session key.
func devicesPairing(t *testing.T, p *serverProc, key string, replace bool) string {
	t.Helper()
	var pr struct {
		Code string `json:"code"`
	}
	mustCall(t, http.StatusCreated, "POST", p.url+"/api/v1/pairings", key, `{"replace":`+strconv.FormatBool(replace)+`}`, &pr)
	return pr.Code
}

// devicesClaim claims code, with the device cookie of a phone already
// paired when cookie is not "".
func devicesClaim(p *serverProc, code, cookie string) apiReply {
	req, err := http.NewRequest("POST", p.url+"/api/v1/pairings/"+code+"/claim", strings.NewReader(`{"name":"phone"}`))
	if err != nil {
		return apiReply{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: "observable_device", Value: cookie})
	}
	resp, err := apiClient.Do(req)
	if err != nil {
		return apiReply{err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return apiReply{status: resp.StatusCode, header: resp.Header, body: body, err: err}
}

// devicesRefused checks that claiming code is refused for the cap, with a
// message that says what to do.
func devicesRefused(t *testing.T, p *serverProc, code, cookie string) {
	t.Helper()
	r := devicesClaim(p, code, cookie)
	var e validErrorBody
	if r.err != nil || r.status != http.StatusUnprocessableEntity || json.Unmarshal(r.body, &e) != nil || e.Error.Code != "too_many_devices" {
		t.Fatalf("claim past the cap: %d %v %s; want 422 too_many_devices", r.status, r.err, r.body)
	}
	for _, want := range []string{"--max-devices-per-session", "npair", "--replace"} {
		if !strings.Contains(e.Error.Message, want) {
			t.Fatalf("the refusal %q does not say %q", e.Error.Message, want)
		}
	}
}

// devicesListed is how many devices GET /api/v1/session lists, and its size.
func devicesListed(t *testing.T, p *serverProc, key string) (int, int) {
	t.Helper()
	var st struct {
		Devices []json.RawMessage `json:"devices"`
	}
	r := mustCall(t, http.StatusOK, "GET", p.url+"/api/v1/session", key, "", &st)
	return len(st.Devices), len(r.body)
}

func devicesCapChecks(t *testing.T, a, b *serverProc) {
	key, code := newSession(t, a)
	first := claimPairing(t, a, code)
	for i := 1; i < devicesCap; i++ {
		claimPairing(t, b, devicesPairing(t, a, key, false))
	}

	// Past the cap: refused, and the code is not used up by the refusal.
	waiting := devicesPairing(t, b, key, false)
	devicesRefused(t, a, waiting, "")
	devicesRefused(t, b, waiting, "")
	if n, _ := devicesListed(t, a, key); n != devicesCap {
		t.Fatalf("after refused claims the session has %d devices, want %d", n, devicesCap)
	}
	mustCall(t, http.StatusNoContent, "DELETE", b.url+"/api/v1/device", first, "", nil)
	third := claimPairing(t, a, waiting)
	devicesRefused(t, b, devicesPairing(t, a, key, false), "")

	// A phone of the session pairing again takes its own place.
	again := devicesClaim(a, devicesPairing(t, a, key, false), third)
	if again.status != http.StatusCreated {
		t.Fatalf("a paired phone pairing again with its session at the cap: %d %s; want 201", again.status, again.body)
	}
	if n, _ := devicesListed(t, b, key); n != devicesCap {
		t.Fatalf("after a phone paired again the session has %d devices, want %d", n, devicesCap)
	}

	// A replacing pairing still pairs, and leaves one device.
	claimPairing(t, b, devicesPairing(t, a, key, true))
	if n, _ := devicesListed(t, a, key); n != 1 {
		t.Fatalf("after a replacing claim the session has %d devices, want 1", n)
	}

	// Concurrent claims of fresh codes, on both instances: only the free
	// places are taken.
	const tries = 12
	codes := make([]string, tries)
	for i := range codes {
		codes[i] = devicesPairing(t, a, key, false)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for i, c := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := a
			if i%2 == 1 {
				p = b
			}
			r := devicesClaim(p, c, "")
			mu.Lock()
			statuses[r.status]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if statuses[http.StatusCreated] != devicesCap-1 || statuses[http.StatusUnprocessableEntity] != tries-devicesCap+1 {
		t.Fatalf("%d concurrent claims with %d places free: %v; want %d × 201 and the rest 422", tries, devicesCap-1, statuses, devicesCap-1)
	}
	n, size := devicesListed(t, b, key)
	if n != devicesCap {
		t.Fatalf("after concurrent claims the session has %d devices, want %d", n, devicesCap)
	}
	// A device is a few hundred bytes of JSON: the answer stays small.
	if size > devicesCap*1024 {
		t.Fatalf("GET /api/v1/session is %d bytes for %d devices", size, n)
	}
}
