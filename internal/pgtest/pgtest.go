// Package pgtest gives tests a PostgreSQL: the server named by
// OBSERVABLE_TEST_POSTGRES_URL when it is set (scripts/postgres.sh starts
// one), or else a throwaway server that this package starts on first use
// and stops when the test binary ends. Every test gets a fresh database of
// its own, so tests never see each other's data.
//
// A package using it calls Main from its TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the variable holding the URL of a server to use instead of
// starting one; its database is used only to create test databases.
const EnvURL = "OBSERVABLE_TEST_POSTGRES_URL"

var shared struct {
	once   sync.Once
	admin  string // URL of a database to connect to for CREATE DATABASE
	server *Server
	err    error
}

// Main runs the tests, then stops the server this package started, if any,
// and exits with the tests' status.
func Main(m *testing.M) {
	code := m.Run()
	if shared.server != nil {
		if err := shared.server.Close(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
	os.Exit(code)
}

// adminURL returns the URL of the server's administrative database,
// starting the throwaway server on first use.
func adminURL() (string, error) {
	shared.once.Do(func() {
		if u := os.Getenv(EnvURL); u != "" {
			shared.admin = u
			return
		}
		shared.server, shared.err = StartServer()
		if shared.err == nil {
			shared.admin = shared.server.URL("postgres")
		}
	})
	return shared.admin, shared.err
}

// NewDatabase creates an empty database for this test alone and returns its
// URL. The database is dropped when the test ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	admin, err := adminURL()
	if err != nil {
		t.Fatalf("no PostgreSQL for this test: %v", err)
	}
	db, err := Create(context.Background(), admin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := Drop(context.Background(), admin, db); err != nil {
			t.Errorf("drop test database: %v", err)
		}
	})
	return db
}

// Create makes a database with a random name on the server of adminURL
// and returns its URL.
func Create(ctx context.Context, adminURL string) (string, error) {
	b := make([]byte, 8)
	rand.Read(b)
	name := "test_" + hex.EncodeToString(b)
	if err := adminExec(ctx, adminURL, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("pgtest: create database %s: %w", name, err)
	}
	return withDatabase(adminURL, name)
}

// Drop deletes the database at dbURL, closing its connections first.
func Drop(ctx context.Context, adminURL, dbURL string) error {
	u, err := url.Parse(dbURL)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	if !strings.HasPrefix(name, "test_") {
		return fmt.Errorf("pgtest: refusing to drop %q, which pgtest did not create", name)
	}
	// FORCE (PostgreSQL 13+) ends sessions a test left open, such as a
	// listener that is still reconnecting.
	if err := adminExec(ctx, adminURL, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("pgtest: drop database %s: %w", name, err)
	}
	return nil
}

func adminExec(ctx context.Context, adminURL, sql string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// withDatabase returns adminURL pointing at another database.
func withDatabase(adminURL, name string) (string, error) {
	u, err := url.Parse(adminURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("pgtest: %s must be a postgres://… URL", EnvURL)
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String(), nil
}
