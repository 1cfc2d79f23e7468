package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) {
	if os.Getenv("PGTEST_CRASH_CHILD") == "1" {
		crashChild()
	}
	Main(m)
}

// crashChild starts a server, says where it is, and dies without Close.
func crashChild() {
	s, err := StartServer()
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	fmt.Println(s.dir, s.Port)
	os.Exit(3)
}

func query(t *testing.T, dbURL, sql string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

func TestDatabasesAreSeparate(t *testing.T) {
	a, b := NewDatabase(t), NewDatabase(t)
	if a == b {
		t.Fatalf("two tests got the same database %s", a)
	}
	if err := query(t, a, "CREATE TABLE only_in_a (x int)"); err != nil {
		t.Fatal(err)
	}
	if err := query(t, b, "SELECT * FROM only_in_a"); err == nil {
		t.Fatal("a table created in one test database is visible in another")
	}
}

func TestDropRefusesForeignDatabases(t *testing.T) {
	admin, err := adminURL()
	if err != nil {
		t.Fatal(err)
	}
	if err := Drop(context.Background(), admin, admin); err == nil || !strings.Contains(err.Error(), "did not create") {
		t.Fatalf("Drop of the admin database: %v; want a refusal", err)
	}
}

func TestServerStopStartClose(t *testing.T) {
	s, err := StartServer()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	url := s.URL("postgres")
	if err := query(t, url, "SELECT 1"); err != nil {
		t.Fatalf("a new server does not answer: %v", err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := query(t, url, "SELECT 1"); err == nil {
		t.Fatal("a stopped server answers")
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if err := query(t, url, "SELECT 1"); err != nil {
		t.Fatalf("the restarted server does not answer on port %d: %v", s.Port, err)
	}
	dir := s.dir
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Close left %s behind: %v", dir, err)
	}
	if portOpen(s.Port) {
		t.Fatalf("port %d still answers after Close", s.Port)
	}
}

// TestWatchdogCleansUpAfterCrash kills nothing itself: a child test binary
// starts a server and exits without Close, as after a timeout panic.
func TestWatchdogCleansUpAfterCrash(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PGTEST_CRASH_CHILD=1")
	out, err := cmd.Output()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("child: %v, output %q", err, out)
	}
	fields := strings.Fields(string(out))
	if len(fields) != 2 {
		t.Fatalf("child output %q; want its directory and port", out)
	}
	dir := fields[0]
	port, err := strconv.Atoi(fields[1])
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, statErr := os.Stat(dir)
		if errors.Is(statErr, os.ErrNotExist) && !portOpen(port) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("30 s after the test binary died, %s exists (%v) or port %d is open (%v)", dir, statErr, port, portOpen(port))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func portOpen(port int) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
	if err == nil {
		c.Close()
	}
	return err == nil
}
