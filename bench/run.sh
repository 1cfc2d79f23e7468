#!/usr/bin/env bash
# Runs the server benchmarks of issue 2 on this machine and prints a
# markdown table (docs/benchmarks/server.md explains the figures).
#
#   bench/run.sh                              # everything, 3 runs each (about 15 minutes)
#   RUNS=1 DURATION=5s bench/run.sh single    # a quick look at one part
#
# Parts: single batch latency idle (default: all). Settings (environment):
#   RUNS=3 DURATION=10s STREAMS=10000 IDLE_SESSIONS=1000 LATENCY_N=2000
#   BENCH_DIR (scratch directory, on disk so that fsync is real; default /tmp)
#   SERVER_BIN (a prebuilt observable-server instead of building this tree)
#   PORT=18300 (the server's port on 127.0.0.1; the bare baselines use the next)
# The raw result lines (WRK, LATENCY, IDLE) go to stderr as they come.
set -euo pipefail

# shellcheck disable=SC2034 # read by lib.sh
NAME=run.sh
RUNS=${RUNS:-3}
DURATION=${DURATION:-10s}
STREAMS=${STREAMS:-10000}
IDLE_SESSIONS=${IDLE_SESSIONS:-1000}
LATENCY_N=${LATENCY_N:-2000}
PARTS=${*:-single batch latency idle}
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
RES=$WORK/results
mkdir -p "$RES"

# Both the server and the probe hold one descriptor per stream.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -gt $((STREAMS + 1000)) ] || die "ulimit -n is $(ulimit -n); $STREAMS streams need more"
build

# ---- results -----------------------------------------------------------------

record() { echo "$2" >>"$RES/$1"; } # NAME VALUE
last() { tail -1 "$RES/$1"; }

# pair NAME A B: records 100 × A / B of this run's values, so that a ratio
# compares runs made seconds apart, under the same outside load.
pair() { record "$1" "$(awk -v a="$(last "$2")" -v b="$(last "$3")" 'BEGIN { print 100 * a / b }')"; }

median() {
	[ -s "$RES/$1" ] || return 0
	sort -g "$RES/$1" | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# spread NAME: "median (min–max)" of the recorded values, or "–".
spread() {
	[ -s "$RES/$1" ] || { echo "–"; return; }
	sort -g "$RES/$1" | awk '{ v[NR] = $1 } END {
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		f = m >= 100 ? "%.0f" : "%.2f"
		printf f " (" f "–" f ")", m, v[1], v[NR] }'
}

# load NAME URL EVENTS CONNS: one wrk run; records req/s, events/s and p99.
load() {
	local line
	line=$(wrk_events "$2" "$3" "$4")
	log "$1: $line"
	[[ $line == WRK* ]] || die "$1: wrk gave no result"
	if [ "$(field "$line" non2xx)" != 0 ] || [ "$(field "$line" socket_errors)" != 0 ]; then
		die "$1: some requests failed ($line)"
	fi
	record "$1.rps" "$(field "$line" rps)"
	record "$1.eps" "$(awk -v r="$(field "$line" rps)" -v n="$3" 'BEGIN { print r * n }')"
	record "$1.p99" "$(field "$line" p99_ms)"
}

latency() { # NAME
	local line
	line=$("$BIN/latency" -url "$URL" -keys "$WORK/keys" -n "$LATENCY_N")
	log "$1: $line"
	record "$1.p50" "$(field "$line" p50_ms)"
	record "$1.p99" "$(field "$line" p99_ms)"
}

idle() { # NAME
	local line
	line=$("$BIN/idle-streams" -url "$URL" -keys "$WORK/keys" -pid "$PID" -n "$STREAMS")
	log "$1: $line"
	[ "$(field "$line" delivered)" = "$STREAMS" ] || die "$1: not every stream received the check event ($line)"
	record "$1.rss" "$(field "$line" rss_after_mb)"
	record "$1.per" "$(field "$line" per_stream_kb)"
}

# ---- parts: baselines and server runs alternate, so that the machine's ------
# ---- other load falls on both alike ------------------------------------------

banner() { log "-- $1, run $run/$RUNS (load average $(cut -d' ' -f1-3 /proc/loadavg))"; }

part_single() {
	for run in $(seq "$RUNS"); do
		banner "single-event POSTs"
		bare bare-handler
		load single.bare "$URL" 1 32
		stop "$PID"
		for variant in "full 32 single.full" "full 1 single.one" "normal 32 single.normal"; do
			read -r sync sessions name <<<"$variant"
			server "$sync" "$sessions"
			load "$name" "$URL" 1 32
			stop "$PID"
			pair "$name.ratio" "$name.rps" single.bare.rps
		done
	done
}

