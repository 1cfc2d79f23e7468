// Command bare-handler is the ceiling of the ingest benchmarks: a net/http
// server whose only handler reads the request body and answers 202. No
// parsing, no storage: what net/http and the load generator alone reach on
// this machine.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18100", "address to listen on")
	maxBody := flag.Int64("max-body-bytes", 1<<20, "largest body read, as the server's default")
	flag.Parse()

	answer := []byte(`{"accepted":1,"duplicates":0}` + "\n")
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, *maxBody)); err != nil {
			http.Error(w, "body too large or cut", http.StatusRequestEntityTooLarge)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		w.Write(answer)
	})
	// The server's own timeouts, so that both do the same connection work.
	srv := &http.Server{
		Addr: *listen, Handler: handler,
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10,
	}
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(os.Stderr, "bare-handler: %v\n", err)
		os.Exit(1)
	}
}
