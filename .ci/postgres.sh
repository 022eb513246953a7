#!/usr/bin/env bash
# A private PostgreSQL for the tests, from Debian's packages: initdb into a
# temp dir as the postgres user (initdb refuses root), pg_ctl on a free
# port bound to 127.0.0.1 with its socket in that dir, fsync on.
#
#   eval "$(bash .ci/postgres.sh start)"   # exports SEEN_TEST_POSTGRES_URL and SEEN_TEST_POSTGRES_DIR
#   bash .ci/postgres.sh stop "$SEEN_TEST_POSTGRES_DIR"
#
# stop uses pg_ctl, which signals the postmaster by the PID in its pid file:
# nothing is stopped by name. Installs the postgresql package when initdb
# is missing (as root, on Debian).
set -euo pipefail

pgbin() {
	local d
	for d in /usr/lib/postgresql/*/bin; do
		if [ -x "$d/initdb" ]; then
			echo "$d"
			return
		fi
	done
	return 1
}

as_postgres() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

case "${1:-}" in
start)
	if ! bin=$(pgbin); then
		echo "postgres.sh: installing Debian's postgresql" >&2
		if [ "$(id -u)" != 0 ]; then
			echo "postgres.sh: initdb missing and not root: apt-get install postgresql" >&2
			exit 1
		fi
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
		bin=$(pgbin)
	fi
	dir=$(mktemp -d /tmp/seen-pg.XXXXXX)
	if [ "$(id -u)" = 0 ]; then
		chown postgres: "$dir"
	fi
	chmod 700 "$dir"
	as_postgres "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
		{ cat "$dir/initdb.log" >&2; exit 1; }
	# A free port (free-port.sh). Another process could take it before the
	# postmaster does; then pg_ctl fails and says so.
	port=$(bash "$(dirname "${BASH_SOURCE[0]}")/free-port.sh")
	as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
		-o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=on -c synchronous_commit=on -c max_connections=200" \
		start >&2 || { cat "$dir/server.log" >&2; exit 1; }
	echo "export SEEN_TEST_POSTGRES_URL='postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable'"
	echo "export SEEN_TEST_POSTGRES_DIR='$dir'"
	echo "export SEEN_TEST_POSTGRES_PID='$(head -1 "$dir/data/postmaster.pid")'"
	;;
stop)
	dir=${2:?usage: postgres.sh stop DIR}
	bin=$(pgbin)
	if [ -f "$dir/data/postmaster.pid" ]; then
		as_postgres "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
	fi
	rm -rf "$dir"
	;;
*)
	echo "usage: postgres.sh start | stop DIR" >&2
	exit 2
	;;
esac
