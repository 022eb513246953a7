#!/usr/bin/env bash
# CI: run each fuzz target briefly, on top of its committed seed corpus
# (plain `go test` already replays the corpus; this mutates it). A crash
# fails the script and go test writes the input under testdata/fuzz.
# FUZZTIME sets the time per target (default 8s: three targets stay under a
# minute of fuzzing, plus building).
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime="${FUZZTIME:-8s}"
targets=(
	"FuzzParseRequest ./internal/transport/ws"
	"FuzzDecodeParams ./internal/service"
	"FuzzDispatch ./internal/service"
)
for t in "${targets[@]}"; do
	read -r name pkg <<<"$t"
	echo "fuzz: $name ($pkg) for $fuzztime"
	go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg"
done
