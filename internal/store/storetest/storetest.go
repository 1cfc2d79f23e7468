// Package storetest is the conformance suite every store.Store must pass.
// The SQLite and PostgreSQL stores run it unchanged.
package storetest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/store"
)

// Factory returns a new, empty store; the suite closes it.
type Factory func(t *testing.T) store.Store

// Run runs every conformance test against stores made by newStore.
func Run(t *testing.T, newStore Factory) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"SessionsByKey", testSessionsByKey},
		{"SessionWithPairing", testSessionWithPairing},
		{"PairingLifecycle", testPairingLifecycle},
		{"PairingExpiry", testPairingExpiry},
		{"PairingReplace", testPairingReplace},
		{"PairingAgain", testPairingAgain},
		{"DeviceSettings", testDeviceSettings},
		{"DeviceDelete", testDeviceDelete},
		{"PushEndpointOneDevicePerSession", testPushEndpointHasOneDevicePerSession},
		{"AppendSeqAndDefaults", testAppendSeqAndDefaults},
		{"AppendRoundTrip", testAppendRoundTrip},
		{"AppendDuplicates", testAppendDuplicates},
		{"AppendConcurrent", testAppendConcurrent},
		{"ListEvents", testListEvents},
		{"SessionIsolation", testSessionIsolation},
		{"SessionStatusCounts", testSessionStatusCounts},
		{"Jobs", testJobs},
		{"JobSummaries", testJobSummaries},
		{"JobPercentilesWindow", testJobPercentilesWindow},
		{"JobSummaryWorstCase", testJobSummaryWorstCase},
		{"JobLimit", testJobLimit},
		{"JobLimitLowered", testJobLimitLowered},
		{"JobModelRuns", testJobModelRuns},
		{"JobModelLearns", testJobModelLearns},
		{"JobModelDeclared", testJobModelDeclared},
		{"IncidentsAlertAfter", testIncidentsAlertAfter},
		{"IncidentsFlapping", testIncidentsFlapping},
		{"IncidentsMissed", testIncidentsMissed},
		{"IncidentsOverdue", testIncidentsOverdue},
		{"IncidentsDuration", testIncidentsDuration},
		{"IncidentsPauseSnooze", testIncidentsPauseSnooze},
		{"IncidentsConcurrentEvaluators", testIncidentsConcurrentEvaluators},
		{"PruneEvents", testPruneEvents},
		{"PruneEventsInChunks", testPruneEventsInChunks},
		{"PruneDuringAppend", testPruneDuringAppend},
		{"PrunePairings", testPrunePairings},
		{"PushRules", testPushRules},
		{"PushQueueLeases", testPushQueueLeases},
		{"PushQueueConcurrentClaims", testPushQueueConcurrentClaims},
		{"PushDropEndpoint", testPushDropEndpoint},
		{"SettingsOnce", testSettingsOnce},
		{"ChannelCRUD", testChannelCRUD},
		{"ChannelLimit", testChannelLimit},
		{"ChannelConfirm", testChannelConfirm},
		{"ChannelAlertRules", testChannelAlertRules},
		{"ChannelIncidents", testChannelIncidents},
		{"ChannelQueueLeases", testChannelQueueLeases},
		{"ChannelConcurrentClaims", testChannelConcurrentClaims},
		{"ChannelAutoOff", testChannelAutoOff},
		{"ChannelDelete", testChannelDelete},
		{"PingChecks", testPingChecks},
		{"PingRuns", testPingRuns},
		{"Ping", func(t *testing.T, s store.Store) {
			if err := s.Ping(context.Background()); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() { s.Close() })
			tt.fn(t, s)
		})
	}
}

// base is the suite's clock: a fixed instant, so tests never race time.
var base = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func randomName(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return fmt.Sprintf("%s-%x", prefix, b)
}

func newSession(t *testing.T, s store.Store) domain.Session {
	t.Helper()
	sess, err := s.CreateSession(context.Background(), hash(randomName("key")), "host-a", base)
	if err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	return sess
}

// pair creates and claims a pairing, returning the device and its token.
func pair(t *testing.T, s store.Store, sessionID int64, replace bool) (domain.Device, string) {
	t.Helper()
	ctx := context.Background()
	code, token := randomName("code"), randomName("token")
	p := domain.Pairing{CodeHash: hash(code), SessionID: sessionID, CreatedAt: domain.NewTime(base),
		ExpiresAt: domain.NewTime(base.Add(10 * time.Minute)), Replace: replace}
	if err := s.CreatePairing(ctx, p); err != nil {
		t.Fatalf("CreatePairing: %v", err)
	}
	d, err := s.ClaimPairing(ctx, hash(code), domain.Device{ID: randomName("dev"), Name: "phone"}, hash(token), base.Add(time.Minute))
	if err != nil {
		t.Fatalf("ClaimPairing: %v", err)
	}
	return d, token
}

func ev(name, status string) domain.Event {
	return domain.Event{Name: name, Status: status}
}

func appendEvents(t *testing.T, s store.Store, sessionID int64, events ...domain.Event) *store.Append {
	t.Helper()
	a := &store.Append{SessionID: sessionID, Events: events, ReceivedAt: base}
	if err := s.AppendEvents(context.Background(), []*store.Append{a}); err != nil {
		t.Fatalf("AppendEvents: %v", err)
	}
	return a
}

func seqs(events []domain.StoredEvent) []int64 {
	out := make([]int64, len(events))
	for i, e := range events {
		out[i] = e.Seq
	}
	return out
}
