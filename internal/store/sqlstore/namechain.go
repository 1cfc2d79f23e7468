package sqlstore

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/store"
)

// listByName serves ListEvents for one job name by walking its name chain
// (events.prev_seq, migration 0005) on the primary key rather than an index
// on (session, name, seq), which every event paid for on ingest. The walk
// starts at the job row's last_seq, or, when paging back, at the event
// before the page (before is the last seq of the previous page, an event of
// this name); any other before walks from the head. It ends at limit, at
// the chain's start, or where retention pruned the chain's older part.
// CROSS JOIN keeps SQLite's loop order: the walk outside, events by key
// inside (it would scan the events otherwise).
func (db *DB) listByName(ctx context.Context, sessionID int64, q store.EventQuery) ([]domain.StoredEvent, error) {
	start := `(SELECT last_seq FROM jobs WHERE session_id = ? AND name = ?)`
	args := []any{sessionID}
	if q.Before > 0 {
		start = `COALESCE((SELECT prev_seq FROM events WHERE session_id = ? AND seq = ? AND name = ?), ` + start + `)`
		args = append(args, sessionID, q.Before, q.Name)
	}
	args = append(args, sessionID, q.Name, sessionID)
	filter := ``
	if q.Before > 0 {
		filter += ` AND seq < ?`
		args = append(args, q.Before)
	}
	if q.Status != "" {
		filter += ` AND status = ?`
		args = append(args, q.Status)
	}
	args = append(args, q.Limit, sessionID)
	events, err := db.queryEvents(ctx, "list events", `WITH RECURSIVE chain (seq, prev, status) AS (
			SELECT seq, prev_seq, status FROM events WHERE session_id = ? AND seq = `+start+`
			UNION ALL
			SELECT e.seq, e.prev_seq, e.status FROM chain c CROSS JOIN events e WHERE e.session_id = ? AND e.seq = c.prev
		)
		SELECT `+prefixed("e.", eventColumns)+` FROM (SELECT seq FROM chain WHERE 1 = 1`+filter+` LIMIT ?) AS c
		CROSS JOIN events e WHERE e.session_id = ? AND e.seq = c.seq`, args...)
	// The walk yields them newest first; the final join need not keep that.
	slices.SortFunc(events, func(a, b domain.StoredEvent) int { return cmp.Compare(b.Seq, a.Seq) })
	return events, err
}

// prefixed qualifies each column of a list such as eventColumns.
func prefixed(table, columns string) string {
	return table + strings.ReplaceAll(columns, ", ", ", "+table)
}

// chainColumns adds prev_seq to an insert's column list.
func chainColumns(columns string) string {
	return strings.TrimSuffix(columns, ")") + `, prev_seq)`
}

// chainRows is placeholders(n, cols) with prev_seq last: the previous
// event's seq where the commit knows it (chainPrev), else the job row's
// last_seq, read by the insert itself (the three arguments after the row's
// own: the seq or NULL, the session and the name). The job upsert comes after
// the insert in the same transaction, so the job row still names the
// previous commit's last event; a job that is new, or that retention
// deleted, gives NULL: the chain starts there.
func chainRows(n, cols int) string {
	one := "(" + strings.Repeat("?,", cols) + `COALESCE(?, (SELECT last_seq FROM jobs WHERE session_id = ? AND name = ?)))`
	return strings.TrimSuffix(strings.Repeat(one+",", n), ",")
}

// chainPrev is, for each event of the commit, the seq of the commit's
// previous event of its job (added holds each session's events in seq
// order), or 0 for the job's first event in the commit.
func chainPrev(added []newEvent) []int64 {
	prev := make([]int64, len(added))
	if len(added) == 1 {
		return prev
	}
	last := make(map[jobKey]int64)
	for i, n := range added {
		k := jobKey{n.a.SessionID, n.ev.Name}
		prev[i] = last[k]
		last[k] = n.ev.Seq
	}
	return prev
}
