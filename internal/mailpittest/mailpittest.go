// Package mailpittest gives tests a real mail server: mailpit, built once
// from the Go module proxy into <repo>/.tmp/mailpit-<Version> (kept between
// runs, shared by every package's tests) and read back through its HTTP
// API. Only tests import it, as internal/pgtest for PostgreSQL.
package mailpittest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Version is the mailpit the tests build.
const Version = "v1.33.1"

var build struct {
	once sync.Once
	path string
	err  error
}

// Binary returns mailpit's path, building it on first use. Under -short
// the test is skipped: no mail server.
func Binary(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no mail server")
	}
	build.once.Do(func() {
		root, err := repoRoot()
		if err != nil {
			build.err = err
			return
		}
		dir := filepath.Join(root, ".tmp", "mailpit-"+Version)
		bin := filepath.Join(dir, "mailpit")
		if _, err := os.Stat(bin); err == nil {
			build.path = bin
			return
		}
		// Built outside the module so that our go.mod is never touched.
		cmd := exec.Command("go", "install", "github.com/axllent/mailpit@"+Version)
		cmd.Dir = os.TempDir()
		cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=", "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("go install github.com/axllent/mailpit@%s: %v\n%s", Version, err, out)
			return
		}
		build.path = bin
	})
	if build.err != nil {
		t.Fatalf("cannot build mailpit (needs the Go module proxy once): %v", build.err)
	}
	return build.path
}

// repoRoot is the directory of go.mod above the test's working directory
// (its package's directory).
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod above %s", dir)
		}
	}
}

// Server is a running mailpit.
type Server struct {
	SMTP string // host:port of its SMTP listener
	API  string // base URL of its HTTP API
}

// FreePort is a loopback port nothing listens on at the moment: for an
// address to give mailpit, or one where no mail server answers.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start runs mailpit on free loopback ports until the test ends, with
// extra flags (e.g. "--smtp-auth-accept-any"), and waits for it.
func Start(t testing.TB, flags ...string) *Server {
	t.Helper()
	return StartOn(t, fmt.Sprintf("127.0.0.1:%d", FreePort(t)), flags...)
}

// StartOn is Start with the SMTP listener at smtpAddr ("0.0.0.0:port" to
// listen on every address of the machine).
func StartOn(t testing.TB, smtpAddr string, flags ...string) *Server {
	t.Helper()
	bin := Binary(t)
	httpAddr := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	s := &Server{SMTP: smtpAddr, API: "http://" + httpAddr}
	args := append([]string{"--smtp", smtpAddr, "--listen", httpAddr, "--database", filepath.Join(t.TempDir(), "mailpit.db"),
		"--disable-version-check", "--smtp-disable-rdns", "--quiet"}, flags...)
	cmd := exec.Command(bin, args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	for deadline := time.Now().Add(30 * time.Second); ; {
		if resp, err := http.Get(s.API + "/api/v1/messages"); err == nil {
			resp.Body.Close()
			if c, err := net.Dial("tcp", strings.Replace(smtpAddr, "0.0.0.0", "127.0.0.1", 1)); err == nil {
				c.Close()
				return s
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("mailpit exited: %v\n%s", err, out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailpit did not start in 30 s:\n%s", out.String())
		}
	}
}

// Address is a sender or recipient as mailpit's API gives it.
type Address struct{ Name, Address string }

// Message is one stored mail as mailpit's API gives it.
type Message struct {
	ID, MessageID, Subject, Text, HTML string
	From                               Address
	To                                 []Address
}

func (s *Server) get(t testing.TB, path string, v any) {
	t.Helper()
	resp, err := http.Get(s.API + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// Messages waits up to 15 s for the server to hold n messages and returns
// them in full, oldest first; it fails the test unless there are exactly
// n, with logs() (the sender's output, or nil) in the message.
func (s *Server) Messages(t testing.TB, n int, logs func() string) []Message {
	t.Helper()
	var list struct{ Messages []struct{ ID string } }
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		s.get(t, "/api/v1/messages", &list)
		// Polling the condition: mail is stored just after the SMTP answer.
		if len(list.Messages) >= n || time.Now().After(deadline) {
			break
		}
	}
	if len(list.Messages) != n {
		var more string
		if logs != nil {
			more = "\n" + logs()
		}
		t.Fatalf("mailpit holds %d messages, want %d%s", len(list.Messages), n, more)
	}
	out := make([]Message, n)
	for i, m := range list.Messages { // the API lists newest first
		s.get(t, "/api/v1/message/"+m.ID, &out[n-1-i])
	}
	return out
}

// Headers are a stored message's header fields.
func (s *Server) Headers(t testing.TB, id string) map[string][]string {
	t.Helper()
	var h map[string][]string
	s.get(t, "/api/v1/message/"+id+"/headers", &h)
	return h
}
