package bench

import (
	"os"
	"runtime/debug"
	"testing"
)

// TestMain collects garbage as the server binary does (cmd/observable-server
// sets GOGC=400 unless GOGC is given): at Go's default the in-process
// benchmarks spent a fifth of their CPU on preemption for the collector,
// a cost the shipped server does not pay.
func TestMain(m *testing.M) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	os.Exit(m.Run())
}
