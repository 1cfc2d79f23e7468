#!/usr/bin/env bash
# The server core's ingest benchmarks on PostgreSQL beside SQLite, and with
# two instances on one PostgreSQL beside one (issue 6). Prints a markdown
# table; docs/benchmarks/postgres.md explains the figures.
#
#   bench/scaleout/run.sh                            # everything, 3 runs each (about 7 minutes)
#   RUNS=1 DURATION=5s bench/scaleout/run.sh single  # a quick look at one part
#
# Parts: single batch latency durable (default: all).
#   single   single-event POSTs, 32 connections over 32 sessions
#   batch    POSTs of 500 events, 8 connections
#   latency  POST -> SSE, events one after another (same instance, and
#            posted to one instance, streamed from the other)
#   durable  single and batch again on PostgreSQL with fsync,
#            synchronous_commit and full_page_writes on
# Settings (environment): RUNS=3 DURATION=10s LATENCY_N=2000 SESSIONS=32,
#   BENCH_DIR (scratch directory, on disk so that fsync is real; default /tmp),
#   SERVER_BIN (a prebuilt observable-server), PORT=18400 (instance A; the
#   bare handler uses PORT+1, instance B PORT+2).
#
# PostgreSQL is a throwaway one from scripts/postgres.sh on this machine,
# which turns fsync off; the durable part turns it on. Every configuration
# is driven by two wrk processes of one thread each (half the connections
# each), aimed at the same instance or one at each, so that the load
# generator is the same whether there are one or two instances.
set -euo pipefail

# shellcheck disable=SC2034 # read by lib.sh's messages
NAME=scaleout/run.sh
RUNS=${RUNS:-3}
DURATION=${DURATION:-10s}
LATENCY_N=${LATENCY_N:-2000}
SESSIONS=${SESSIONS:-32}
PORT=${PORT:-18400}
PARTS=${*:-single batch latency durable}
HERE=$(cd "$(dirname "$0")" && pwd)
# ROOT WORK BIN PIDS, and build start stop wait_up field die log cleanup:
# shellcheck source=bench/lib.sh
source "$HERE/../lib.sh"
RES=$WORK/results
PGDIR=$WORK/postgres
mkdir -p "$RES"

finish() {
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	"$ROOT/scripts/postgres.sh" stop "$PGDIR" >/dev/null 2>&1 || true
	cleanup
}
trap finish EXIT

build
(cd "$ROOT" && go build -o "$BIN/" ./bench/scaleout/cmd/...) || die "could not build bench/scaleout/cmd"
PGURL=$("$ROOT/scripts/postgres.sh" start "$PGDIR") || die "PostgreSQL did not start"
log "PostgreSQL: $PGURL"

# ---- processes -----------------------------------------------------------------

# instance LABEL PORT DATABASE: one server process; sets PID.
instance() {
	"$BIN/observable-server" --listen "127.0.0.1:$2" --database "$3" --public-url "http://127.0.0.1:$2" \
		--sessions-per-minute 0 --session-rate 0 --log-level warn >"$WORK/$1.log" 2>&1 &
	PID=$!
	PIDS+=("$PID")
	wait_up "$1" "http://127.0.0.1:$2/readyz"
}

# setup sqlite|pg1|pg2: fresh database, the instances, sessions (keys in
# $WORK/keys); sets URLS (the wrk targets, two) and SERVERS (pids).
setup() {
	local db a=http://127.0.0.1:$PORT b=http://127.0.0.1:$((PORT + 2))
	case $1 in
	sqlite)
		rm -f "$WORK"/bench.db*
		db=$WORK/bench.db
		;;
	pg1 | pg2) db=$("$BIN/pgadmin" create "$PGURL") || die "could not create a database" ;;
	esac
	instance "$1-a" "$PORT" "$db"
	SERVERS=("$PID")
	URLS=("$a" "$a")
	if [ "$1" = pg2 ]; then
		instance "$1-b" "$((PORT + 2))" "$db"
		SERVERS+=("$PID")
		URLS=("$a" "$b")
	fi
	"$BIN/sessions" -url "$a" -n "$SESSIONS" >"$WORK/keys" || die "could not create sessions"
}

