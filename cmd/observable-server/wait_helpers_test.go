package main

import (
	"sync"
	"testing"
	"time"
)

// mainWaitAcked waits until acked holds at least n entries: a test that
// interrupts a load waits for the load, not for a guessed time.
func mainWaitAcked(t *testing.T, mu *sync.Mutex, acked map[string]bool, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		got := len(acked)
		mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d acknowledgements within 10 s", got, n)
		}
	}
}
