#!/usr/bin/env bash
# instructions-per-ack.sh: what one durable read ack costs the server, in
# user-space instructions (valgrind's cachegrind) and system calls (strace),
# measured as a fixed number of acks minus an idle run, so the figures do
# not depend on the load on the machine the way wall time does.
#
# Three runs of the same server under cachegrind, each on a fresh data
# directory, then the same three under strace -c -f for system calls:
#   run     `seen bench group`: READERS readers ack MESSAGES messages, one
#           message.read each (READERS*MESSAGES durable acks);
#   noread  the same setup, connects, sends and fan-out; nobody acks
#           (--no-read): subtracted, it leaves what the acks cost, the
#           receipt.changed events they cause included;
#   idle    the same setup and connects, no message (--messages 0):
#           subtracted, it leaves the acks plus their share of the sends
#           (one message.send with its fan-out per READERS acks).
# instructions/ack = (I_run - I_noread) / acks, and (I_run - I_idle) / acks
# beside it; so for system calls.
#
# Each of the three cachegrind runs is made REPEAT times and its median
# taken. Under valgrind, which runs one thread at a time, the Go runtime's
# background sweeper now and then spins (runtime.bgsweep yielding in a loop
# while another thread, not scheduled, holds a sweep): one run in eight or
# so then counts 100-900 million instructions more, all in the scheduler
# and the sweeper. A median of five leaves out up to two such runs; the script
# prints every count, so one can see which. An ack is a message.read the server
# answered; the count comes from its /metrics
# (seen_requests_total{method="message.read"}) and must equal the bench's
# own count of reads, or the script fails.
#
# Usage: scripts/instructions-per-ack.sh            (from the repository root)
# Settings (environment):
#   READERS=8 MESSAGES=2000     readers and messages: READERS*MESSAGES acks
#   RUNS="cg strace"            which measurements to make
#   REPEAT=5                    cachegrind runs of each kind; the median counts
#   MARK_READ=1                 readers ack through the SDK's MarkRead, so a
#                               reader's concurrent acks share requests; the
#                               acks are then the bench's count of reads
#   GOEXPERIMENT=...            passed to go build (e.g. jsonv2)
#   SEEN_BIN=path               measure this binary instead of building one
#   PORT=18231 KEEP=1           listen port; keep the work directory
set -euo pipefail

READERS=${READERS:-8}
MESSAGES=${MESSAGES:-2000}
RUNS=${RUNS:-"cg strace"}
REPEAT=${REPEAT:-5}
PORT=${PORT:-18231}
KEY=ackbenchkey0123456789
SECRET=ackbenchsecret0123456789abcdef
URL=http://127.0.0.1:$PORT

work=$(mktemp -d /tmp/seen-ipa.XXXXXX)
srv=
# cleanup stops a server a failed step left running (by its PID) and
# removes the work directory unless KEEP is set.
cleanup() {
	if [[ -n $srv ]] && kill -0 "$srv" 2>/dev/null; then
		kill -TERM "$srv"
		wait "$wrap" 2>/dev/null || true
	fi
	if [[ -z ${KEEP:-} ]]; then rm -rf "$work"; fi
}
trap cleanup EXIT

bin=${SEEN_BIN:-}
if [[ -z $bin ]]; then
	bin=$work/seen
	go build -o "$bin" ./cmd/seen
fi
echo "binary: $bin ($("$bin" version 2>/dev/null | head -1)) GOEXPERIMENT=${GOEXPERIMENT:-}" >&2

# metric prints the server's count of answered message.read requests.
metric() {
	curl -fsS -H "Authorization: Bearer $KEY" "$URL/metrics" |
		awk '/^seen_requests_total\{/ && /method="message.read"/ { n += $NF } END { printf "%d\n", n }'
}

# serve starts the server under the wrapper command given and waits until
# it answers; it sets srv (the server's PID) and wrap (the wrapper's).
serve() {
	local data=$work/data.$1
	shift
	mkdir -p "$data"
	SEEN_LISTEN=127.0.0.1:$PORT SEEN_DATA=$data SEEN_ADMIN_KEY=$KEY SEEN_TOKEN_SECRET=$SECRET \
		SEEN_LOG_LEVEL=warn SEEN_DEMO=off "$@" "$bin" serve 2>>"$work/server.log" &
	wrap=$!
	srv=$wrap
	for _ in $(seq 600); do
		if curl -fsS -o /dev/null -H "Authorization: Bearer $KEY" "$URL/metrics" 2>/dev/null; then
			# strace runs the server as its child; valgrind runs it in place.
			local child
			child=$(ps -o pid= --ppid "$wrap" | head -1 | tr -d ' ' || true)
			if [[ -n $child ]]; then srv=$child; fi
			return 0
		fi
		if ! kill -0 "$wrap" 2>/dev/null; then
			echo "server exited; log: $work/server.log" >&2
			return 1
		fi
		sleep 0.2
	done
	echo "server did not come up in 120 s" >&2
	return 1
}

