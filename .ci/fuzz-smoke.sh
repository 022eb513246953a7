#!/usr/bin/env bash
# CI: run each fuzz target briefly, on top of its committed seed corpus
# (plain `go test` already replays the corpus; this mutates it). A crash
# fails the script and go test writes the input under testdata/fuzz.
# FUZZTIME sets the time per target (default 8s: four targets stay under a
# minute of fuzzing, plus building).
#
# Long mode, before a release or after touching parsing or dispatch: run
# every target for longer, e.g. `FUZZTIME=30m .ci/fuzz-smoke.sh`, or one of
# them alone: `go test -run '^$' -fuzz '^FuzzFrame$' -fuzztime 1h
# ./internal/transport/ws`. FuzzFrame is the hostile client: whole frames
# with valid methods and mutated params, invalid UTF-8, deep nesting, huge
# numbers and wrong types, through parsing and dispatch on a real store.
# Commit any input it writes under testdata/fuzz with the fix.
#
# Go's fuzzing coordinator can fail a run with a bare "context deadline
# exceeded" when -fuzztime ends while a worker is mid-input (a toolchain
# race, golang/go#51484 and #75804, worse on a loaded machine): no input is
# written and nothing failed. Such a run is tried once more; a second bare
# deadline is reported and tolerated. Every other failure (a written input,
# a panic, a t.Error) fails the script at once.
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime="${FUZZTIME:-8s}"
targets=(
	"FuzzParseRequest ./internal/transport/ws"
	"FuzzFrame ./internal/transport/ws"
	"FuzzDecodeParams ./internal/service"
	"FuzzDispatch ./internal/service"
)
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# deadline_only reports whether the failed run in $log is the coordinator's
# deadline race and nothing else.
deadline_only() {
	grep -q '^    context deadline exceeded$' "$log" &&
		! grep -qE 'Failing input written|panic:|_test\.go:[0-9]+:' "$log"
}

for t in "${targets[@]}"; do
	read -r name pkg <<<"$t"
	for try in 1 2; do
		echo "fuzz: $name ($pkg) for $fuzztime"
		if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg" 2>&1 | tee "$log"; then
			break
		fi
		if ! deadline_only; then
			exit 1
		fi
		if [ "$try" = 2 ]; then
			echo "fuzz: $name: the fuzzing engine's deadline race twice, no failing input; tolerated" >&2
		else
			echo "fuzz: $name: the fuzzing engine's deadline race (no failing input); once more" >&2
		fi
	done
done
