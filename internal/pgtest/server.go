package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Server is a throwaway PostgreSQL: its own data directory, on a free port
// of 127.0.0.1, with durability turned off for speed. It is deleted by
// Close, or by its watchdog if the test binary dies first.
type Server struct {
	// Port is where it listens, the same across Stop and Start.
	Port int

	dir      string // owned by the postgres user: data/ and server.log
	bin      string // the directory of initdb and pg_ctl
	runAs    []string
	watchdog *exec.Cmd
	alive    *os.File // its stdin's other end: closing it stops the server
}

// settings make a test server fast and private. fsync and full-page writes
// off lose data only if the machine crashes, which a test database survives
// by being thrown away.
const settings = `
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_connections = 300
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 32MB
log_min_messages = warning
`

// StartServer creates and starts a new server. Call Close when done.
func StartServer() (*Server, error) {
	bin, err := findBinaries()
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin}
	if os.Geteuid() == 0 {
		// PostgreSQL refuses to run as root.
		s.runAs = []string{"runuser", "-u", "postgres", "--"}
	}
	// Under the system temp directory, not t.TempDir: the postgres user
	// must be able to reach it.
	if s.dir, err = os.MkdirTemp("", "observable-pgtest-"); err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	if err := s.startWatchdog(); err != nil {
		os.RemoveAll(s.dir)
		return nil, err
	}
	if err := s.create(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// startWatchdog starts a shell that waits for end of file on its stdin,
// then stops the server and deletes its files. Only this process holds the
// pipe's other end, so the shell cleans up however the test binary ends:
// Close, a failed test, a timeout panic or a kill. It has its own session
// so that ^C reaches it only through that end of file.
func (s *Server) startWatchdog() error {
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("pgtest: watchdog pipe: %w", err)
	}
	defer r.Close()
	stop := append(append([]string{}, s.runAs...), filepath.Join(s.bin, "pg_ctl"))
	script := `read _ || true; "$@" stop -D "$DATA" -m immediate -w >/dev/null 2>&1 || true; rm -rf "$DIR"`
	cmd := exec.Command("sh", append([]string{"-c", script, "pgtest-watchdog"}, stop...)...)
	cmd.Env = append(os.Environ(), "DATA="+s.data(), "DIR="+s.dir)
	cmd.Stdin = r
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return fmt.Errorf("pgtest: start watchdog: %w", err)
	}
	s.watchdog, s.alive = cmd, w
	return nil
}

func (s *Server) data() string { return filepath.Join(s.dir, "data") }
func (s *Server) log() string  { return filepath.Join(s.dir, "server.log") }

// create runs initdb and starts the server on a free port, trying again
// with another port if one is taken between choosing and binding it.
func (s *Server) create() error {
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fmt.Errorf("pgtest: running as root needs a postgres user to run PostgreSQL as (apt-get install postgresql creates it): %w", err)
		}
		uid, uerr := strconv.Atoi(u.Uid)
		gid, gerr := strconv.Atoi(u.Gid)
		if err := errors.Join(uerr, gerr); err != nil {
			return fmt.Errorf("pgtest: the postgres user's uid %q or gid %q is not a number: %w", u.Uid, u.Gid, err)
		}
		if err := os.Chown(s.dir, uid, gid); err != nil {
			return fmt.Errorf("pgtest: give %s to postgres: %w", s.dir, err)
		}
	}
	if out, err := s.run(60*time.Second, "initdb", "-D", s.data(), "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"); err != nil {
		return fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}
	conf, err := os.OpenFile(filepath.Join(s.data(), "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("pgtest: configure: %w", err)
	}
	_, err = conf.WriteString(settings)
	if cerr := conf.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("pgtest: configure: %w", err)
	}
	for attempt := 0; ; attempt++ {
		if s.Port, err = freePort(); err != nil {
			return err
		}
		err = s.Start()
		if err == nil || attempt == 4 || !strings.Contains(err.Error(), "could not bind") {
			return err
		}
	}
}

// Start starts the server again after Stop, on the same port.
func (s *Server) Start() error {
	out, err := s.run(60*time.Second, "pg_ctl", "start", "-w", "-t", "60", "-D", s.data(), "-l", s.log(),
		"-o", "-p "+strconv.Itoa(s.Port))
	if err != nil {
		logText, _ := os.ReadFile(s.log())
		return fmt.Errorf("pgtest: start PostgreSQL on port %d: %w\n%s\n%s", s.Port, err, out, lastLines(string(logText), 20))
	}
	return nil
}

// Stop shuts the server down the way an administrator does (clients get
// "terminating connection due to administrator command"), keeping its data.
func (s *Server) Stop() error {
	if out, err := s.run(60*time.Second, "pg_ctl", "stop", "-w", "-D", s.data(), "-m", "fast"); err != nil {
		return fmt.Errorf("pgtest: stop PostgreSQL: %w\n%s", err, out)
	}
	return nil
}

// Close stops the server and deletes its files.
func (s *Server) Close() error {
	if s.alive == nil {
		return nil
	}
	s.alive.Close()
	s.alive = nil
	done := make(chan error, 1)
	go func() { done <- s.watchdog.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("pgtest: clean up %s: %w", s.dir, err)
		}
		return nil
	case <-time.After(60 * time.Second):
		return fmt.Errorf("pgtest: PostgreSQL in %s did not stop within 60 s", s.dir)
	}
}

// URL is the address of database on the server.
func (s *Server) URL(database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.Port, database)
}

// run runs one of PostgreSQL's programs as the postgres user.
func (s *Server) run(timeout time.Duration, program string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	argv := append(append(append([]string{}, s.runAs...), filepath.Join(s.bin, program)), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// pg_ctl sends the server's output to its log file; should anything
	// still hold the pipe, do not wait for it forever.
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	return out.Bytes(), err
}

// findBinaries finds initdb and pg_ctl on PATH, or in Debian's versioned
// directories (newest first), which are not on PATH by default.
func findBinaries() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if _, err := exec.LookPath("initdb"); err == nil {
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if isExecutable(filepath.Join(d, "pg_ctl")) && isExecutable(filepath.Join(d, "initdb")) {
			return d, nil
		}
	}
	return "", errors.New("pgtest: PostgreSQL's initdb and pg_ctl were not found (on PATH or in /usr/lib/postgresql/*/bin): " +
		"install them (apt-get install postgresql), or set " + EnvURL + " to a server to use")
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode()&0o111 != 0
}

// freePort asks the kernel for a port that is free now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
