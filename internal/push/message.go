package push

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/observable-code/observable/internal/alerttext"
	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/store"
)

// message is the JSON the service worker receives (decrypted) in its push
// event. Title and body are ready to show; the rest lets it tag, route and
// group the notification without another request.
type message struct {
	Title  string `json:"title"`
	Body   string `json:"body"`
	Tag    string `json:"tag"`
	URL    string `json:"url"`
	Kind   string `json:"kind"`
	Job    string `json:"job"`
	Seq    int64  `json:"seq"`
	Status string `json:"status"`
}

// maxPayload bounds the JSON before encryption. Records are padded to
// recordSize, and Firefox on Android refuses bodies much over 3 KB, so the
// plain text must fit one 2 KB record with room to spare.
const (
	recordSize = 2048
	maxPayload = 1800
)

// Text budgets, tried in order until the payload fits: ordinary names and
// errors fit the first; only pathological ones (long names of multi-byte
// characters) shrink further.
var budgets = []struct{ name, detail int }{{120, 300}, {60, 150}, {30, 60}, {16, 24}}

// buildMessage writes the notification for one event, or for the incident
// (in, nil for an AlertEvent) the event belongs to.
func buildMessage(kind string, ev *domain.StoredEvent, in *domain.Incident) ([]byte, error) {
	if kind == domain.AlertChannelOff {
		return channelOffMessage()
	}
	for _, b := range budgets {
		m := describe(kind, ev, in, b.name, b.detail)
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false) // text is shown as text; escaping only costs bytes
		if err := enc.Encode(m); err != nil {
			return nil, fmt.Errorf("encode notification: %w", err)
		}
		if out := bytes.TrimSpace(buf.Bytes()); len(out) <= maxPayload {
			return out, nil
		}
	}
	return nil, fmt.Errorf("notification for event %d does not fit %d bytes", ev.Seq, maxPayload)
}

func describe(kind string, ev *domain.StoredEvent, in *domain.Incident, nameRunes, detailRunes int) message {
	title, body := alerttext.Words(kind, ev, in, nameRunes, detailRunes)
	// Job and Tag keep the name as it is: they identify the job to the
	// service worker and are never shown, and cleaned they could make two
	// jobs one.
	return message{
		Title:  title,
		Body:   body,
		Tag:    jobTag(ev.Name),
		URL:    "/runs/" + strconv.FormatInt(ev.Seq, 10),
		Kind:   kind,
		Job:    alerttext.Clip(ev.Name, nameRunes),
		Seq:    ev.Seq,
		Status: ev.Status,
	}
}

// jobTag is the same for every run of a job, so a phone replaces the job's
// notification rather than stacking one per failure. Long names are cut and
// completed by a hash, which keeps the tag both short and distinct.
func jobTag(name string) string {
	if utf8.RuneCountInString(name) <= 40 && len(name) <= 80 {
		return "job:" + name
	}
	sum := sha256.Sum256([]byte(name))
	return "job:" + alerttext.Clip(name, 24) + "#" + hex.EncodeToString(sum[:8])
}

// jobTopic is the Topic header (RFC 8030 §5.4: at most 32 characters of the
// URL-safe base64 alphabet): a push service keeps only the newest undelivered
// message of a topic, so a phone offline through many failures gets one.
func jobTopic(name string) string {
	sum := sha256.Sum256([]byte("observable job\x00" + name))
	return base64.RawURLEncoding.EncodeToString(sum[:])[:32]
}

// channelOffMessage is the push of kind domain.AlertChannelOff: about no
// event, and naming neither the channel's host nor anything of its
// settings (its URL may be a secret); Settings shows which one and why.
// One tag for all, so that two channels turned off make one notification.
func channelOffMessage() ([]byte, error) {
	return json.Marshal(message{
		Title: "A channel was turned off",
		Body:  "Open Settings to see why and turn it on again.",
		Tag:   "channel-off",
		URL:   "/settings",
		Kind:  domain.AlertChannelOff,
	})
}

// pushTopic is the job's Topic header, or for a push about no event (a
// channel turned off) one of its kind.
func pushTopic(job store.PushJob) string {
	if job.Event == nil {
		return jobTopic("\x00" + job.Kind)
	}
	return jobTopic(job.Event.Name)
}

// alertTime is when an alert came to be, for its TTL: its event's, or for a
// missed or overdue run (about the job's last event, maybe long ago) when the
// incident opened. A push about no event (a channel turned off) is sent
// when it is claimed, so it is as old as that.
func alertTime(job store.PushJob) time.Time {
	if job.Event == nil {
		return time.Now()
	}
	return alerttext.At(job.Event, job.Incident)
}
