#!/usr/bin/env bash
# CI for the web side: the TypeScript SDK (sdk/js), the browser demo (web/src),
# their bundles committed at web/static/seen.js and app.js, and the demo's
# browser tests (web/test). Non-interactive. Needs Node >= 20 with npm, and a
# Chromium: $CHROMIUM if set, else chromium on the PATH; only when there is
# none, and only as root with apt-get, it installs Debian's. Called from
# test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
	echo "web.sh: $*" >&2
	echo "web.sh: or skip the web tests with SEEN_TEST_SKIP_WEB=1 ./test.sh" >&2
	exit 1
}

command -v node >/dev/null && command -v npm >/dev/null ||
	fail "needs Node >= 20 and npm on the PATH"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || fail "needs Node >= 20, found $(node --version)"

# The browser tests launch $CHROMIUM (web/test reads it too).
if [ -n "${CHROMIUM:-}" ]; then
	found=$(type -P "$CHROMIUM" || true)
	[ -n "$found" ] && [ -x "$found" ] || fail "CHROMIUM=$CHROMIUM is not an executable"
	CHROMIUM=$found
else
	CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
	if [ -z "$CHROMIUM" ]; then
		if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
			echo "== installing chromium (Debian)"
			export DEBIAN_FRONTEND=noninteractive
			apt-get update
			apt-get install -y chromium
			CHROMIUM=$(command -v chromium) || fail "apt-get installed no chromium"
		else
			fail "no chromium found: set CHROMIUM=/path/to/chromium, or run as root on Debian to install it"
		fi
	fi
fi
export CHROMIUM
echo "== chromium: $CHROMIUM"

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

echo "== browser tests (playwright-core + $CHROMIUM, against seen serve)"
(cd web/test && npm test)
