package push

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/syncbuf"
)

// The whole path through the real binary: pair a phone over the API,
// subscribe it to the stand-in push service, post a failure with the
// session key, and read the notification the stand-in decrypts.
func TestServerBinaryDeliversPush(t *testing.T) {
	const contact = "mailto:ops@example.org"
	dir := t.TempDir()
	bin := buildServer(t, dir)
	pushSvc := newStandIn(t, contact)
	addr := freeAddr(t)
	base := "http://" + addr

	logs := &syncbuf.Buffer{}
	cmd := exec.Command(bin, "--listen", addr, "--database", filepath.Join(dir, "x.db"), "--public-url", base,
		"--sessions-per-minute", "0", "--push-allow", pushSvc.hostPort(), "--push-contact", contact, "--log-level", "debug")
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Error("the server did not stop within 10 s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	waitHealthy(t, base, exited)

	var key struct {
		Key string `json:"vapid_public_key"`
	}
	call(t, "GET", base+"/api/v1/push/key", "", nil, http.StatusOK, &key)
	pushSvc.setKey(key.Key)

	var session struct {
		SessionID string `json:"session_id"`
		Pairing   struct {
			Code string `json:"code"`
		} `json:"pairing"`
	}
	call(t, "POST", base+"/api/v1/sessions", "", map[string]any{"host": "ci"}, http.StatusCreated, &session)
	var device struct {
		Token string `json:"device_token"`
	}
	call(t, "POST", base+"/api/v1/pairings/"+session.Pairing.Code+"/claim", "", map[string]any{"name": "test phone"}, http.StatusCreated, &device)

	_, sub := pushSvc.subscribe("phone")
	subJSON := func(endpoint string) map[string]any {
		return map[string]any{"endpoint": endpoint, "expirationTime": nil, "keys": map[string]string{"p256dh": sub.P256dh, "auth": sub.Auth}}
	}
	var refused struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	call(t, "PUT", base+"/api/v1/device/push", device.Token, subJSON("https://169.254.169.254/latest/meta-data"), http.StatusBadRequest, &refused)
	if refused.Error.Code != "invalid_endpoint" || !strings.Contains(refused.Error.Message, "--push-allow") {
		t.Fatalf("a metadata-service endpoint was answered %+v", refused.Error)
	}
	call(t, "PUT", base+"/api/v1/device/push", device.Token, subJSON(sub.Endpoint), http.StatusNoContent, nil)

	call(t, "POST", base+"/api/v1/events", session.SessionID, map[string]any{
		"name": "nightly_sync", "status": "failed", "duration_ms": 3200,
		"error": map[string]string{"type": "KeyError", "message": "'customer_id'"},
	}, http.StatusAccepted, nil)

	select {
	case d := <-pushSvc.got:
		want := message{
			Title: "nightly_sync failed", Body: "nightly_sync failed after 3.2 s — KeyError: 'customer_id'",
			Tag: "job:nightly_sync", URL: "/runs/1", Kind: "failed", Job: "nightly_sync", Seq: 1, Status: "failed",
		}
		if d.msg != want || d.urgency != "high" {
			t.Fatalf("notification %+v urgency %q, want %+v, high", d.msg, d.urgency, want)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no notification reached the push service within 15 s")
	}
	for _, secret := range []string{"/push/phone", sub.P256dh, sub.Auth} {
		if strings.Contains(logs.String(), secret) {
			t.Fatalf("the server logged a subscription secret %q", secret)
		}
	}
}

func buildServer(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "observable-server")
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "cmd", "observable-server")); err != nil {
		t.Fatalf("cannot find the server's source from %s: %v", root, err)
	}
	build := exec.Command("go", "build", "-o", bin, "./cmd/observable-server")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/observable-server: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitHealthy(t *testing.T, base string, exited <-chan error) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			t.Fatalf("the server exited at start: %v", err)
		default:
		}
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the server was not healthy within 15 s")
}

// call makes one API request and decodes the answer into out (if not nil).
func call(t *testing.T, method, url, bearer string, body any, wantStatus int, out any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		t.Fatalf("%s %s: %d %s, want %d", method, strings.SplitN(url, "/api/", 2)[1], resp.StatusCode, raw, wantStatus)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatal(fmt.Errorf("%s %s: %w: %s", method, url, err, raw))
		}
	}
}