part_batch() {
	for run in $(seq "$RUNS"); do
		banner "batched POSTs"
		bare bare-handler
		load batch.bare "$URL" 500 8
		stop "$PID"
		for sync in full normal; do
			server "$sync" 32
			load "batch.$sync" "$URL" 500 8
			stop "$PID"
		done
	done
}

part_latency() {
	for run in $(seq "$RUNS"); do
		banner "POST to SSE latency"
		bare bare-relay
		latency latency.bare
		stop "$PID"
		for sync in full normal; do
			server "$sync" 1
			latency "latency.$sync"
			stop "$PID"
		done
	done
}

part_idle() {
	for run in $(seq "$RUNS"); do
		banner "$STREAMS idle streams"
		# Every stream comes from 127.0.0.1: lift the per-address caps
		# (256 streams, 512 connections).
		OBSERVABLE_MAX_STREAMS_PER_ADDRESS=0 OBSERVABLE_MAX_CONNS_PER_ADDRESS=0 server full "$IDLE_SESSIONS"
		idle idle.server
		stop "$PID"
		bare bare-relay
		idle idle.bare
		stop "$PID"
	done
}

# ---- run and report ----------------------------------------------------------

START_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
for part in $PARTS; do
	case $part in
	single | batch | latency | idle) "part_$part" ;;
	*) die "unknown part $part (single, batch, latency, idle)" ;;
	esac
done

verdict() { # VALUE TARGET le|ge
	awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN {
		if (v == "") print "–"; else print ((op == "le" ? v <= t : v >= t) ? "met" : "**missed**") }'
}
row() { echo "| $1 | $2 | $3 | $4 | $5 |"; }
has() { [[ " $PARTS " == *" $1 "* ]]; }

echo
echo "Machine: $(nproc) cores ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)), $(uname -sr)," \
	"$(go version | cut -d' ' -f3), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2 || true);" \
	"load average $START_LOAD at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end."
echo "Each figure: median (min–max) of $RUNS runs. wrk: 2 threads, $DURATION a run; a fresh server and"
echo "database each run; rate limits off (--session-rate 0 --sessions-per-minute 0); SQLite"
echo "synchronous=full (the default) unless the row says normal."
echo
row "measurement" "target" "server" "bare baseline" "verdict"
row "---" "---" "---" "---" "---"
if has single; then
	row "single-event POSTs, 32 connections over 32 sessions: req/s" "≥ 50 % of bare" \
		"$(spread single.full.rps) = $(spread single.full.ratio) % of bare" "$(spread single.bare.rps)" \
		"$(verdict "$(median single.full.ratio)" 50 ge)"
	row "— the same: p99 ms" "≤ 20" "$(spread single.full.p99)" "$(spread single.bare.p99)" \
		"$(verdict "$(median single.full.p99)" 20 le)"
	row "— 32 connections on 1 session: req/s; p99 ms" "" \
		"$(spread single.one.rps) = $(spread single.one.ratio) %; $(spread single.one.p99) ms" "" "for the record"
	row "— 32 sessions, synchronous=normal: req/s; p99 ms" "" \
		"$(spread single.normal.rps) = $(spread single.normal.ratio) %; $(spread single.normal.p99) ms" "" "for the record"
fi
if has batch; then
	row "batched POSTs of 500 events, 8 connections: events/s" "≥ 100,000" "$(spread batch.full.eps)" \
		"$(spread batch.bare.eps)" "$(verdict "$(median batch.full.eps)" 100000 ge)"
	row "— synchronous=normal: events/s" "" "$(spread batch.normal.eps)" "" "for the record"
fi
if has latency; then
	row "POST → SSE, events one after another: p99 ms (p50)" "≤ 1" \
		"$(spread latency.full.p99) ($(spread latency.full.p50))" \
		"$(spread latency.bare.p99) ($(spread latency.bare.p50))" "$(verdict "$(median latency.full.p99)" 1 le)"
	row "— synchronous=normal: p99 ms (p50)" "" \
		"$(spread latency.normal.p99) ($(spread latency.normal.p50))" "" "for the record"
fi
if has idle; then
	row "$STREAMS idle SSE streams: server RSS, MB (KB a stream)" "≤ 200" \
		"$(spread idle.server.rss) ($(spread idle.server.per))" \
		"$(spread idle.bare.rss) ($(spread idle.bare.per))" "$(verdict "$(median idle.server.rss)" 200 le)"
fi
