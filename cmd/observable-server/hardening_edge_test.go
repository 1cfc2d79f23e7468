package main

// The edge and the disk (issue 9, finding 6 and the doubtful items): the
// database's files are owner-only, a full disk answers 507 and turns
// readiness off until space returns, a declared oversized body is refused
// at once, QR codes are bounded, a half-sent request cannot hold a
// shutdown, and the open-files limit is raised.

import (
	"bufio"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// edgeErrorCode is the code of a contract error body, or "".
func edgeErrorCode(body []byte) string {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	json.Unmarshal(body, &e)
	return e.Error.Code
}

// edgeModes returns the permission bits of the files that exist.
func edgeModes(t *testing.T, names ...string) map[string]os.FileMode {
	t.Helper()
	modes := map[string]os.FileMode{}
	for _, n := range names {
		info, err := os.Stat(n)
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		modes[filepath.Base(n)] = info.Mode().Perm()
	}
	return modes
}

// TestEdgeDatabaseFilesAreOwnerOnly: the WAL and SHM files hold recent
// events, so they are 0600 from their creation (not 0644 until a clean
// restart), and files a killed server left readable are fixed, with a
// warning, at the next start.
func TestEdgeDatabaseFilesAreOwnerOnly(t *testing.T) {
	old := syscall.Umask(0o022) // the usual umask, whatever the runner's
	defer syscall.Umask(old)
	db, port := filepath.Join(t.TempDir(), "modes.db"), freePort(t)
	files := []string{db, db + "-wal", db + "-shm"}
	p := startServer(t, db, port)
	postEvent(t, &serverProc{proc: p}, p.createSession(), "m1", "modes", "completed")
	for name, mode := range edgeModes(t, files...) {
		if mode != 0o600 {
			t.Errorf("%s is %v while the server runs, want -rw------- (0600)", name, mode)
		}
	}

	// A server killed with its files readable (an older version, a loose
	// umask): the next start must fix them before opening, and say so.
	p.cmd.Process.Kill()
	p.cmd.Wait()
	for _, f := range files {
		if err := os.Chmod(f, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p2 := startServer(t, db, port)
	for name, mode := range edgeModes(t, files...) {
		if mode != 0o600 {
			t.Errorf("%s is %v after a restart, want 0600", name, mode)
		}
	}
	p2.cmd.Process.Signal(syscall.SIGTERM)
	p2.cmd.Wait()
	if log := p2.log.String(); !strings.Contains(log, "owner-only") || !strings.Contains(log, "modes.db-wal") {
		t.Errorf("no warning naming the fixed files:\n%s", log)
	}
}

// edgeMountTmpfs mounts a tmpfs of size bytes on a new directory, or skips
// the test when this process may not mount (not root, or a container
// without CAP_SYS_ADMIN).
func edgeMountTmpfs(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+strconv.Itoa(size)+",mode=0700", "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Skipf("a full disk needs a small tmpfs, and mounting one is not permitted here (run as root with CAP_SYS_ADMIN, as CI does): %v %s", err, out)
	}
	t.Cleanup(func() { // after the server's cleanup, registered later, has killed it
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

// edgeFill writes a file until the disk refuses more.
func edgeFill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for i := 0; i < 1<<14; i++ {
		if _, err := f.Write(chunk); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			t.Fatal(err)
		}
	}
	t.Fatal("the tmpfs never filled up")
}

// edgeBigBatch is a batch of events with large metadata, so that a few
// posts need new pages of the WAL.
func edgeBigBatch(prefix string, n int) string {
	pad := strings.Repeat("x", 60<<10)
	events := make([]string, n)
	for i := range events {
		events[i] = fmt.Sprintf(`{"id":"%s-%d","name":"fill","status":"completed","metadata":{"pad":%q}}`, prefix, i, pad)
	}
	return `{"events":[` + strings.Join(events, ",") + `]}`
}

// TestEdgeDiskFull fills the disk under the database for real: writes
// answer 507 disk_full with Retry-After (not 500), /readyz says not
// ready, a new session is never half made, and everything recovers by
// itself once space is freed.
func TestEdgeDiskFull(t *testing.T) {
	dir := edgeMountTmpfs(t, 8<<20)
	db := filepath.Join(dir, "full.db")
	p := &serverProc{proc: startServer(t, db, freePort(t))}
	key := p.createSession()
	postEvent(t, p, key, "before", "fill", "completed")

	filler := filepath.Join(dir, "filler")
	edgeFill(t, filler)
	var full apiReply
	posts := 0
	for ; posts < 100; posts++ {
		full = callAPI("POST", p.url+"/api/v1/events", key, edgeBigBatch(fmt.Sprint("f", posts), 14))
		if full.status != http.StatusAccepted {
			break
		}
	}
	t.Logf("%d posts of 14 × 60 KiB were stored before the disk was full", posts)
	if full.status != http.StatusInsufficientStorage || edgeErrorCode(full.body) != "disk_full" || full.header.Get("Retry-After") == "" {
		t.Fatalf("a write on a full disk: %d %s (Retry-After %q); want 507 disk_full with Retry-After\n%s",
			full.status, full.body, full.header.Get("Retry-After"), p.log)
	}
	if !strings.Contains(string(full.body), "free space") {
		t.Errorf("the answer does not say what to do: %s", full.body)
	}
	if r := callAPI("GET", p.url+"/readyz", "", ""); r.status != http.StatusServiceUnavailable || edgeErrorCode(r.body) != "disk_full" {
		t.Fatalf("/readyz on a full disk: %d %s; want 503 disk_full", r.status, r.body)
	}
	for i := 0; i < 5; i++ {
		if r := callAPI("POST", p.url+"/api/v1/sessions", "", "{}"); r.status != http.StatusInsufficientStorage {
			t.Fatalf("POST /api/v1/sessions on a full disk: %d %s; want 507", r.status, r.body)
		}
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); statusOf(p.url+"/readyz") != http.StatusOK; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("/readyz did not recover once space was freed:\n%s", p.log)
		}
	}
	postEvent(t, p, key, "after", "fill", "completed")
	newSession(t, p)

	// No session without its pairing: the failed creations left nothing.
	conn, err := sql.Open("sqlite", "file:"+db+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var orphans, sessions int
	if err := conn.QueryRow(`SELECT COUNT(*), COALESCE(SUM(NOT EXISTS (SELECT 1 FROM pairings p WHERE p.session_id = s.id)), 0) FROM sessions s`).Scan(&sessions, &orphans); err != nil {
		t.Fatal(err)
	}
	if orphans != 0 || sessions != 2 {
		t.Fatalf("%d sessions, %d of them without a pairing; want the 2 created, none orphaned", sessions, orphans)
	}
}

// edgeRawRequest opens a connection and sends head (the request line and
// headers, without the blank line) and then body as given.
func edgeRawRequest(t *testing.T, url, head, body string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := conn.Write([]byte(head + "\r\n\r\n" + body)); err != nil {
		t.Fatal(err)
	}
	return conn
}

// edgeReadAnswer reads an HTTP answer within timeout.
func edgeReadAnswer(t *testing.T, conn net.Conn, timeout time.Duration) (*http.Response, []byte) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(timeout))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer within %v: %v", timeout, err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.WriteString(string(buf[:n]))
		if err != nil {
			break
		}
	}
	return resp, []byte(b.String())
}

