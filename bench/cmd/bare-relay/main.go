// Command bare-relay is the floor of the live-latency benchmark and the
// plain design the idle-stream benchmark is compared with: every POST body
// is relayed at once to every open SSE stream, one goroutine per stream,
// with no authentication, storage or commit.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
)

type relay struct {
	mu   sync.Mutex
	seq  int64
	subs map[chan []byte]struct{}
}

func (rl *relay) stream(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if _, err := io.WriteString(w, ": connected\n\n"); err != nil || rc.Flush() != nil {
		return
	}
	// A small queue: the relay is a floor, not a design for slow readers.
	ch := make(chan []byte, 64)
	rl.mu.Lock()
	rl.subs[ch] = struct{}{}
	rl.mu.Unlock()
	defer func() {
		rl.mu.Lock()
		delete(rl.subs, ch)
		rl.mu.Unlock()
	}()
	for {
		select {
		case <-r.Context().Done():
			return
		case frame := <-ch:
			if _, err := w.Write(frame); err != nil || rc.Flush() != nil {
				return
			}
		}
	}
}

func (rl *relay) post(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		http.Error(w, "body too large or cut", http.StatusRequestEntityTooLarge)
		return
	}
	data := bytes.ReplaceAll(body, []byte("\n"), nil) // one data line
	rl.mu.Lock()
	rl.seq++
	frame := append([]byte("id: "+strconv.FormatInt(rl.seq, 10)+"\nevent: event\ndata: "), data...)
	frame = append(frame, "\n\n"...)
	for ch := range rl.subs {
		select {
		case ch <- frame:
		default: // a full queue drops the frame, as a relay must not block
		}
	}
	rl.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	io.WriteString(w, `{"accepted":1,"duplicates":0}`+"\n")
}

func main() {
	listen := flag.String("listen", "127.0.0.1:18200", "address to listen on")
	flag.Parse()
	rl := &relay{subs: make(map[chan []byte]struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/events/stream", rl.stream)
	mux.HandleFunc("POST /api/v1/events", rl.post)
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(os.Stderr, "bare-relay: %v\n", err)
		os.Exit(1)
	}
}
