//go:build unix

package fdlimit

import (
	"syscall"
	"testing"
)

func TestRaiseLiftsSoftToHard(t *testing.T) {
	var saved syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &saved); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &saved) })
	if saved.Max > 256 {
		lowered := syscall.Rlimit{Cur: 256, Max: saved.Max}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lowered); err != nil {
			t.Fatal(err)
		}
	}
	soft, err := Raise()
	if err != nil {
		t.Fatal(err)
	}
	var now syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &now)
	if soft != saved.Max || now.Cur != saved.Max || Current() != saved.Max {
		t.Fatalf("Raise() = %d, limit now %d, Current() = %d; want all %d", soft, now.Cur, Current(), saved.Max)
	}
}
