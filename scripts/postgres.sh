#!/usr/bin/env bash
# A throwaway PostgreSQL for tests.
#
#   scripts/postgres.sh start DIR   start one in DIR on a free 127.0.0.1 port;
#                                   prints its postgres:// URL on stdout
#   scripts/postgres.sh stop DIR    stop it and delete its files
#
# It installs Debian's postgresql package when initdb/pg_ctl are missing. As
# root it runs PostgreSQL as the postgres user (PostgreSQL refuses root).
# Durability is off (fsync, full-page writes): the data is thrown away.
# Everything but the URL goes to stderr.
set -euo pipefail

log() { echo "postgres.sh: $*" >&2; }
die() { log "$*"; exit 1; }

usage() {
	echo "usage: $0 start DIR | stop DIR" >&2
	exit 2
}

# find_bin prints the directory of initdb and pg_ctl: PATH first, then
# Debian's versioned directories (not on PATH), newest first.
find_bin() {
	local d
	if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
		dirname "$(command -v pg_ctl)"
		return 0
	fi
	for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -t/ -k5 -n -r); do
		if [ -x "$d/pg_ctl" ] && [ -x "$d/initdb" ]; then
			echo "$d"
			return 0
		fi
	done
	return 1
}

install_postgres() {
	[ "$(id -u)" = 0 ] || die "PostgreSQL (initdb, pg_ctl) is not installed and installing it needs root: run 'apt-get install postgresql' as root, then run this again"
	command -v apt-get >/dev/null 2>&1 || die "PostgreSQL (initdb, pg_ctl) is not installed and this is not a Debian-like system: install PostgreSQL 13 or newer, then run this again"
	log "initdb/pg_ctl not found: installing Debian's postgresql package"
	# The package would create and start a cluster on port 5432: tests need
	# only the binaries. Our answer is kept if it asks about this file.
	if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
		mkdir -p /etc/postgresql-common
		echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.conf
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2 || die "apt-get update failed: check the network or the apt sources"
	apt-get install -y -qq --no-install-recommends \
		-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
		postgresql >&2 || die "apt-get install postgresql failed (see above)"
}

# as_pg runs a command as the user PostgreSQL runs as.
as_pg() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# port_in_use is true when something accepts connections on the port.
port_in_use() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

random_port() {
	local port
	while :; do
		port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
		port_in_use "$port" || break
	done
	echo "$port"
}

# home prints where the cluster of DIR lives: DIR itself, or a directory
# under /tmp when the postgres user cannot reach DIR (see start).
home_of() {
	if [ -f "$1/home" ]; then cat "$1/home"; else echo "$1"; fi
}

# The state of a start, global so that its EXIT trap can see it.
dir="" bin="" home="" started=""

start() {
	local port try url
	dir=$1
	bin=$(find_bin) || { install_postgres; bin=$(find_bin) || die "PostgreSQL was installed but initdb/pg_ctl are still not found"; }
	if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
		die "running as root needs a 'postgres' user to run PostgreSQL as (apt-get install postgresql creates it)"
	fi
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	home=$(home_of "$dir")
	if [ -f "$dir/url" ] && [ -f "$home/data/postmaster.pid" ] && as_pg "$bin/pg_ctl" status -D "$home/data" >/dev/null 2>&1; then
		log "already running in $dir"
		cat "$dir/url"
		return 0
	fi
	[ ! -e "$home/data" ] || die "$home/data exists but no server runs there: run '$0 stop $dir' first"

	# From here on, a failure removes whatever this run created.
	trap cleanup_failed_start EXIT

	if [ "$(id -u)" = 0 ]; then
		chown postgres: "$dir"
		# Every directory above DIR must let the postgres user through;
		# when one does not, keep the cluster in a directory of its own.
		if ! runuser -u postgres -- test -w "$dir"; then
			home=$(mktemp -d /tmp/observable-pg.XXXXXX)
			chown postgres: "$home"
			echo "$home" >"$dir/home"
			log "the postgres user cannot reach $dir: the cluster lives in $home"
		fi
	fi

	as_pg "$bin/initdb" -D "$home/data" -U postgres -A trust -E UTF8 --locale=C \
		--no-sync --no-instructions >"$home/initdb.log" 2>&1 ||
		{ cat "$home/initdb.log" >&2; die "initdb failed (output above)"; }
	cat >>"$home/data/postgresql.conf" <<-'EOF'

		# scripts/postgres.sh: a private, throwaway test server
		listen_addresses = '127.0.0.1'
		unix_socket_directories = ''
		max_connections = 300
		fsync = off
		synchronous_commit = off
		full_page_writes = off
		shared_buffers = 64MB
		log_min_messages = warning
	EOF

	# A port can be taken between choosing and binding it: try others.
	for try in 1 2 3 4 5; do
		port=$(random_port)
		started=yes
		if as_pg "$bin/pg_ctl" start -w -t 60 -D "$home/data" -l "$home/server.log" -o "-p $port" >&2; then
			break
		fi
		started=""
		if ! grep -q -e "could not bind" -e "could not create any TCP/IP sockets" "$home/server.log" 2>/dev/null || [ "$try" = 5 ]; then
			tail -n 20 "$home/server.log" >&2 2>/dev/null || true
			die "PostgreSQL did not start (server log above)"
		fi
		log "port $port was taken, trying another"
	done

	url="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
	echo "$url" >"$dir/url"
	trap - EXIT
	log "PostgreSQL running in $home on port $port"
	echo "$url"
}

# cleanup_failed_start undoes a start that did not finish.
cleanup_failed_start() {
	local status=$?
	[ "$status" != 0 ] || return 0
	if [ -n "$started" ]; then
		as_pg "$bin/pg_ctl" stop -D "$home/data" -m immediate -w >/dev/null 2>&1 || true
	fi
	rm -rf "${home:?}/data" "${home:?}/server.log" "${home:?}/initdb.log" "${dir:?}/url" "${dir:?}/home"
	[ "$home" = "$dir" ] || rm -rf "${home:?}"
	log "start failed; cleaned up"
}

stop() {
	local dir=$1 bin home
	if [ ! -d "$dir" ]; then
		log "nothing to stop: $dir does not exist"
		return 0
	fi
	dir=$(cd "$dir" && pwd)
	home=$(home_of "$dir")
	if [ -f "$home/data/postmaster.pid" ]; then
		bin=$(find_bin) || die "a server runs in $home/data but pg_ctl is not found to stop it"
		as_pg "$bin/pg_ctl" stop -D "$home/data" -m fast -w -t 30 >&2 ||
			as_pg "$bin/pg_ctl" stop -D "$home/data" -m immediate -w >&2 ||
			log "could not stop the server in $home/data (is it already gone?)"
	fi
	rm -rf "${home:?}/data" "${home:?}/server.log" "${home:?}/initdb.log" "${dir:?}/url" "${dir:?}/home"
	[ "$home" = "$dir" ] || rm -rf "${home:?}"
	rmdir "$dir" 2>/dev/null || true
	log "stopped"
}

[ $# -eq 2 ] || usage
case "$1" in
start) start "$2" ;;
stop) stop "$2" ;;
*) usage ;;
esac
