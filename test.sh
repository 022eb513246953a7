#!/usr/bin/env bash
# The whole test suite: Go (vet, race detector), the load generator's smoke
# run, the fuzz targets' short run, and the web SDK and browser tests.
# Prerequisites are in the README. SEEN_TEST_SKIP_WEB=1 skips the web part
# (it needs Node and Chromium); CHROMIUM=/path/to/chromium names the browser.
# Works from a source archive without .git.
set -euo pipefail
cd "$(dirname "$0")"

echo "== gofmt"
bash .ci/gofmt.sh
echo "== gofmt from a copy without .git (a source archive)"
bash .ci/archive-check.sh </dev/null
echo "== the docs name only files in the repository"
bash .ci/doc-paths.sh

# The PostgreSQL store's tests run against a private PostgreSQL, stopped on
# exit, unless SEEN_TEST_POSTGRES_URL names one already.
if [ -z "${SEEN_TEST_POSTGRES_URL:-}" ]; then
	echo "== a private PostgreSQL (Debian's packages) for the store's tests"
	pg_env=$(bash .ci/postgres.sh start)
	eval "$pg_env"
	trap 'bash .ci/postgres.sh stop "$SEEN_TEST_POSTGRES_DIR"' EXIT
fi

echo "== go vet, go test -race"
go vet ./...
# One node on the embedded store here, whatever the caller's environment
# says; the end-to-end suite's runs on PostgreSQL and on clusters come after.
SEEN_TEST_NODES= SEEN_TEST_STORE= go test -race -count=1 ./...

echo "== the invariant checker at full size (100,000 operations; -race runs 15,000)"
SEEN_TEST_NODES= SEEN_TEST_STORE= go test -count=1 -run '^TestInvariants' ./e2e

# The end-to-end suite again on clusters of two and three nodes: every
# server a test starts is that many nodes on one fresh PostgreSQL database
# and one in-process nats-server, with the test's clients spread over them
# (internal/seentest, docs/cluster.md). With the race detector: the suite
# mostly waits on sockets, PostgreSQL and NATS, so -race costs little here
# (two nodes, 2 cores: about 10 min with it, 8 without), and a cluster is
# where cross-node races would show.
# And on one node on PostgreSQL: such a node writes its database alone and
# answers lookups from memory, and here checks every such answer against
# the database (internal/store/pgstore/lookcache.go).
echo "== the end-to-end suite on one node on PostgreSQL"
SEEN_TEST_STORE=postgres go test -race -count=1 -timeout 40m ./e2e

for nodes in 2 3; do
	echo "== the end-to-end suite on $nodes nodes (one PostgreSQL, one NATS)"
	SEEN_TEST_NODES=$nodes go test -race -count=1 -timeout 40m ./e2e
done

echo "== deploy/: the example environment, the systemd unit, the proxy configurations"
bash .ci/deploy-check.sh

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