// TestEdgeDeclaredBodyTooLarge: a Content-Length over --max-body-bytes is
// refused with 413 at once, not after waiting for the body.
func TestEdgeDeclaredBodyTooLarge(t *testing.T) {
	p := startServer(t, filepath.Join(t.TempDir(), "cl.db"), freePort(t), "--max-body-bytes", "4096")
	key := p.createSession()
	start := time.Now()
	conn := edgeRawRequest(t, p.url, "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+key+
		"\r\nContent-Type: application/json\r\nContent-Length: 10000000", `{"events":[`)
	resp, body := edgeReadAnswer(t, conn, 3*time.Second)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || edgeErrorCode(body) != "body_too_large" {
		t.Fatalf("declared 10 MB: %d %s; want 413 body_too_large", resp.StatusCode, body)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("the 413 took %v: the server waited for a body it refuses", took)
	}
	// The same from sessions and the device routes, which read bodies too.
	conn = edgeRawRequest(t, p.url, "POST /api/v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Length: 5000", "{")
	if resp, body := edgeReadAnswer(t, conn, 3*time.Second); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("POST /api/v1/sessions declaring 5000 bytes: %d %s; want 413", resp.StatusCode, body)
	}
	// And the server lets go of the connection, rather than read the rest
	// of a refused body for as long as the client stalls.
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, err := conn.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the connection of a refused body is still open 2 s later (read %d, %v)", n, err)
	}
}

