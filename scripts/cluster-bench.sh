#!/usr/bin/env bash
# cluster-bench.sh: the same `seen bench` scenarios, in one run, against
#   embedded  one node on its embedded store (the default deployment);
#   pg        one node on PostgreSQL, with the in-process bus;
#   cluster   two nodes on that PostgreSQL and a nats-server between them,
#             the bench's sockets spread over both (--url a,b: they take
#             turns, the admin calls go to the first).
# and one table: acks/s, p50/p99 of message.read, CPU seconds per ack of
# the Seen processes and of PostgreSQL, fsyncs per ack.
#
# Measured around the scenario's measured pass only: each scenario first
# runs a setup pass with the same --prefix (users and groups created
# through the admin API, untimed), then the measured pass with
# --setup=false, whose CPU covers connecting the clients and the traffic.
#   acks         message.read + message.delivered answered (the bench's
#                count), acks/s over the bench's window;
#   CPU          utime+stime from /proc/<pid>/stat, before and after: every
#                Seen process of the target; for PostgreSQL the postmaster,
#                its live children (backends, WAL writer, checkpointer) and
#                the children it reaped meanwhile (its cutime+cstime);
#   fsyncs       PostgreSQL: pg_stat_wal.wal_sync (WAL flushes; the
#                checkpointer's data-file fsyncs are not in it). Embedded:
#                the server has no fsync metric, so it runs under
#                `strace -f --seccomp-bpf -e trace=fsync,fdatasync`, which
#                stops it only at those calls (and at signals: Go's
#                preemption signals cost it a little), and the calls are
#                counted.
#
# Everything listens on 127.0.0.1 on free ports; the private PostgreSQL
# (.ci/postgres.sh), the nats-server (built from its Go module) and the
# servers are stopped by PID at exit. Nothing else on the machine is
# touched.
#
# Usage: scripts/cluster-bench.sh            (from the repository root)
# Settings (environment):
#   TARGETS="embedded pg cluster"    which targets, in this order; a target
#                                    may repeat ("embedded pg embedded pg"),
#                                    to interleave them on a noisy machine
#   SCENARIOS="group storm mixed"    which scenarios
#   GROUP_MEMBERS=1000 GROUP_MESSAGES=20
#   STORM_MEMBERS=10000 STORM_CONNECTED=2000
#   MIXED_DURATION=10s
#   SEEN_BIN=path NATS_BIN=path      use these binaries instead of building
#   KEEP=1                           keep the work directory (logs, JSON)
#   PG_STATEMENTS=1                  load pg_stat_statements into the
#                                    private PostgreSQL and print, after
#                                    each measured pass on it, its committed
#                                    transactions and top statements
set -euo pipefail

TARGETS=${TARGETS:-"embedded pg cluster"}
SCENARIOS=${SCENARIOS:-"group storm mixed"}
GROUP_MEMBERS=${GROUP_MEMBERS:-1000}
GROUP_MESSAGES=${GROUP_MESSAGES:-20}
STORM_MEMBERS=${STORM_MEMBERS:-10000}
STORM_CONNECTED=${STORM_CONNECTED:-2000}
MIXED_DURATION=${MIXED_DURATION:-10s}
KEY=clusterbenchkey0123456789
SECRET=clusterbenchsecret0123456789abcdef

work=$(mktemp -d /tmp/seen-cbench.XXXXXX)
pgdir=
natspid=
declare -a srvs=() wraps=()

# cleanup stops what this script started, each by its PID, and removes
# the work directory unless KEEP is set.
cleanup() {
	stop_servers
	if [[ -n $natspid ]] && kill -0 "$natspid" 2>/dev/null; then
		kill -TERM "$natspid"
		wait "$natspid" 2>/dev/null || true
	fi
	if [[ -n $pgdir ]]; then bash .ci/postgres.sh stop "$pgdir" || true; fi
	if [[ -z ${KEEP:-} ]]; then rm -rf "$work"; else echo "work directory: $work" >&2; fi
}
trap cleanup EXIT

# A port below the kernel's ephemeral range, where a port the kernel let
# go of may still be the local end of a connection (.ci/free-port.sh).
freeport() {
	bash "$(dirname "${BASH_SOURCE[0]}")/../.ci/free-port.sh"
}

# ---- binaries ----

