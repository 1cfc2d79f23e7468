package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
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

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "observable-server-test-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "observable-server")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is one server process on a fixed port and database.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	url  string
	port string
	db   string
	log  *bytes.Buffer
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
}

func startServer(t *testing.T, db, port string, extra ...string) *proc {
	t.Helper()
	p := &proc{t: t, port: port, db: db, url: "http://127.0.0.1:" + port, log: &bytes.Buffer{}}
	args := append([]string{"--listen", "127.0.0.1:" + port, "--database", db, "--public-url", p.url,
		"--sessions-per-minute", "0", "--session-rate", "0"}, extra...)
	p.cmd = exec.Command(binary, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get(p.url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready:\n%s", p.log)
		}
	}
}

func (p *proc) createSession() string {
	resp, err := http.Post(p.url+"/api/v1/sessions", "application/json", nil)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		SessionID string `json:"session_id"`
	}
	json.NewDecoder(resp.Body).Decode(&body)
	return body.SessionID
}

func post(client *http.Client, url, key, body string) (int, error) {
	req, _ := http.NewRequest("POST", url+"/api/v1/events", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// storedIDs pages through every event of the session.
func (p *proc) storedIDs(key string) map[string]int {
	ids := map[string]int{}
	before := ""
	for {
		req, _ := http.NewRequest("GET", p.url+"/api/v1/events?limit=200"+before, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			p.t.Fatal(err)
		}
		var page struct {
			Events []struct {
				ID string `json:"id"`
			} `json:"events"`
			NextBefore *int64 `json:"next_before"`
		}
		json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		for _, e := range page.Events {
			ids[e.ID]++
		}
		if page.NextBefore == nil {
			return ids
		}
		before = fmt.Sprintf("&before=%d", *page.NextBefore)
	}
}

// TestAcknowledgedEventsSurviveSIGKILL kills the server with no chance to
// clean up while posts are in flight; every event it acknowledged must be
// there after a restart, once.
func TestAcknowledgedEventsSurviveSIGKILL(t *testing.T) {
	db, port := filepath.Join(t.TempDir(), "durable.db"), freePort(t)
	p := startServer(t, db, port)
	key := p.createSession()
	ps := startPosters(t, p.url, key, 16, 1<<30, false, func(w, i int) ([]string, string) {
		id := fmt.Sprintf("w%d-%d", w, i)
		return []string{id, id + "-b"}, fmt.Sprintf(`{"events":[{"id":%q,"name":"durable","status":"completed"},{"id":"%s-b","name":"durable","status":"failed"}]}`, id, id)
	})
	// Kill mid-load, once enough is acknowledged for the check to prove something.
	ps.wait(t, 400)
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
	acked := ps.halt()
	if len(acked) < 200 {
		t.Fatalf("only %d events acknowledged before the kill; the test proves little", len(acked))
	}
	p2 := startServer(t, db, port)
	stored := p2.storedIDs(key)
	for id := range acked {
		if stored[id] != 1 {
			t.Errorf("acknowledged event %s is stored %d times after SIGKILL", id, stored[id])
		}
	}
	for id, n := range stored {
		if n != 1 {
			t.Errorf("event %s stored %d times", id, n)
		}
	}
	t.Logf("%d acknowledged, %d stored (unacknowledged ones may or may not be)", len(acked), len(stored))
}

// TestSIGTERMFinishesInFlightWork stops the server while posts and a
// stream are running: it exits 0, closes the stream, and every answered
// post is stored.
func TestSIGTERMFinishesInFlightWork(t *testing.T) {
	db, port := filepath.Join(t.TempDir(), "term.db"), freePort(t)
	p := startServer(t, db, port)
	key := p.createSession()
	req, _ := http.NewRequest("GET", p.url+"/api/v1/events/stream", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	stream, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	streamDone := make(chan struct{})
	go func() { io.Copy(io.Discard, stream.Body); close(streamDone) }()

	ps := startPosters(t, p.url, key, 8, 10000, true, oneEvent("t"))
	ps.wait(t, 100) // posts in flight when the signal comes
	start := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	err = p.cmd.Wait()
	if err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, p.log)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("shutdown took %v", took)
	}
	acked := ps.halt()
	select {
	case <-streamDone:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream was not closed by shutdown")
	}
	if !strings.Contains(p.log.String(), "stopped") {
		t.Fatalf("no clean stop in the log:\n%s", p.log)
	}
	p2 := startServer(t, db, port)
	stored := p2.storedIDs(key)
	for id := range acked {
		if stored[id] != 1 {
			t.Fatalf("acknowledged %s stored %d times", id, stored[id])
		}
	}
	if len(acked) == 0 {
		t.Fatal("nothing was acknowledged")
	}
}

func TestCommandLine(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, func(string) string { return "" }, &out, &errOut); code != 0 || !strings.Contains(out.String(), "--database") {
		t.Fatalf("--help: exit %d\n%s", code, out.String())
	}
	out.Reset()
	code := run(context.Background(), []string{"--listen", "nope"}, func(string) string { return "" }, &out, &errOut)
	if code != 2 || !strings.Contains(errOut.String(), "--listen") {
		t.Fatalf("bad flag: exit %d, stderr %q", code, errOut.String())
	}
	errOut.Reset()
	env := map[string]string{"OBSERVABLE_MAX_BODY_BYTES": "lots"}
	code = run(context.Background(), nil, func(k string) string { return env[k] }, &out, &errOut)
	if code != 2 || !strings.Contains(errOut.String(), "OBSERVABLE_MAX_BODY_BYTES") {
		t.Fatalf("bad environment: exit %d, stderr %q", code, errOut.String())
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://app:s3cret@db:5432/obs?sslmode=require": "postgres://app:xxxxx@db:5432/obs?sslmode=require",
		"postgres://app@db/obs":                             "postgres://app@db/obs",
		"observable.db":                                     "observable.db",
	} {
		if got := redact(in); got != want || strings.Contains(got, "s3cret") {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRefusesATakenPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cmd := exec.Command(binary, "--listen", l.Addr().String(), "--database", filepath.Join(t.TempDir(), "x.db"))
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "choose another with --listen") {
		t.Fatalf("exit %v:\n%s", err, out)
	}
}

// TestServesHTTPS starts the server with a certificate of its own: the API
// answers over TLS and the device cookie is Secure.
func TestServesHTTPS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeSelfSigned(t, certFile, keyFile)
	port := freePort(t)
	url := "https://127.0.0.1:" + port
	cmd := exec.Command(binary, "--listen", "127.0.0.1:"+port, "--database", filepath.Join(dir, "tls.db"),
		"--public-url", url, "--tls-cert", certFile, "--tls-key", keyFile)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	var resp *http.Response
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err = client.Post(url+"/api/v1/sessions", "application/json", nil); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no HTTPS answer: %v\n%s", err, log.String())
		}
	}
	var created struct {
		Pairing struct {
			Code string `json:"code"`
			URL  string `json:"url"`
		} `json:"pairing"`
	}
	json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	if resp.TLS == nil || !strings.HasPrefix(created.Pairing.URL, url+"/pair/") {
		t.Fatalf("session over TLS: %v, pairing URL %q", resp.TLS, created.Pairing.URL)
	}
	resp, err = client.Post(url+"/api/v1/pairings/"+created.Pairing.Code+"/claim", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if c := resp.Header.Get("Set-Cookie"); !strings.Contains(c, "Secure") || !strings.Contains(c, "HttpOnly") {
		t.Fatalf("device cookie over HTTPS: %q", c)
	}
}

