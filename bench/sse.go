package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// Stream is one Server-Sent Events stream on its own connection. It is
// read over a raw connection, not an http.Client, so that holding ten
// thousand of them costs the probe little and no goroutine each.
type Stream struct {
	conn net.Conn
	body *bufio.Reader
}

// OpenStream opens GET <base>/api/v1/events/stream with the session key,
// checks the 200 and reads the first frame (the server's preamble), so that
// the stream is known to be served when it returns.
func OpenStream(base, key string, timeout time.Duration) (*Stream, error) {
	req, err := http.NewRequest(http.MethodGet, base+"/api/v1/events/stream", nil)
	if err != nil {
		return nil, fmt.Errorf("stream request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Accept", "text/event-stream")
	conn, err := net.DialTimeout("tcp", req.URL.Host, timeout)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", req.URL.Host, err)
	}
	s, err := startStream(conn, req, timeout)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return s, nil
}

func startStream(conn net.Conn, req *http.Request, timeout time.Duration) (*Stream, error) {
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return nil, err
	}
	if err := req.Write(conn); err != nil {
		return nil, fmt.Errorf("send stream request: %w", err)
	}
	br := bufio.NewReaderSize(conn, 1024)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, fmt.Errorf("read stream response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("stream answered %s", resp.Status)
	}
	// The body decodes chunked encoding (the bare relay) or reads to close
	// (the server's hijacked stream) alike.
	s := &Stream{conn: conn, body: bufio.NewReaderSize(resp.Body, 1024)}
	if _, err := s.Next(); err != nil {
		return nil, fmt.Errorf("read stream preamble: %w", err)
	}
	return s, conn.SetDeadline(time.Time{})
}

// Frame is one SSE frame: its data lines joined, and when its end was read.
type Frame struct {
	Data []byte
	At   time.Time
}

// Next reads up to the blank line that ends a frame. Comment-only frames
// (the preamble, heartbeats) come back with empty Data.
func (s *Stream) Next() (Frame, error) {
	var data []byte
	for {
		line, err := s.body.ReadBytes('\n')
		if err != nil {
			return Frame{}, fmt.Errorf("read stream: %w", err)
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			return Frame{Data: data, At: time.Now()}, nil
		}
		if v, ok := strings.CutPrefix(string(line), "data:"); ok {
			data = append(data, strings.TrimPrefix(v, " ")...)
		}
	}
}

// SetReadDeadline bounds the next reads.
func (s *Stream) SetReadDeadline(t time.Time) error { return s.conn.SetReadDeadline(t) }

// Close closes the connection.
func (s *Stream) Close() error { return s.conn.Close() }
