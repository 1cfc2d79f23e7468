package domain

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestErrorCodesAndMessages(t *testing.T) {
	wrapped := fmt.Errorf("read pairing: %w", Errorf(EUnknownCode, "no code %d", 7))
	tests := []struct {
		err           error
		code, message string
	}{
		{nil, "", ""},
		{errors.New("sql: connection reset by 10.0.0.3"), EInternal, "the server failed; it has been logged"},
		{wrapped, EUnknownCode, "no code 7"},
		{Wrap(errors.New("secret detail"), EDatabaseUnavailable, "retry"), EDatabaseUnavailable, "retry"},
	}
	for _, tt := range tests {
		if c, m := ErrorCode(tt.err), ErrorMessage(tt.err); c != tt.code || m != tt.message {
			t.Errorf("%v: code %q message %q; want %q %q", tt.err, c, m, tt.code, tt.message)
		}
	}
	// One condition matches by its code, whatever the message says.
	if !errors.Is(Errorf(ENotFound, "no event 3"), ErrNotFound) || errors.Is(Errorf(EUnknownCode, "x"), ErrNotFound) {
		t.Error("errors.Is must compare codes")
	}
}

func TestValidationErrorAnswersAsInvalidEvent(t *testing.T) {
	e, ok := AsError(fmt.Errorf("parse: %w", &ValidationError{Index: 2, Field: "status", Reason: "is required"}))
	if !ok || e.Code != EInvalidEvent || e.Field != "status" || e.Index == nil || *e.Index != 2 {
		t.Fatalf("got %+v", e)
	}
	if e, _ := AsError(&ValidationError{Index: -1, Field: "name", Reason: "x"}); e.Index != nil {
		t.Fatalf("a single event's error has no index: %+v", e)
	}
}

func TestCheckPairing(t *testing.T) {
	now := time.Now()
	fresh := Pairing{ExpiresAt: NewTime(now.Add(time.Minute))}
	used := Pairing{ExpiresAt: NewTime(now.Add(time.Minute)), UsedAt: NewTime(now)}
	expired := Pairing{ExpiresAt: NewTime(now)}
	outage := fmt.Errorf("read: %w", Wrap(errors.New("down"), EDatabaseUnavailable, "retry"))
	for _, tt := range []struct {
		p    Pairing
		err  error
		code string
	}{
		{fresh, nil, ""}, {used, nil, ECodeUsedOrExpired}, {expired, nil, ECodeUsedOrExpired},
		{Pairing{}, ErrNotFound, EUnknownCode}, {Pairing{}, ErrGone, ECodeUsedOrExpired},
		{Pairing{}, outage, EDatabaseUnavailable},
	} {
		if got := ErrorCode(CheckPairing(tt.p, tt.err, now)); got != tt.code {
			t.Errorf("CheckPairing(%+v, %v) = %q, want %q", tt.p, tt.err, got, tt.code)
		}
	}
}

func TestDeviceNameFromAgent(t *testing.T) {
	for ua, want := range map[string]string{
		"Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP1A.240305.019) AppleWebKit/537.36": "Pixel 8",
		"Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36":                      "SM-S911B",
		"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36":                             "Android phone",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X)":                            "iPhone",
		"Mozilla/5.0 (Linux; Android 14; bad\x00name) AppleWebKit":                          "Android phone",
		"curl/8.5.0": "phone",
	} {
		if got := DeviceNameFromAgent(ua); got != want {
			t.Errorf("DeviceNameFromAgent(%q) = %q, want %q", ua, got, want)
		}
	}
}