func writeSelfSigned(t *testing.T, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:   time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
}

// TestAutomaticCertificatesWiring starts the server with --tls-domain. No
// certificate can be obtained here (no internet), but the wiring shows: plain
// HTTP is redirected to HTTPS, and a TLS client asking for another name is
// refused by the host policy while the server keeps running.
func TestAutomaticCertificatesWiring(t *testing.T) {
	dir := t.TempDir()
	port, httpPort := freePort(t), freePort(t)
	cmd := exec.Command(binary, "--listen", "127.0.0.1:"+port, "--tls-http-listen", "127.0.0.1:"+httpPort,
		"--database", filepath.Join(dir, "acme.db"), "--tls-domain", "observable.example.test", "--tls-cache", filepath.Join(dir, "certs"))
	log := &syncbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	noRedirect := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var resp *http.Response
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err = noRedirect.Get("http://127.0.0.1:" + httpPort + "/jobs"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no plain HTTP answer: %v\n%s", err, log.String())
		}
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode/100 != 3 || !strings.HasPrefix(loc, "https://") {
		t.Fatalf("plain HTTP: %d Location %q; want a redirect to HTTPS", resp.StatusCode, loc)
	}
	// The plain listener is capped too: one address holds a few connections.
	http.DefaultClient.CloseIdleConnections()
	noRedirect.CloseIdleConnections()
	var silent []net.Conn
	for range 16 {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+httpPort, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		silent = append(silent, c)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		closed := 0
		for _, c := range silent {
			if connlimitClosedByServer(c) {
				closed++
			}
		}
		if closed >= 16-challengeConnsPerAddress {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the plain listener closed %d of 16 silent connections from one address; want %d (a cap of %d)", closed, 16-challengeConnsPerAddress, challengeConnsPerAddress)
		}
	}
	conn, err := tls.Dial("tcp", "127.0.0.1:"+port, &tls.Config{ServerName: "elsewhere.example", InsecureSkipVerify: true})
	if err == nil {
		conn.Close()
		t.Fatal("a TLS handshake for a name outside --tls-domain succeeded")
	}
	if cmd.ProcessState != nil {
		t.Fatalf("the server exited:\n%s", log.String())
	}
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(log.String(), "public_url=https://observable.example.test"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the public URL should follow the domain:\n%s", log.String())
		}
	}
}
