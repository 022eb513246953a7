#!/usr/bin/env bash
# The whole test suite: Go (vet, race detector), the load generator's smoke
# run, the fuzz targets' short run, and the web SDK and browser tests.
# SEEN_TEST_SKIP_WEB=1 skips the web part (it needs Node and Chromium).
set -euo pipefail
cd "$(dirname "$0")"

unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:" >&2
	echo "$unformatted" >&2
	exit 1
fi

echo "== go vet, go test -race"
go vet ./...
go test -race -count=1 ./...

echo "== the invariant checker at full size (100,000 operations; -race runs 15,000)"
go test -count=1 -run '^TestInvariants' ./e2e

echo "== seen bench, short form, against a real server"
bash .ci/bench-smoke.sh

if [ -f .ci/fuzz-smoke.sh ]; then
	echo "== fuzz targets, short run"
	bash .ci/fuzz-smoke.sh
fi

if [ "${SEEN_TEST_SKIP_WEB:-}" != 1 ]; then
	echo "== web: TypeScript SDK and browser demo"
	bash .ci/web.sh
fi
echo "== all tests passed"
