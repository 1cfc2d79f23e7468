// Command pgadmin does the little administration bench/scaleout/run.sh needs
// on its throwaway PostgreSQL, without psql (not installed here):
//
//	pgadmin create ADMIN_URL         creates an empty database, prints its URL
//	pgadmin durable ADMIN_URL on|off turns fsync, synchronous_commit and
//	                                 full_page_writes on or off (ALTER SYSTEM
//	                                 and a reload: no restart) and prints them
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "pgadmin: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) < 2 {
		return errors.New("usage: pgadmin create ADMIN_URL | pgadmin durable ADMIN_URL on|off")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, args[1])
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.Background())
	switch {
	case args[0] == "create" && len(args) == 2:
		return create(ctx, conn, args[1])
	case args[0] == "durable" && len(args) == 3 && (args[2] == "on" || args[2] == "off"):
		return durable(ctx, conn, args[2])
	}
	return fmt.Errorf("unknown command %q (create, durable on|off)", args)
}

func create(ctx context.Context, conn *pgx.Conn, adminURL string) error {
	b := make([]byte, 6)
	rand.Read(b)
	name := "bench_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return fmt.Errorf("create database: %w", err)
	}
	u, err := url.Parse(adminURL)
	if err != nil {
		return fmt.Errorf("admin URL: %w", err)
	}
	u.Path = "/" + name
	fmt.Println(u.String())
	return nil
}

// durable switches the settings scripts/postgres.sh turns off for speed.
// All three take effect on a reload.
func durable(ctx context.Context, conn *pgx.Conn, onOff string) error {
	for _, setting := range []string{"fsync", "synchronous_commit", "full_page_writes"} {
		if _, err := conn.Exec(ctx, "ALTER SYSTEM SET "+setting+" = "+onOff); err != nil {
			return fmt.Errorf("set %s: %w", setting, err)
		}
	}
	if _, err := conn.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	// The postmaster reloads asynchronously; new sessions see the result.
	for try := 0; ; try++ {
		fresh, err := pgx.Connect(ctx, conn.Config().ConnString())
		if err != nil {
			return fmt.Errorf("connect: %w", err)
		}
		var fsync, syncCommit, fpw string
		err = fresh.QueryRow(ctx, "SELECT current_setting('fsync'), current_setting('synchronous_commit'), current_setting('full_page_writes')").Scan(&fsync, &syncCommit, &fpw)
		fresh.Close(ctx)
		if err != nil {
			return fmt.Errorf("read settings: %w", err)
		}
		if fsync == onOff && syncCommit == onOff && fpw == onOff {
			fmt.Printf("fsync=%s synchronous_commit=%s full_page_writes=%s\n", fsync, syncCommit, fpw)
			return nil
		}
		if try == 50 {
			return fmt.Errorf("after a reload: fsync=%s synchronous_commit=%s full_page_writes=%s, want %s", fsync, syncCommit, fpw, onOff)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
