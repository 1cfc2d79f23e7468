package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

// CreateSession makes a session on the server at base and returns its key.
func CreateSession(c *http.Client, base string) (string, error) {
	resp, err := c.Post(base+"/api/v1/sessions", "application/json", strings.NewReader("{}"))
	if err != nil {
		return "", fmt.Errorf("create session: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return "", fmt.Errorf("create session: %s: %s (start the server with --sessions-per-minute 0)", resp.Status, msg)
	}
	var created struct {
		SessionID string `json:"session_id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&created); err != nil || created.SessionID == "" {
		return "", fmt.Errorf("create session: no session_id in the answer (%v)", err)
	}
	return created.SessionID, nil
}

// PostEvents posts body (one event or a batch) with the key and checks the 202.
func PostEvents(c *http.Client, base, key string, body []byte) error {
	req, err := http.NewRequest(http.MethodPost, base+"/api/v1/events", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("post events: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("post events: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("post events: %s: %s", resp.Status, msg)
	}
	return nil
}

// Event renders one event as the Python SDK sends it, with a client id.
func Event(id, name string) []byte {
	return fmt.Appendf(nil, `{"id":%q,"name":%q,"status":"completed","duration_ms":1234.5,`+
		`"source":{"host":"bench","pid":4242,"sdk":"observable-python/0.1.0","runtime":"CPython 3.11.9"}}`, id, name)
}

// ReadKeys reads session keys, one a line, as the sessions command prints them.
func ReadKeys(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read session keys: %w", err)
	}
	keys := strings.Fields(string(b))
	if len(keys) == 0 {
		return nil, fmt.Errorf("read session keys: %s holds none (make some with bench/cmd/sessions)", path)
	}
	return keys, nil
}
