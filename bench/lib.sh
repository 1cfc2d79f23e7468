# shellcheck shell=bash
# Shared by run.sh and profile.sh (sourced, not run): the scratch
# directory, the build, and starting and stopping the processes measured.
# The caller sets NAME (for messages) and may set PORT, BENCH_DIR, SERVER_BIN.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PORT=${PORT:-18300} # the server's port; the bare baselines use the next one
WORK=$(mktemp -d "${BENCH_DIR:-/tmp}/observable-bench.XXXXXX")
BIN=$WORK/bin
PIDS=()

cleanup() {
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

die() { echo "${NAME:-bench}: $*" >&2; exit 1; }
log() { echo "$*" >&2; }

# build: the bench commands and the server of this tree (or SERVER_BIN).
build() {
	for tool in wrk curl go; do
		command -v "$tool" >/dev/null || die "$tool is needed (wrk: apt-get install wrk)"
	done
	mkdir -p "$BIN"
	(cd "$ROOT" && go build -o "$BIN/" ./bench/cmd/...) || die "could not build the bench commands"
	if [ -n "${SERVER_BIN:-}" ]; then
		cp "$SERVER_BIN" "$BIN/observable-server"
	else
		(cd "$ROOT" && CGO_ENABLED=0 go build -o "$BIN/observable-server" ./cmd/observable-server) ||
			die "could not build the server (or give a prebuilt one as SERVER_BIN)"
	fi
}

# start NAME ARGS...: a command of $BIN in the background; sets PID.
start() {
	local name=$1
	shift
	"$BIN/$name" "$@" >"$WORK/$name.log" 2>&1 &
	PID=$!
	PIDS+=("$PID")
}

stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

wait_up() { # NAME URL: waits for the process $PID to answer at URL
	for _ in $(seq 100); do
		curl -s -o /dev/null -m 1 "$2" && return 0
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.1
	done
	tail -5 "$WORK/$1.log" >&2
	die "$1 does not answer at $2"
}

# server SYNC SESSIONS: a fresh server on a fresh database (in $WORK, on
# disk, so fsync is real) and SESSIONS sessions, whose keys go to
# $WORK/keys; sets URL and PID.
server() {
	rm -f "$WORK"/bench.db*
	URL=http://127.0.0.1:$PORT
	# No rate limits: they would cap the load, not measure it.
	start observable-server --listen "127.0.0.1:$PORT" --database "$WORK/bench.db" --public-url "$URL" \
		--sessions-per-minute 0 --session-rate 0 --sqlite-synchronous "$1" --log-level warn
	wait_up observable-server "$URL/readyz"
	"$BIN/sessions" -url "$URL" -n "$2" >"$WORK/keys" || die "could not create sessions"
}

bare() { # NAME: bare-handler or bare-relay; sets URL and PID
	URL=http://127.0.0.1:$((PORT + 1))
	start "$1" -listen "127.0.0.1:$((PORT + 1))"
	wait_up "$1" "$URL/"
	echo none >"$WORK/keys" # they check no key
}

# wrk_events URL EVENTS CONNS: one wrk run of $DURATION; prints its WRK line.
wrk_events() {
	wrk -t2 -c"$3" -d"$DURATION" -s "$ROOT/bench/wrk/events.lua" "$1/api/v1/events" -- "$WORK/keys" "$2" | tail -1
}

field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; } # LINE KEY
