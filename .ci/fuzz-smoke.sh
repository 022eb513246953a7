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
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime="${FUZZTIME:-8s}"
targets=(
	"FuzzParseRequest ./internal/transport/ws"
	"FuzzFrame ./internal/transport/ws"
	"FuzzDecodeParams ./internal/service"
	"FuzzDispatch ./internal/service"
)
for t in "${targets[@]}"; do
	read -r name pkg <<<"$t"
	echo "fuzz: $name ($pkg) for $fuzztime"
	go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg"
done
