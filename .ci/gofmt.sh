#!/usr/bin/env bash
# gofmt over every Go file of the tree, git or not: test.sh runs it, and
# .ci/archive-check.sh runs it in a copy without .git. `find -exec ... +`
# never runs gofmt without file arguments (gofmt with none reads standard
# input and waits). node_modules holds other projects' files.
set -euo pipefail
cd "$(dirname "$0")/.."

unformatted=$(find . \( -name .git -o -name node_modules \) -prune -o \
	-type f -name '*.go' -exec gofmt -l {} +)
if [ -n "$unformatted" ]; then
	echo "gofmt would change:" >&2
	echo "$unformatted" >&2
	exit 1
fi
