#!/usr/bin/env bash
# Where the server's time goes under the ingest and latency benchmarks:
# perf samples the real server process (call graphs through Go's frame
# pointers) while wrk or the latency probe drives it, and the server's own
# metrics tell how busy its single SQLite committer was.
#
#   bench/profile.sh                 # single, batch and latency
#   PROFILE_DIR=/tmp/prof bench/profile.sh batch   # keep the perf.data files
#
# Without perf, profile the ingest path in-process instead:
#   go test ./bench -run '^$' -bench Ingest -cpuprofile /tmp/ingest.cpu && go tool pprof -top -cum /tmp/ingest.cpu
set -euo pipefail

# shellcheck disable=SC2034 # read by lib.sh
NAME=profile.sh
DURATION=${DURATION:-10s}
PARTS=${*:-single batch latency}
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
command -v perf >/dev/null || die "perf is needed (apt-get install linux-perf), or use the go test line above"
OUT=${PROFILE_DIR:-$WORK}
mkdir -p "$OUT"
build

metric() { curl -s "$URL/metrics" | awk -v n="$1" '$1 == n { print $2 }'; }
cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat"; }
now() { date +%s.%N; }

# The server's own functions and the library calls that explain them.
INTERESTING='observable/internal|database/sql\.\(\*Tx\)\.(ExecContext|QueryContext|Commit)$|sqlite\.\(\*conn\)\.(prepareV2|step)$|encoding/json\.Unmarshal$|net/http\.\(\*conn\)\.serve$|runtime\.gcBgMarkWorker$|syscall\.Syscall6$'

# profile NAME COMMAND...: runs COMMAND against the server $PID under perf
# and prints what the server did meanwhile.
profile() {
	local name=$1 perf_pid line
	shift
	local t0 cpu0 commits0 busy0 events0
	t0=$(now)
	cpu0=$(cpu_seconds "$PID")
	commits0=$(metric observable_commit_duration_seconds_count)
	busy0=$(metric observable_commit_duration_seconds_sum)
	events0=$(metric observable_commit_batch_events_sum)
	perf record -q -F 499 -g -p "$PID" -o "$OUT/$name.perf.data" 2>/dev/null &
	perf_pid=$!
	line=$("$@" | tail -1)
	kill -INT "$perf_pid"
	wait "$perf_pid" || true
	awk -v name="$name" -v line="$line" -v t="$(awk -v a="$t0" -v b="$(now)" 'BEGIN { print b - a }')" \
		-v cpu="$(awk -v a="$cpu0" -v b="$(cpu_seconds "$PID")" 'BEGIN { print b - a }')" \
		-v n="$(awk -v a="$commits0" -v b="$(metric observable_commit_duration_seconds_count)" 'BEGIN { print b - a }')" \
		-v busy="$(awk -v a="$busy0" -v b="$(metric observable_commit_duration_seconds_sum)" 'BEGIN { print b - a }')" \
		-v ev="$(awk -v a="$events0" -v b="$(metric observable_commit_batch_events_sum)" 'BEGIN { print b - a }')" 'BEGIN {
		printf "\n## %s\n%s\n", name, line
		printf "server CPU: %.2f of %d cores over %.1f s\n", cpu / t, '"$(nproc)"', t
		printf "committer: %d commits (%.0f a second), %.1f events and %.2f ms each, busy %.0f %% of the time\n",
			n, n / t, n ? ev / n : 0, n ? 1000 * busy / n : 0, 100 * busy / t
	}'
	echo "share of the server's CPU samples, inclusive (perf report --children):"
	perf report -i "$OUT/$name.perf.data" --stdio --children --sort symbol -g none 2>/dev/null |
		awk '$3 ~ /^\[/ { printf "  %7s  %s\n", $1, $4 }' | grep -E "$INTERESTING" | head -25
}

for part in $PARTS; do
	case $part in
	single)
		server full 32
		profile "single events, 32 connections over 32 sessions" wrk_events "$URL" 1 32
		stop "$PID"
		;;
	batch)
		server full 32
		profile "batches of 500 events, 8 connections" wrk_events "$URL" 500 8
		stop "$PID"
		;;
	latency)
		server full 1
		profile "POST to SSE, one after another" "$BIN/latency" -url "$URL" -keys "$WORK/keys" -n 5000
		stop "$PID"
		;;
	*) die "unknown part $part (single, batch, latency)" ;;
	esac
done