// TestEdgeQRCodesAreBounded: a PNG is at most 1024 pixels, and one
// address can only have so many codes drawn.
func TestEdgeQRCodesAreBounded(t *testing.T) {
	p := &serverProc{proc: startServer(t, filepath.Join(t.TempDir(), "qr.db"), freePort(t), "--qr-per-minute", "20")}
	_, code := newSession(t, p)
	base := p.url + "/api/v1/pairings/" + code + "/qr"
	r := callAPI("GET", base+"?format=png&size=2048", "", "")
	if r.status != http.StatusBadRequest || edgeErrorCode(r.body) != "invalid_size" || !strings.Contains(string(r.body), "1024") {
		t.Fatalf("size=2048: %d %s; want 400 invalid_size naming the range", r.status, r.body)
	}
	if r := callAPI("GET", base+"?format=png&size=1024", "", ""); r.status != http.StatusOK || r.header.Get("Content-Type") != "image/png" {
		t.Fatalf("size=1024: %d %s", r.status, r.body)
	}
	limited := 0
	for i := 0; i < 25 && limited == 0; i++ {
		r := callAPI("GET", base+"?format=text", "", "")
		switch r.status {
		case http.StatusOK:
		case http.StatusTooManyRequests:
			if r.header.Get("Retry-After") == "" || edgeErrorCode(r.body) != "rate_limited" {
				t.Fatalf("429 without Retry-After or code: %s %s", r.header, r.body)
			}
			limited = i
		default:
			t.Fatalf("QR %d: %d %s", i, r.status, r.body)
		}
	}
	if limited == 0 {
		t.Fatal("27 QR codes in a row from one address were all drawn; want 429 past --qr-per-minute 20")
	}
}

// TestEdgeHalfSentRequestDoesNotHoldShutdown: a client that sends the
// headers and half a body, then nothing, held SIGTERM for the full 25 s.
// Now the shutdown gives such a body a second, while honest requests in
// flight still complete.
func TestEdgeHalfSentRequestDoesNotHoldShutdown(t *testing.T) {
	db := filepath.Join(t.TempDir(), "half.db")
	p := startServer(t, db, freePort(t))
	key := p.createSession()
	half := edgeRawRequest(t, p.url, "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+key+
		"\r\nContent-Type: application/json\r\nContent-Length: 1000", `{"id":"half","name":"n",`)

	ps := startPosters(t, p.url, key, 4, 1<<30, true, oneEvent("h"))
	ps.wait(t, 20) // posts in flight, the half-sent body waiting
	start := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	exited := make(chan error, 1)
	go func() { exited <- p.cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, p.log)
		}
	case <-time.After(8 * time.Second):
		ps.halt()
		t.Fatalf("still running %v after SIGTERM: the half-sent request holds the shutdown", time.Since(start))
	}
	acked := ps.halt()
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("shutdown took %v", took)
	}
	// The half-sent client got a plain answer, or a closed connection;
	// never the sockets' addresses.
	half.SetReadDeadline(time.Now().Add(time.Second))
	if resp, err := http.ReadResponse(bufio.NewReader(half), nil); err == nil {
		var b strings.Builder
		buf := make([]byte, 4096)
		n, _ := resp.Body.Read(buf)
		b.Write(buf[:n])
		if resp.StatusCode != http.StatusBadRequest || strings.Contains(b.String(), "127.0.0.1") {
			t.Errorf("the half-sent request's answer: %d %s; want 400 without addresses", resp.StatusCode, b.String())
		}
	}
	if len(acked) == 0 {
		t.Fatal("no honest post was acknowledged")
	}
	p2 := startServer(t, db, p.port)
	stored := p2.storedIDs(key)
	for id := range acked {
		if stored[id] != 1 {
			t.Fatalf("acknowledged %s stored %d times", id, stored[id])
		}
	}
	if stored["half"] != 0 {
		t.Fatal("the half-sent event was stored")
	}
}

// edgeOpenFilesLimit reads "Max open files" of a process: soft and hard.
func edgeOpenFilesLimit(t *testing.T, pid int) (string, string) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		t.Skipf("no /proc to read the limits from: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "Max open files") {
			f := strings.Fields(strings.TrimPrefix(line, "Max open files"))
			if len(f) >= 2 {
				return f[0], f[1]
			}
		}
	}
	t.Fatalf("no open-files limit in:\n%s", b)
	return "", ""
}

// TestEdgeRaisesOpenFilesLimit: started with a low soft limit on open
// files, the server runs with the hard limit (every stream is a socket).
func TestEdgeRaisesOpenFilesLimit(t *testing.T) {
	var saved syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &saved); err != nil {
		t.Fatal(err)
	}
	if saved.Max <= 256 {
		t.Skipf("the hard limit on open files is %d: nothing to raise", saved.Max)
	}
	// The child inherits the lowered soft limit; restored once it runs.
	lowered := syscall.Rlimit{Cur: 256, Max: saved.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lowered); err != nil {
		t.Fatal(err)
	}
	p := func() *proc {
		defer syscall.Setrlimit(syscall.RLIMIT_NOFILE, &saved)
		return startServer(t, filepath.Join(t.TempDir(), "fd.db"), freePort(t), "--log-level", "debug")
	}()
	soft, hard := edgeOpenFilesLimit(t, p.cmd.Process.Pid)
	if soft != hard || soft != strconv.FormatUint(saved.Max, 10) {
		t.Fatalf("the server's open-files limit is soft %s, hard %s; want both %d", soft, hard, saved.Max)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()
	if !strings.Contains(p.log.String(), "open-files limit") {
		t.Errorf("the limit is not in the log:\n%s", p.log)
	}
}