bin=${SEEN_BIN:-}
if [[ -z $bin ]]; then
	bin=$work/seen
	go build -o "$bin" ./cmd/seen
fi
nats=${NATS_BIN:-}
if [[ -z $nats && " $TARGETS " == *" cluster "* ]]; then
	# The nats-server the tests embed is a dependency of this module, so
	# its main package builds from the module cache at the version go.sum
	# pins, on a fresh machine with only the Go proxy.
	nats=$work/nats-server
	go build -o "$nats" github.com/nats-io/nats-server/v2
fi

# ---- PostgreSQL ----

pgurl=
pgpid=
if [[ " $TARGETS " == *" pg "* || " $TARGETS " == *" cluster "* ]]; then
	eval "$(bash .ci/postgres.sh start)"
	pgdir=$SEEN_TEST_POSTGRES_DIR
	pgurl=$SEEN_TEST_POSTGRES_URL
	pgpid=$SEEN_TEST_POSTGRES_PID
	if [[ -n ${PG_STATEMENTS:-} ]]; then
		# Loaded at start only: restart the private server with it.
		psql -XqAt "$pgurl" -c "ALTER SYSTEM SET shared_preload_libraries = pg_stat_statements" >/dev/null
		# Debian's layout, as .ci/postgres.sh finds initdb.
		pgctl=$(ls /usr/lib/postgresql/*/bin/pg_ctl | tail -1)
		if [[ $(id -u) == 0 ]]; then
			runuser -u postgres -- "$pgctl" -D "$pgdir/data" -l "$pgdir/server.log" -w restart >/dev/null
		else
			"$pgctl" -D "$pgdir/data" -l "$pgdir/server.log" -w restart >/dev/null
		fi
		pgpid=$(head -1 "$pgdir/data/postmaster.pid")
		psql -XqAt "$pgurl" -c "CREATE EXTENSION pg_stat_statements" >/dev/null
	fi
fi

# psqlc runs one SQL statement on database $1 and prints the value.
psqlc() {
	local db=$1 sql=$2
	psql -XqAt "${pgurl/\/postgres\?//$db?}" -c "$sql"
}

# ---- CPU ----

hz=$(getconf CLK_TCK)

# ticks prints utime+stime of each PID given, summed, in clock ticks;
# with --reaped also the children each has reaped (cutime+cstime).
ticks() {
	local reaped=0 sum=0 pid f
	if [[ $1 == --reaped ]]; then reaped=1; shift; fi
	for pid in "$@"; do
		# The command name (field 2) may hold spaces: cut after its ')'.
		f=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null) || continue
		# shellcheck disable=SC2086
		set -- $f
		# After the cut, utime is field 12, stime 13, cutime 14, cstime 15.
		sum=$((sum + ${12} + ${13}))
		if ((reaped)); then sum=$((sum + ${14} + ${15})); fi
	done
	echo "$sum"
}

# pgticks is the CPU of the PostgreSQL server: the postmaster with what
# it reaped, and its live children. Only for a target on PostgreSQL: the
# embedded target runs beside an idle one, whose background work is not
# the target's.
pgticks() {
	if [[ -z $pgpid || -z $db ]]; then echo 0; return; fi
	local kids
	kids=$(ps -o pid= --ppid "$pgpid" | tr -d ' ' | tr '\n' ' ')
	# shellcheck disable=SC2086
	echo $(($(ticks --reaped "$pgpid") + $(ticks $kids)))
}

# ---- servers ----

# start_server starts one node: $1 its name, $2 its port, then extra
# environment assignments; under $WRAP (a wrapper command) if set. It
# waits until the node answers and records its PID in srvs.
start_server() {
	local name=$1 port=$2
	shift 2
	mkdir -p "$work/data.$name"
	env SEEN_LISTEN=127.0.0.1:$port SEEN_DATA="$work/data.$name" SEEN_ADMIN_KEY=$KEY \
		SEEN_TOKEN_SECRET=$SECRET SEEN_LOG_LEVEL=warn SEEN_DEMO=off "$@" \
		${WRAP:-} "$bin" serve 2>>"$work/server.$name.log" &
	local wrap=$! srv=$! child
	for _ in $(seq 600); do
		if curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null; then
			# strace runs the server as its child.
			child=$(ps -o pid= --ppid "$wrap" | head -1 | tr -d ' ' || true)
			if [[ -n ${WRAP:-} && -n $child ]]; then srv=$child; fi
			srvs+=("$srv")
			wraps+=("$wrap")
			return 0
		fi
		if ! kill -0 "$wrap" 2>/dev/null; then
			echo "server $name exited; log: $work/server.$name.log" >&2
			cat "$work/server.$name.log" >&2
			return 1
		fi
		sleep 0.2
	done
	echo "server $name did not come up in 120 s" >&2
	return 1
}

# stop_servers ends every node by PID, the last started first, and waits
# for each wrapper.
stop_servers() {
	local i
	for ((i = ${#srvs[@]} - 1; i >= 0; i--)); do
		if kill -0 "${srvs[i]}" 2>/dev/null; then kill -TERM "${srvs[i]}"; fi
		wait "${wraps[i]}" 2>/dev/null || true
	done
	srvs=() wraps=()
}

# ---- targets ----

urls=
db=
fsynclog=
starts=0
start_target() {
	local t=$1 p1 p2
	p1=$(freeport)
	urls=http://127.0.0.1:$p1
	db= fsynclog=
	# A fresh database each time a target starts, so a target may repeat.
	starts=$((starts + 1))
	case $t in
	embedded)
		fsynclog=$work/fsync.$t.log
		WRAP="strace -f -qq --seccomp-bpf -e trace=fsync,fdatasync -e signal=none -o $fsynclog" start_server "$t" "$p1"
		;;
	pg)
		db=cbench_pg_$starts
		psqlc postgres "CREATE DATABASE $db" >/dev/null
		start_server "$t" "$p1" SEEN_POSTGRES_URL="${pgurl/\/postgres\?//$db?}"
		;;
	cluster)
		db=cbench_cluster_$starts
		psqlc postgres "CREATE DATABASE $db" >/dev/null
		local np
		np=$(freeport)
		"$nats" -a 127.0.0.1 -p "$np" --http_port 0 >"$work/nats.log" 2>&1 &
		natspid=$!
		for _ in $(seq 100); do
			if (exec 3<>"/dev/tcp/127.0.0.1/$np") 2>/dev/null; then break; fi
			sleep 0.1
		done
		p2=$(freeport)
		start_server "$t-1" "$p1" SEEN_POSTGRES_URL="${pgurl/\/postgres\?//$db?}" SEEN_NATS_URL="nats://127.0.0.1:$np"
		start_server "$t-2" "$p2" SEEN_POSTGRES_URL="${pgurl/\/postgres\?//$db?}" SEEN_NATS_URL="nats://127.0.0.1:$np"
		urls=$urls,http://127.0.0.1:$p2
		;;
	*)
		echo "unknown target $t" >&2
		return 1
		;;
	esac
}

stop_target() {
	stop_servers
	if [[ -n $natspid ]]; then
		kill -TERM "$natspid" 2>/dev/null || true
		wait "$natspid" 2>/dev/null || true
		natspid=
	fi
}

fsyncs() {
	if [[ -n $fsynclog ]]; then
		grep -cE '(^|[ ])(fsync|fdatasync)\(' "$fsynclog" || true
	elif [[ -n $db ]]; then
		psqlc postgres "SELECT wal_sync FROM pg_stat_wal"
	else
		echo 0
	fi
}

# statements_reset and statements_report bracket a measured pass on
# PostgreSQL when PG_STATEMENTS is set: the report is the database's
# committed transactions over the pass and its ten statements that took
# the longest to execute (calls, rows, total ms).
xacts0=0
statements_reset() {
	if [[ -z ${PG_STATEMENTS:-} || -z $db ]]; then return 0; fi
	psqlc postgres "SELECT pg_stat_statements_reset()" >/dev/null
	xacts0=$(psqlc postgres "SELECT xact_commit FROM pg_stat_database WHERE datname = '$db'")
}
statements_report() {
	if [[ -z ${PG_STATEMENTS:-} || -z $db ]]; then return 0; fi
	echo "transactions committed: $(($(psqlc postgres "SELECT xact_commit FROM pg_stat_database WHERE datname = '$db'") - xacts0))"
	psql -XqA -F ' | ' "$pgurl" -c "SELECT calls, rows, round(total_exec_time::numeric, 1) AS exec_ms,
		left(regexp_replace(query, '\s+', ' ', 'g'), 100) AS statement
		FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = '$db')
		ORDER BY total_exec_time DESC LIMIT 10"
}

# ---- scenarios ----

# bench runs `seen bench` with the target's URLs and the shared flags.
bench() {
	"$bin" bench --url "$urls" --admin-key "$KEY" --token-secret "$SECRET" --timeout 5m --check "$@"
}

# setup_pass creates the scenario's users and groups, untimed.
setup_pass() {
	local s=$1 prefix=$2
	case $s in
	group) bench group --prefix "$prefix" --members "$GROUP_MEMBERS" --connected 1 --messages 0 ;;
	storm) bench group --prefix "$prefix" --members "$STORM_MEMBERS" --connected 1 --messages 0 ;;
	mixed) bench mixed --prefix "$prefix" --duration 1s --rate 1 ;;
	esac
}

measured_pass() {
	local s=$1 prefix=$2 json=$3
	case $s in
	group) bench group --setup=false --prefix "$prefix" --members "$GROUP_MEMBERS" --messages "$GROUP_MESSAGES" --json "$json" ;;
	storm) bench storm --setup=false --prefix "$prefix" --members "$STORM_MEMBERS" --connected "$STORM_CONNECTED" --json "$json" ;;
	mixed) bench mixed --setup=false --prefix "$prefix" --duration "$MIXED_DURATION" --json "$json" ;;
	esac
}

row() {
	local t=$1 s=$2 json=$3 seen=$4 pg=$5 fs=$6
	if [[ ! -s $json ]]; then
		echo "| $t | $s | - | - | - | - | - | - | FAILED (no report) |"
		return
	fi
	jq -r --arg t "$t" --arg s "$s" --argjson seen "$seen" --argjson pg "$pg" --argjson fs "$fs" --argjson hz "$hz" '
		(.throughput.reads + .throughput.delivered) as $acks
		| ([.latency[] | select(.name == "rpc message.read")][0] // {p50ms: 0, p99ms: 0}) as $l
		| def us(x): if $acks > 0 then (x * 1e6 / $hz / $acks | floor | tostring) else "-" end;
		  [$t, $s, ($acks | tostring),
		   (if .windowSec > 0 then ($acks / .windowSec | floor | tostring) else "-" end),
		   (($l.p50ms * 10 | round) / 10 | tostring) + " / " + (($l.p99ms * 10 | round) / 10 | tostring),
		   us($seen), (if $pg > 0 then us($pg) else "-" end),
		   (if $acks > 0 then (($fs / $acks * 1000 | round) / 1000 | tostring) else "-" end),
		   (if .ok then "ok" else "FAILED" end)]
		| "| " + join(" | ") + " |"' "$json"
}

echo "seen: $("$bin" version 2>/dev/null | head -1); $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
rows=()
n=0
for t in $TARGETS; do
	start_target "$t"
	for s in $SCENARIOS; do
		n=$((n + 1))
		prefix=cb$n$RANDOM
		echo "== $t $s (setup)" >&2
		setup_pass "$s" "$prefix" >"$work/setup.$t.$s.txt"
		echo "== $t $s (measured; load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
		statements_reset
		# shellcheck disable=SC2086
		c0=$(ticks ${srvs[*]}) p0=$(pgticks) f0=$(fsyncs)
		measured_pass "$s" "$prefix" "$work/$t.$s.json" >"$work/bench.$t.$s.txt" || echo "$t $s: --check failed, see $work/bench.$t.$s.txt" >&2
		# shellcheck disable=SC2086
		c1=$(ticks ${srvs[*]}) p1=$(pgticks) f1=$(fsyncs)
		statements_report | tee "$work/statements.$t.$s.txt" >&2
		rows+=("$(row "$t" "$s" "$work/$t.$s.json" $((c1 - c0)) $((p1 - p0)) $((f1 - f0))) $(cut -d' ' -f1 /proc/loadavg) |")
	done
	stop_target
done

echo
echo "| target | scenario | acks | acks/s | read p50 / p99 ms | Seen CPU µs/ack | PostgreSQL CPU µs/ack | fsyncs/ack | check | load |"
echo "|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
