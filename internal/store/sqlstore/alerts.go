package sqlstore

// The fan-out of alerts to their targets (phones with push, channels), one
// rule (domain.AlertFor) over one loop for the SQLite commit, the
// PostgreSQL pipeline and the evaluator alike.

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/store"
)

// alertTarget is a device with push on, or a channel that is verified and
// not off: where an alert may go, by its rules.
type alertTarget struct {
	id     string
	notify string
	muted  []string
}

// newAlertTarget decodes a target row's muted jobs; what names the kind of
// target in errors ("device", "channel").
func newAlertTarget(what, id, notify, muted string) (alertTarget, error) {
	t := alertTarget{id: id, notify: notify}
	if err := json.Unmarshal([]byte(muted), &t.muted); err != nil {
		return t, fmt.Errorf("%s %s: muted jobs: %w", what, id, err)
	}
	return t, nil
}

// eachAlert calls fn for every alert to queue: each event of added (with
// its incident's alert, alerts[x], nil when none) for every target of its
// session whose rules let it through, kind being what the target is told.
// count counts it on its request (countPush, countChannel).
func eachAlert(targets map[int64][]alertTarget, added []newEvent, alerts []jobAlert, count func(*store.Append),
	fn func(t *alertTarget, n newEvent, al jobAlert, kind string)) {
	for x, n := range added {
		var al jobAlert
		if alerts != nil {
			al = alerts[x]
		}
		ts := targets[n.a.SessionID]
		for i := range ts {
			if kind := domain.AlertFor(ts[i].notify, ts[i].muted, &n.ev.Event, al.kind); kind != "" {
				count(n.a)
				fn(&ts[i], n, al, kind)
			}
		}
	}
}

// evaluatorEvent is what the evaluator's alert (missed, overdue) is about,
// for eachAlert: the job's last event seq, queued now, and no event of its
// own (only the job's name, which mutes go by).
func evaluatorEvent(k jobKey, seq int64, now time.Time) newEvent {
	return newEvent{ev: &domain.StoredEvent{Seq: seq, Event: domain.Event{Name: k.name}, ReceivedAt: domain.NewTime(now)},
		a: &store.Append{SessionID: k.session}}
}

func countPush(a *store.Append)    { a.Pushes++ }
func countChannel(a *store.Append) { a.Channels++ }

// The rows of push_jobs (insertPushes) and channel_jobs (insertChannels)
// for an alert.

func pushRow(t *alertTarget, n newEvent, al jobAlert, kind string) []any {
	return []any{t.id, n.a.SessionID, n.ev.Seq, kind, n.ev.ReceivedAt.Millis(), al.incidentID()}
}

func channelRow(t *alertTarget, n newEvent, al jobAlert, kind string) []any {
	at := n.ev.ReceivedAt.Millis()
	return []any{t.id, n.a.SessionID, n.ev.Seq, kind, al.incidentID(), at, at}
}

// alertSink is a kind of target: its statements, its rows, its count on
// the request, and its words for errors.
type alertSink struct {
	what, findOp, queueOp string
	targets               map[int]*sql.Stmt // id, session, notify, muted of some sessions' targets
	insert                map[int]*sql.Stmt
	row                   func(*alertTarget, newEvent, jobAlert, string) []any
	count                 func(*store.Append)
}

// newAlertSinks are the sinks of p's statements (prepareIngest).
func newAlertSinks(p *prepared) (pushes, channels *alertSink) {
	return &alertSink{"device", "find push devices", "queue pushes", p.pushTargets, p.insertPushes, pushRow, countPush},
		&alertSink{"channel", "find channels", "queue channel alerts", p.channelTargets, p.insertChannels, channelRow, countChannel}
}

// readTargets reads the targets of sessions.
func (s *alertSink) readTargets(ctx context.Context, tx *sql.Tx, sessions []int64) (map[int64][]alertTarget, error) {
	targets := make(map[int64][]alertTarget)
	err := runPadded(ctx, tx, s.targets, sessions, nil, func(rows *sql.Rows) error {
		var id, notify, muted string
		var session int64
		if err := rows.Scan(&id, &session, &notify, &muted); err != nil {
			return err
		}
		t, err := newAlertTarget(s.what, id, notify, muted)
		targets[session] = append(targets[session], t)
		return err
	})
	return targets, wrapErr(s.findOp, err)
}

// queueAlerts queues, in the transaction that decided on them, the alerts
// (about the events of added, by index; nil when none) for every target of
// sessions whose rules ask for one, its targets read once. It returns how
// many it queued.
func (s *alertSink) queueAlerts(ctx context.Context, tx *sql.Tx, sessions []int64, added []newEvent, alerts []jobAlert) (int, error) {
	if len(sessions) == 0 {
		return 0, nil
	}
	targets, err := s.readTargets(ctx, tx, sessions)
	if err != nil || len(targets) == 0 {
		return 0, err
	}
	var rows [][]any
	eachAlert(targets, added, alerts, s.count, func(t *alertTarget, n newEvent, al jobAlert, kind string) {
		rows = append(rows, s.row(t, n, al, kind))
	})
	return len(rows), wrapErr(s.queueOp, execRows(ctx, tx, s.insert, rows))
}

// queueJobAlerts queues the evaluator's alerts (about, by index, events of
// evaluatorEvent) to their sessions' devices and channels. It returns how
// many it queued.
func (db *DB) queueJobAlerts(ctx context.Context, tx *sql.Tx, about []newEvent, alerts []jobAlert) (int, error) {
	var sessions []int64
	seen := make(map[int64]bool)
	for _, n := range about {
		if !seen[n.a.SessionID] {
			seen[n.a.SessionID] = true
			sessions = append(sessions, n.a.SessionID)
		}
	}
	p, err := db.ingest.pushes.queueAlerts(ctx, tx, sessions, about, alerts)
	if err != nil {
		return 0, err
	}
	c, err := db.ingest.channels.queueAlerts(ctx, tx, sessions, about, alerts)
	return p + c, err
}