teardown() { for pid in "${SERVERS[@]}"; do stop "$pid"; done; }

# ceiling: lib.sh's bare net/http handler, the most wrk gets from this machine.
ceiling() {
	bare bare-handler
	SERVERS=("$PID")
	URLS=("$URL" "$URL")
}

# ---- results ---------------------------------------------------------------------

record() { echo "$2" >>"$RES/$1"; }

# spread NAME: "median (min–max)" of the recorded values, or "–".
spread() {
	[ -s "$RES/$1" ] || { echo "–"; return; }
	sort -g "$RES/$1" | awk '{ v[NR] = $1 } END {
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		f = m >= 100 ? "%.0f" : "%.2f"
		printf f " (" f "–" f ")", m, v[1], v[NR] }'
}

# load NAME EVENTS CONNS: two wrk processes at once, CONNS/2 connections
# each, on URLS[0] and URLS[1]; records the summed req/s and events/s and
# the higher of the two p99s (latency histograms cannot be merged from
# wrk's summary lines).
load() {
	local out=$WORK/wrk i line rps=0 p99=0 loaders=()
	for i in 0 1; do
		wrk -t1 -c"$(($3 / 2))" -d"$DURATION" -s "$ROOT/bench/wrk/events.lua" "${URLS[$i]}/api/v1/events" \
			-- "$WORK/keys" "$2" >"$out.$i" 2>&1 &
		loaders+=($!)
	done
	wait "${loaders[@]}" || true
	for i in 0 1; do
		line=$(tail -1 "$out.$i")
		log "$1[$i]: $line"
		[[ $line == WRK* ]] || die "$1: wrk gave no result: $(cat "$out.$i")"
		if [ "$(field "$line" non2xx)" != 0 ] || [ "$(field "$line" socket_errors)" != 0 ]; then
			die "$1: some requests failed ($line)"
		fi
		rps=$(awk -v a="$rps" -v b="$(field "$line" rps)" 'BEGIN { print a + b }')
		p99=$(awk -v a="$p99" -v b="$(field "$line" p99_ms)" 'BEGIN { print (b > a ? b : a) }')
	done
	record "$1.rps" "$rps"
	record "$1.eps" "$(awk -v r="$rps" -v n="$2" 'BEGIN { print r * n }')"
	record "$1.p99" "$p99"
}

# commits NAME: events per group commit on the instances just loaded, from
# their metrics (the sessions made before the load commit no events).
commits() {
	local url metrics sum=0 count=0
	for url in $(printf '%s\n' "${URLS[@]}" | sort -u); do
		metrics=$(curl -sf "$url/metrics") || return 0
		sum=$(awk -v s="$sum" '$1 == "observable_commit_batch_events_sum" { s += $2 } END { print s }' <<<"$metrics")
		count=$(awk -v c="$count" '$1 == "observable_commit_batch_events_count" { c += $2 } END { print c }' <<<"$metrics")
	done
	if [ "$count" != 0 ]; then
		record "$1.group" "$(awk -v s="$sum" -v c="$count" 'BEGIN { print s / c }')"
	fi
}

latency() { # NAME COMMAND ARGS...
	local name=$1 line
	shift
	line=$("$@")
	log "$name: $line"
	record "$name.p50" "$(field "$line" p50_ms)"
	record "$name.p99" "$(field "$line" p99_ms)"
}

banner() { log "-- $1, run $run/$RUNS (load average $(cut -d' ' -f1-3 /proc/loadavg))"; }

# ---- parts -----------------------------------------------------------------------

# ingest PREFIX EVENTS CONNS CONFIGS...: one load per configuration.
ingest() {
	local prefix=$1 events=$2 conns=$3 config
	shift 3
	for config in "$@"; do
		if [ "$config" = bare ]; then ceiling; else setup "$config"; fi
		load "$prefix.$config" "$events" "$conns"
		commits "$prefix.$config"
		teardown
	done
}

part_single() {
	for run in $(seq "$RUNS"); do
		banner "single-event POSTs"
		ingest single 1 32 bare sqlite pg1 pg2
	done
}

