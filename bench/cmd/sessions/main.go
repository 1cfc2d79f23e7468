// Command sessions creates sessions on a server and prints their keys, one
// a line, for wrk (bench/wrk/events.lua) and the probes. Start the server
// with --sessions-per-minute 0 so that creating many is not rate-limited.
package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/observable-code/observable/bench"
)

func main() {
	base := flag.String("url", "http://127.0.0.1:18080", "server base URL")
	n := flag.Int("n", 32, "sessions to create")
	flag.Parse()
	c := &http.Client{Timeout: 30 * time.Second}
	for i := 0; i < *n; i++ {
		key, err := bench.CreateSession(c, *base)
		if err != nil {
			fmt.Fprintf(os.Stderr, "sessions: %v\n", err)
			os.Exit(1)
		}
		fmt.Println(key)
	}
}
