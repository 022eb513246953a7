#!/usr/bin/env bash
# CI for the web side: the TypeScript SDK (sdk/js), the browser demo (web/src),
# their bundles committed at web/static/seen.js and app.js, and the demo's
# browser tests (web/test). Non-interactive; works on a clean clone as root.
# Called from .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/chromium ]; then
	echo "== installing chromium (Debian)"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update
	apt-get install -y chromium
fi

echo "== npm ci"
(cd sdk/js && npm ci --no-audit --no-fund)
(cd web/test && npm ci --no-audit --no-fund)

echo "== SDK and demo build (tsc type-check + esbuild); web/static/seen.js and app.js must match it"
(cd sdk/js && npm run check-bundle)

echo "== server binary"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/seen" ./cmd/seen
export SEEN_BIN="$tmp/seen"

echo "== SDK tests (node --test, against seen serve)"
(cd sdk/js && npm test)

echo "== browser tests (playwright-core + /usr/bin/chromium, against seen serve)"
(cd web/test && npm test)