part_batch() {
	for run in $(seq "$RUNS"); do
		banner "batched POSTs"
		ingest batch 500 8 sqlite pg1 pg2
	done
}

part_latency() {
	local a=http://127.0.0.1:$PORT b=http://127.0.0.1:$((PORT + 2))
	for run in $(seq "$RUNS"); do
		banner "POST to SSE latency"
		for config in sqlite pg1; do
			setup "$config"
			latency "latency.$config" "$BIN/latency" -url "$a" -keys "$WORK/keys" -n "$LATENCY_N"
			teardown
		done
		setup pg2
		latency latency.pg2 "$BIN/latency" -url "$a" -stream-url "$b" -keys "$WORK/keys" -n "$LATENCY_N"
		teardown
	done
}

part_durable() {
	log "PostgreSQL durable: $("$BIN/pgadmin" durable "$PGURL" on)"
	for run in $(seq "$RUNS"); do
		banner "PostgreSQL with fsync on"
		ingest durable.single 1 32 pg1 pg2
		ingest durable.batch 500 8 pg1 pg2
	done
	log "PostgreSQL back to the test settings: $("$BIN/pgadmin" durable "$PGURL" off)"
}

START_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
for part in $PARTS; do
	case $part in
	single | batch | latency | durable) "part_$part" ;;
	*) die "unknown part $part (single, batch, latency, durable)" ;;
	esac
done

# ---- report ----------------------------------------------------------------------

has() { [[ " $PARTS " == *" $1 "* ]]; }
row() { echo "| $1 | $2 | $3 | ${4:-} |"; }
row3() { echo "| $1 | $2 | $3 |"; }
ingest_rows() { # PREFIX UNIT(rps|eps) LABEL [SUFFIX]
	local config label
	for config in sqlite pg1 pg2; do
		case $config in
		sqlite) label="1 instance on SQLite" ;;
		pg1) label="1 instance on PostgreSQL" ;;
		pg2) label="2 instances on PostgreSQL" ;;
		esac
		[ -s "$RES/$1.$config.$2" ] || continue
		row "$3, $label${4:-}" "$(spread "$1.$config.$2")" "$(spread "$1.$config.p99")" "$(spread "$1.$config.group")"
	done
}

echo
echo "Machine: $(nproc) cores ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)), $(uname -sr)," \
	"$(go version | cut -d' ' -f3), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2 || true)," \
	"PostgreSQL $(postgres --version 2>/dev/null | awk '{ print $3 }' || echo '?');" \
	"load average $START_LOAD at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end."
echo "Each figure: median (min–max) of $RUNS runs of $DURATION; a fresh database each run; rate limits off;"
echo "SQLite synchronous=full; PostgreSQL from scripts/postgres.sh (fsync, synchronous_commit and"
echo "full_page_writes off) except in the rows marked durable. Load: two wrk processes (1 thread each)."
echo
row "measurement" "req/s or events/s" "p99 ms" "events per commit"
row "---" "---" "---" "---"
if has single; then
	row "single-event POSTs: req/s, bare net/http handler (ceiling)" "$(spread single.bare.rps)" "$(spread single.bare.p99)"
	ingest_rows single rps "single-event POSTs: req/s"
fi
if has batch; then
	ingest_rows batch eps "batches of 500: events/s"
fi
if has durable; then
	ingest_rows durable.single rps "single-event POSTs: req/s" ", durable"
	ingest_rows durable.batch eps "batches of 500: events/s" ", durable"
fi
if has latency; then
	echo
	row3 "POST → SSE, events one after another" "p50 ms" "p99 ms"
	row3 "---" "---" "---"
	row3 "1 instance on SQLite" "$(spread latency.sqlite.p50)" "$(spread latency.sqlite.p99)"
	row3 "1 instance on PostgreSQL" "$(spread latency.pg1.p50)" "$(spread latency.pg1.p99)"
	row3 "posted to A, streamed from B (PostgreSQL NOTIFY)" "$(spread latency.pg2.p50)" "$(spread latency.pg2.p99)"
fi
