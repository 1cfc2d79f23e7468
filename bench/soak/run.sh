#!/usr/bin/env bash
# The hostile-client soak of issue 9: builds this tree's server and the soak,
# starts the server on 127.0.0.1 with a fresh SQLite database in a temporary
# directory (its defaults, so its own caps are what is tested), runs the soak
# against it, stops it, and exits with the soak's status (1: an honest client
# saw an error or the server went past a bound). docs/benchmarks/soak.md.
#
#   bench/soak/run.sh                      # 60 s
#   bench/soak/run.sh -duration 10s        # any flag of the soak (go run ./bench/soak -h)
#
# Environment: PORT=18450, SERVER_FLAGS (more flags for the server),
# SERVER_BIN (a prebuilt observable-server instead of building this tree),
# SERVER_NOFILE=1024 (the server's soft descriptor limit at start, as many
# systems give; the hard limit stays; a server may raise it itself),
# BENCH_DIR (scratch directory, default /tmp).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PORT=${PORT:-18450}
URL=http://127.0.0.1:$PORT
WORK=$(mktemp -d "${BENCH_DIR:-/tmp}/observable-soak.XXXXXX")
SERVER_PID=

cleanup() {
	if [ -n "$SERVER_PID" ]; then
		kill "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
die() { echo "soak: $*" >&2; exit 2; }

cd "$ROOT"
if [ -n "${SERVER_BIN:-}" ]; then
	cp "$SERVER_BIN" "$WORK/observable-server"
else
	CGO_ENABLED=0 go build -o "$WORK/observable-server" ./cmd/observable-server ||
		die "could not build the server (or give a prebuilt one as SERVER_BIN)"
fi
go build -o "$WORK/soak" ./bench/soak || die "could not build the soak"

# shellcheck disable=SC2086 # SERVER_FLAGS is a list of flags
(
	ulimit -Sn "${SERVER_NOFILE:-1024}" 2>/dev/null || true
	exec "$WORK/observable-server" --listen "127.0.0.1:$PORT" --database "$WORK/soak.db" \
		--public-url "$URL" --log-level warn ${SERVER_FLAGS:-}
) >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do
	curl -s -o /dev/null -m 1 "$URL/readyz" && break
	kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; die "the server did not start"; }
	sleep 0.1
done
curl -s -o /dev/null -m 1 "$URL/readyz" || die "the server does not answer at $URL/readyz"

echo "Server: ${SERVER_BIN:-$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . 2>/dev/null || echo ' + uncommitted changes')}," \
	"127.0.0.1:$PORT, SQLite in $WORK, flags: ${SERVER_FLAGS:-(defaults)}; $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)."
status=0
"$WORK/soak" -url "$URL" -pid "$SERVER_PID" "$@" || status=$?
echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
if ! kill -0 "$SERVER_PID" 2>/dev/null; then
	echo "The server is no longer running." >&2
	status=1
fi
if [ -s "$WORK/server.log" ]; then
	echo "Server log, $(wc -l <"$WORK/server.log") lines at warn and above; the last ones:" >&2
	tail -n 8 "$WORK/server.log" | cut -c1-300 >&2
fi
exit "$status"
