#!/usr/bin/env bash
# Smoke test of `seen bench`: build the binary, start `seen serve` on a free
# loopback port with a temporary data directory, run every scenario in a
# short form with --check, and stop the server by its PID. Exits non-zero
# on any failure. Takes well under two minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d "${TMPDIR:-/tmp}/seen-bench-smoke.XXXXXX")
server_pid=""
cleanup() {
	if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
		kill -TERM "$server_pid" 2>/dev/null || true
		for _ in $(seq 1 100); do
			kill -0 "$server_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

echo "bench-smoke: building"
go build -o "$work/seen" ./cmd/seen

port=$(bash .ci/free-port.sh)
url="http://127.0.0.1:$port"

export SEEN_ADMIN_KEY="bench-smoke-admin-key-0123456789"
export SEEN_TOKEN_SECRET="bench-smoke-token-secret-0123456789abcdef"
SEEN_LISTEN="127.0.0.1:$port" SEEN_DATA="$work/data" SEEN_LOG_LEVEL=warn \
	"$work/seen" serve >"$work/server.log" 2>&1 &
server_pid=$!

for _ in $(seq 1 150); do
	if curl -fsS -o /dev/null "$url/healthz" 2>/dev/null; then
		break
	fi
	if ! kill -0 "$server_pid" 2>/dev/null; then
		echo "bench-smoke: server exited before serving:" >&2
		cat "$work/server.log" >&2
		exit 1
	fi
	sleep 0.1
done
curl -fsS -o /dev/null "$url/healthz" || { echo "bench-smoke: server not healthy" >&2; cat "$work/server.log" >&2; exit 1; }
echo "bench-smoke: server pid $server_pid on $url"

bench() {
	local name=$1
	shift
	echo "bench-smoke: $name $*"
	"$work/seen" bench "$name" --url "$url" --prefix "smoke-$name" --server-pid "$server_pid" \
		--timeout 30s --check --json "$work/$name.json" "$@"
}

bench peer --pairs 10 --duration 2s
bench group --members 200 --messages 5
bench group --members 200 --messages 20 --delivered=false --mark-read --prefix smoke-markread
bench storm --members 1000 --connected 500
bench mixed --users 100 --groups 5 --group-size 20 --pairs 30 --duration 2s --rate 100
bench burst --acks 2000
bench burst --acks 2000 --mark-read --prefix smoke-burst-markread
bench roundtrip --messages 50 --fsync-dir "$work"
bench idle --conns 200 --settle 1s

# The storm again, split over two processes.
echo "bench-smoke: storm over 2 shards"
"$work/seen" bench storm --url "$url" --prefix smoke-sharded --members 600 --connected 400 \
	--shard 1/2 --timeout 30s --check >"$work/shard1.out" 2>&1 &
shard1=$!
bench storm --members 600 --connected 400 --shard 0/2 --prefix smoke-sharded --json "$work/storm-sharded.json"
if ! wait "$shard1"; then
	echo "bench-smoke: shard 1 failed:" >&2
	cat "$work/shard1.out" >&2
	exit 1
fi
cat "$work/shard1.out"

for f in "$work"/*.json; do
	grep -q '"ok": true' "$f" || { echo "bench-smoke: $f reports a failure" >&2; exit 1; }
done
echo "bench-smoke: ok"
