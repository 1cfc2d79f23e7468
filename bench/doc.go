// Package bench measures the server against the benchmark targets of
// issue 2 (docs/benchmarks/server.md has the figures).
//
// Everything runs from one script, bench/run.sh, on this machine: it builds
// the server and the commands under bench/cmd, starts each process on
// 127.0.0.1, drives it with wrk (bench/wrk/events.lua) or with the probes,
// and prints a markdown table. The commands:
//
//   - bare-handler: the ceiling for ingest, a net/http handler that reads
//     the body and answers 202;
//   - bare-relay: the floor for live latency, a goroutine-per-stream SSE
//     relay of POST bodies;
//   - sessions: creates sessions and prints their keys (for wrk and probes);
//   - latency: posts events one after another and times each until its
//     frame arrives on an open stream;
//   - idle-streams: opens many streams, leaves them idle, and reads the
//     server's resident memory before and after.
//
// bench/profile.sh samples the server with perf under the same loads. The
// Go benchmarks of this package drive the real API handler in-process
// (ingest_test.go), so that `go test -cpuprofile` shows where ingest spends
// its time, and measure the floors beneath it: SQLite alone, one durable
// commit, the disk's fdatasync (floor_test.go). They run only with -bench,
// never in `go test ./...`.
package bench