# stop ends the server by PID and waits for the wrapper to write its output.
stop() {
	kill -TERM "$srv"
	wait "$wrap" || true
	srv=
}

# drive runs the bench for run kind $1 and prints the acks the server
# answered (checked against the bench's own count and the expected one).
drive() {
	local kind=$1 tag=$2 before after reads n=$MESSAGES want=$((MESSAGES * READERS)) extra=()
	case $kind in
	noread) extra=(--no-read) want=0 ;;
	idle) n=0 want=0 ;;
	esac
	if [[ -n ${MARK_READ:-} ]]; then extra+=(--mark-read); fi
	before=$(metric)
	"$bin" bench group --url "$URL" --admin-key "$KEY" --token-secret "$SECRET" \
		--members $((READERS + 1)) --messages "$n" --delivered=false --prefix "ipa$tag" \
		--timeout 5m --check --json "$work/bench.$tag.json" "${extra[@]}" >"$work/bench.$tag.txt"
	after=$(metric)
	reads=$(jq '.throughput.reads // 0' "$work/bench.$tag.json")
	if [[ $reads -ne $want ]] || [[ -z ${MARK_READ:-} && $((after - before)) -ne $reads ]]; then
		echo "$kind: server answered $((after - before)) message.read, the bench counted $reads, want $want" >&2
		return 1
	fi
	if [[ -n ${MARK_READ:-} && $reads -gt 0 ]]; then
		echo "$kind: $reads acks in $((after - before)) message.read requests" >&2
	fi
	echo "$reads"
}

acks=$((READERS * MESSAGES))
echo "readers $READERS, messages $MESSAGES: $acks durable read acks${MARK_READ:+ (MarkRead: sharing requests)}" >&2

if [[ " $RUNS " == *" cg "* ]]; then
	declare -A ir all
	for i in $(seq "$REPEAT"); do
		for tag in run noread idle; do
			# Valgrind 3.19 does not decode RDTSCP, which Go's runtime
			# uses for its clock where the CPU has it (SIGILL on some
			# hosts); the runtime's own switch turns it off.
			serve "cg$tag$i" env GODEBUG=cpu.rdtscp=off valgrind --tool=cachegrind --cache-sim=no --branch-sim=no \
				--cachegrind-out-file="$work/cg.$tag.$i.out"
			t0=$(date +%s)
			got=$(drive "$tag" "cg$tag$i")
			stop
			n=$(awk '/^summary:/ { print $2 }' "$work/cg.$tag.$i.out")
			all[$tag]+="$n "
			echo "cachegrind $tag ($i of $REPEAT): $n instructions, $got acks, $(($(date +%s) - t0)) s" >&2
		done
	done
	for tag in run noread idle; do
		ir[$tag]=$(tr ' ' '\n' <<<"${all[$tag]}" | sed '/^$/d' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
	done
	echo "instructions/ack: $(((ir[run] - ir[noread]) / acks)) (the ack); $(((ir[run] - ir[idle]) / acks)) with its share of the sends"
	echo "  (medians of $REPEAT: run ${ir[run]}, noread ${ir[noread]}, idle ${ir[idle]}, acks $acks)"
	echo "  (every count: run ${all[run]}; noread ${all[noread]}; idle ${all[idle]})"
fi

if [[ " $RUNS " == *" strace "* ]]; then
	for tag in run noread idle; do
		serve "st$tag" strace -f -c -o "$work/strace.$tag.txt"
		drive "$tag" "st$tag" >/dev/null
		stop
	done
	# Per-call difference, run minus a baseline, per ack.
	sysdiff() {
		awk -v acks="$acks" -v label="$3" '
		function load(f, arr,   line, a) {
			while ((getline line < f) > 0) {
				split(line, a, " ")
				if (a[1] ~ /^[0-9.]+$/ && a[length(a)] ~ /^[a-z_0-9]+$/ && a[length(a)] != "total") {
					calls = a[4]; arr[a[length(a)]] += calls
					if (length(a) == 6) errs[f, a[length(a)]] = a[5]
				}
			}
		}
		BEGIN {
			load(ARGV[1], r); load(ARGV[2], i)
			for (k in r) { d = r[k] - i[k]; tot += d; if (d > 0) out[k] = d }
			printf "syscalls/ack (%s): %.2f  (fdatasync/ack %.3f, %.1f acks per fdatasync)\n", label, tot / acks, \
				out["fdatasync"] / acks, out["fdatasync"] ? acks / out["fdatasync"] : 0
			for (k in out) if (out[k] / acks >= 0.01) printf "  %-16s %.2f/ack\n", k, out[k] / acks | "sort -k2 -nr"
			close("sort -k2 -nr")
			e = errs[ARGV[1], "read"] - errs[ARGV[2], "read"]
			printf "  (read errors, EAGAIN, %.2f/ack)\n", e / acks
		}' "$1" "$2"
	}
	sysdiff "$work/strace.run.txt" "$work/strace.noread.txt" "the ack"
	sysdiff "$work/strace.run.txt" "$work/strace.idle.txt" "with its share of the sends"
fi
