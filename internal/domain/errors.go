package domain

import (
	"errors"
	"fmt"
	"time"
)

// Error codes: the contract's error.code values, every one this server can
// answer. Each is listed, with its status, in docs/openapi.yaml
// (components.x-error-codes), and a test fails when the two lists differ or
// when code outside this file names a code that is not one of these.
const (
	EInternal = "internal"

	// Bad input (400).
	EBadBody            = "bad_body"
	EInvalidJSON        = "invalid_json"
	EInvalidEvent       = "invalid_event"
	EInvalidHost        = "invalid_host"
	EInvalidName        = "invalid_name"
	EInvalidNotify      = "invalid_notify"
	EInvalidMuted       = "invalid_muted"
	EInvalidEndpoint    = "invalid_endpoint"
	EInvalidKeys        = "invalid_keys"
	EInvalidStatus      = "invalid_status"
	EInvalidLimit       = "invalid_limit"
	EInvalidBefore      = "invalid_before"
	EInvalidSeq         = "invalid_seq"
	EInvalidWait        = "invalid_wait"
	EInvalidTimeout     = "invalid_timeout"
	EInvalidFormat      = "invalid_format"
	EInvalidSize        = "invalid_size"
	EInvalidLastEventID = "invalid_last_event_id"
	EInvalidExpect      = "invalid_expect"  // PATCH /api/v1/jobs/{name}: expect
	EInvalidSnooze      = "invalid_snooze"  // PATCH /api/v1/jobs/{name}: snooze_s
	EInvalidSort        = "invalid_sort"    // GET /api/v1/jobs?sort=
	EInvalidChannel     = "invalid_channel" // POST/PATCH /api/v1/channels: a type's field is missing or wrong
	EChannelRefused     = "channel_refused" // a channel URL the server may not reach (loopback, private, plain http)

	// Credentials (401, 403).
	EUnauthorized        = "unauthorized"
	EBadOrigin           = "bad_origin"
	ESessionKeyRequired  = "session_key_required"
	EDeviceTokenRequired = "device_token_required"
	EMethodNotAllowed    = "method_not_allowed"
	ENotFound            = "not_found"
	EUnknownCode         = "unknown_code"
	ECodeUsedOrExpired   = "code_used_or_expired"
	EBodyTooLarge        = "body_too_large"
	ETooManyEvents       = "too_many_events"
	EURLTooLong          = "url_too_long"
	ETooManyJobs         = "too_many_jobs"
	ETooManyDevices      = "too_many_devices" // a claim past --max-devices-per-session
	ETooManyChannels     = "too_many_channels"
	EEmailUnavailable    = "email_unavailable"    // an email channel on a server without --smtp-url
	EChannelsUnavailable = "channels_unavailable" // no key to seal channel secrets with (--key-file on PostgreSQL)
	ERateLimited         = "rate_limited"
	ETooManyStreams      = "too_many_streams"
	ETooManyConnections  = "too_many_connections"
	EPushUnavailable     = "push_unavailable"
	EDatabaseUnavailable = "database_unavailable"
	EShuttingDown        = "shutting_down"
	EDiskFull            = "disk_full"
)

// Codes lists every code above, for the checks against the spec.
var Codes = []string{
	EInternal, EBadBody, EInvalidJSON, EInvalidEvent, EInvalidHost, EInvalidName, EInvalidNotify,
	EInvalidMuted, EInvalidEndpoint, EInvalidKeys, EInvalidStatus, EInvalidLimit, EInvalidBefore,
	EInvalidSeq, EInvalidWait, EInvalidTimeout, EInvalidFormat, EInvalidSize, EInvalidLastEventID,
	EInvalidExpect, EInvalidSnooze, EInvalidSort, EInvalidChannel, EChannelRefused,
	EUnauthorized, EBadOrigin, ESessionKeyRequired, EDeviceTokenRequired, EMethodNotAllowed,
	ENotFound, EUnknownCode, ECodeUsedOrExpired, EBodyTooLarge, ETooManyEvents, EURLTooLong,
	ETooManyJobs, ETooManyDevices, ETooManyChannels, EEmailUnavailable, EChannelsUnavailable, ERateLimited, ETooManyStreams, ETooManyConnections, EPushUnavailable, EDatabaseUnavailable,
	EShuttingDown, EDiskFull,
}

// Error is a failure the client can be told about: a code from the list
// above, a message that says what to do next, and, for bad input, the field
// (and the event's index in a batch) it is about. Transports map the code;
// the message is shown as it is. Err, the cause, is for logs only.
type Error struct {
	Code    string
	Message string
	Field   string
	// Index is the bad event's index in a batch (nil: none).
	Index *int
	// RetryAfter, when set, is how long the client should wait; otherwise
	// the transport uses the code's own default.
	RetryAfter time.Duration
	Err        error
}

// DefaultWait is how long a client should wait before trying again after an
// error with this code that does not say (Error.RetryAfter); 0: no retry is
// suggested. Every transport (the API's Retry-After, the pairing page) uses it.
func DefaultWait(code string) time.Duration {
	switch code {
	case ERateLimited:
		return time.Second
	case EDatabaseUnavailable, EShuttingDown:
		return 5 * time.Second
	case ETooManyStreams:
		return 10 * time.Second
	case ETooManyConnections:
		return 5 * time.Second
	case EDiskFull:
		return 30 * time.Second
	}
	return 0
}

// Errorf makes an *Error with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap makes an *Error whose cause is err (logged, never shown).
func Wrap(err error, code, message string) *Error {
	return &Error{Code: code, Message: message, Err: err}
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors of one code match: errors.Is(err, ErrNotFound) holds for
// every not_found, whatever its message.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// AsError finds the *Error in err's chain.
func AsError(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// ErrorCode is err's code: "" for nil, EInternal for an error without one
// (the server's own failure, whose text is not for the client).
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	if e, ok := AsError(err); ok {
		return e.Code
	}
	return EInternal
}

// ErrorMessage is what the client is told of err: its message, or a
// generic one for an error without a code.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	if e, ok := AsError(err); ok {
		return e.Message
	}
	return "the server failed; it has been logged"
}

// Shared conditions, matched by code (errors.Is).
var (
	ErrNotFound error = &Error{Code: ENotFound, Message: "not found"}
	ErrGone     error = &Error{Code: ECodeUsedOrExpired, Message: "used or expired"}
)

// As lets errors.As find a validation error as the *Error it answers as.
func (e *ValidationError) As(target any) bool {
	t, ok := target.(**Error)
	if !ok {
		return false
	}
	*t = &Error{Code: EInvalidEvent, Message: e.Error() + "; nothing in this request was stored", Field: e.Field}
	if e.Index >= 0 {
		i := e.Index
		(*t).Index = &i
	}
	return true
}
