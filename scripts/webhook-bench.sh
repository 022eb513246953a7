#!/usr/bin/env bash
# webhook-bench.sh: does a slow webhook endpoint slow the read path?
#
# Runs `seen bench group` against a node on its embedded store without
# webhooks ("off") and with a static endpoint for every event type that
# answers after 5 seconds ("slow": `seen webhook listen --delay 5s`),
# alternating the two ROUNDS times so machine noise falls on both, each
# run on a fresh data directory. Prints read acks/s, the p50 of request ->
# response and the webhook calls begun, per run; the mean of each mode;
# and the slow/off ratio of reads/s.
#
# Everything listens on 127.0.0.1 on free ports and is stopped by PID at
# exit. Usage: scripts/webhook-bench.sh (from the repository root).
# Settings (environment):
#   ROUNDS=3 MEMBERS=1000 MESSAGES=20 DELAY=5s
#   SEEN_BIN=path   use this binary instead of building one
#   KEEP=1          keep the work directory (logs, JSON)
set -euo pipefail

ROUNDS=${ROUNDS:-3}
MEMBERS=${MEMBERS:-1000}
MESSAGES=${MESSAGES:-20}
DELAY=${DELAY:-5s}
KEY=webhookbenchkey0123456789
SECRET=webhookbenchsecret0123456789abcdef
# A Standard Webhooks secret: whsec_ + base64 of 24 bytes.
HOOK_SECRET=whsec_d2ViaG9va2JlbmNoLXNlY3JldC0yNGJ5

work=$(mktemp -d /tmp/seen-hbench.XXXXXX)
srv=
lst=

cleanup() {
	for p in $srv $lst; do
		if kill -0 "$p" 2>/dev/null; then kill -TERM "$p"; wait "$p" 2>/dev/null || true; fi
	done
	if [[ -z ${KEEP:-} ]]; then rm -rf "$work"; else echo "work directory: $work" >&2; fi
}
trap cleanup EXIT

# A port below the kernel's ephemeral range, where a port the kernel let
# go of may still be the local end of a connection (.ci/free-port.sh).
freeport() {
	bash "$(dirname "${BASH_SOURCE[0]}")/../.ci/free-port.sh"
}

waitup() { # $1 URL, $2 PID
	for _ in $(seq 600); do
		if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
		if ! kill -0 "$2" 2>/dev/null; then echo "process $2 exited" >&2; return 1; fi
		sleep 0.1
	done
	echo "$1 did not come up" >&2
	return 1
}

bin=${SEEN_BIN:-}
if [[ -z $bin ]]; then
	bin=$work/seen
	go build -o "$bin" ./cmd/seen
fi

lport=$(freeport)
"$bin" webhook listen --addr "127.0.0.1:$lport" --secret "$HOOK_SECRET" --delay "$DELAY" --quiet 2>"$work/listen.log" &
lst=$!
for _ in $(seq 100); do grep -q listening "$work/listen.log" && break; sleep 0.1; done

run() { # $1 off|slow, $2 round
	local mode=$1 round=$2 port json
	port=$(freeport)
	json=$work/$mode.$round.json
	local -a hooks=()
	if [[ $mode == slow ]]; then
		hooks=(SEEN_WEBHOOKS_URL="http://127.0.0.1:$lport/" SEEN_WEBHOOKS_SECRET="$HOOK_SECRET")
	fi
	mkdir -p "$work/data.$mode.$round"
	env SEEN_LISTEN=127.0.0.1:$port SEEN_DATA="$work/data.$mode.$round" SEEN_ADMIN_KEY=$KEY \
		SEEN_TOKEN_SECRET=$SECRET SEEN_LOG_LEVEL=warn SEEN_DEMO=off "${hooks[@]}" \
		"$bin" serve 2>>"$work/server.$mode.$round.log" &
	srv=$!
	waitup "http://127.0.0.1:$port/healthz" "$srv"
	"$bin" bench group --url "http://127.0.0.1:$port" --admin-key $KEY --token-secret $SECRET \
		--prefix "hb$round$mode" --members "$MEMBERS" --messages "$MESSAGES" --check --json "$json" >/dev/null
	# Webhook calls finished or in flight at the end of the bench: the
	# slow endpoint was busy while the reads ran.
	local calls
	calls=$(curl -fsS -H "Authorization: Bearer $KEY" "http://127.0.0.1:$port/metrics" |
		awk '$1 == "seen_webhook_attempts_total" || $1 == "seen_webhook_inflight" { n += $2 } END { print n + 0 }')
	kill -TERM "$srv"
	wait "$srv" 2>/dev/null || true
	srv=
	jq -r --arg m "$mode" --arg r "$round" --arg c "${calls:-0}" \
		'[$m, $r, (.throughput.readsPerSec | floor), (.latency[] | select(.name == "request -> response (all)") | .p50ms), $c] | @tsv' "$json"
}

{
	for r in $(seq "$ROUNDS"); do
		run off "$r"
		run slow "$r"
	done
} | tee "$work/runs.tsv" | awk -F'\t' '
	BEGIN { print "mode\tround\treads/s\trequest p50 ms\twebhook calls" }
	{ print; n[$1]++; s[$1] += $3; p[$1] += $4 }
	END {
		for (m in n) printf "mean %s\t\t%.0f\t%.2f\n", m, s[m] / n[m], p[m] / n[m]
		if (n["off"] && n["slow"]) printf "slow/off reads/s: %.3f\n", (s["slow"] / n["slow"]) / (s["off"] / n["off"])
	}'
