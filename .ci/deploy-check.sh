#!/usr/bin/env bash
# CI: the files under deploy/ still fit the server. Starts `seen serve` with
# deploy/seen.env.example as its environment (secrets generated as
# docs/operations.md does, the two listen addresses moved to free loopback
# ports) and checks the layout it promises: /healthz on the client listener,
# the admin API with the key on the admin listener only. Then checks the
# unit with systemd-analyze verify, and the proxy configurations with
# nginx -t and caddy validate, each where the tool is installed (it says
# which it skipped).
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d "${TMPDIR:-/tmp}/seen-deploy-check.XXXXXX")
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

go build -o "$work/seen" ./cmd/seen

port=$(bash .ci/free-port.sh)
admin_port=$(bash .ci/free-port.sh)
[ "$admin_port" != "$port" ] || admin_port=$((port + 1))

# The environment as systemd would give it: the unit's SEEN_DATA, the file,
# and the secrets the walk-through appends to it.
cp deploy/seen.env.example "$work/seen.env"
key=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf 'SEEN_TOKEN_SECRET=%s\nSEEN_ADMIN_KEY=%s\n' "$secret" "$key" >>"$work/seen.env"
grep -q '^SEEN_LISTEN=127.0.0.1:' "$work/seen.env" || { echo "deploy-check: the example does not listen on loopback" >&2; exit 1; }
grep -q '^SEEN_ADMIN_LISTEN=127.0.0.1:' "$work/seen.env" || { echo "deploy-check: the example has no loopback admin listener" >&2; exit 1; }
sed -i -e "s/^SEEN_LISTEN=.*/SEEN_LISTEN=127.0.0.1:$port/" \
	-e "s/^SEEN_ADMIN_LISTEN=.*/SEEN_ADMIN_LISTEN=127.0.0.1:$admin_port/" "$work/seen.env"
(
	set -a
	SEEN_DATA="$work/data"
	# shellcheck disable=SC1091
	. "$work/seen.env"
	set +a
	exec "$work/seen" serve
) >"$work/server.log" 2>&1 </dev/null &
server_pid=$!

url="http://127.0.0.1:$port"
admin="http://127.0.0.1:$admin_port"
for _ in $(seq 1 150); do
	curl -fsS -o /dev/null "$url/healthz" 2>/dev/null && break
	if ! kill -0 "$server_pid" 2>/dev/null; then
		echo "deploy-check: seen serve with deploy/seen.env.example exited:" >&2
		cat "$work/server.log" >&2
		exit 1
	fi
	sleep 0.1
done

status() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
expect() {
	local want=$1 what=$2
	shift 2
	local got
	got=$(status "$@")
	if [ "$got" != "$want" ]; then
		echo "deploy-check: $what: got HTTP $got, want $want" >&2
		cat "$work/server.log" >&2
		exit 1
	fi
}
expect 200 "healthz on the client listener" "$url/healthz"
expect 201 "admin API with the key on the admin listener" \
	-XPOST -H "Authorization: Bearer $key" "$admin/v1/admin/users" -d '{"userId":"deploy-check"}'
expect 401 "admin API without the key" -XPOST "$admin/v1/admin/users" -d '{"userId":"deploy-check-2"}'
expect 404 "admin API on the client listener" \
	-XPOST -H "Authorization: Bearer $key" "$url/v1/admin/users" -d '{"userId":"deploy-check-3"}'
expect 404 "demo tokens (SEEN_DEMO=off)" -XPOST "$url/v1/demo/token" -d '{"userId":"deploy-check-4"}'
echo "deploy-check: seen serve with deploy/seen.env.example: ok"

if command -v systemd-analyze >/dev/null; then
	# The unit as installed, but for the binary's path.
	sed "s#^ExecStart=/usr/local/bin/seen #ExecStart=$work/seen #" deploy/seen.service >"$work/seen.service"
	# verify only warns about a misspelt setting, naming the file: fail on that.
	systemd-analyze verify "$work/seen.service" >"$work/verify.log" 2>&1 ||
		{ cat "$work/verify.log" >&2; exit 1; }
	if grep -F "$work/seen.service:" "$work/verify.log" >&2; then
		echo "deploy-check: systemd-analyze verify warns about deploy/seen.service" >&2
		exit 1
	fi
	echo "deploy-check: systemd-analyze verify deploy/seen.service: ok"
else
	echo "deploy-check: no systemd-analyze here: deploy/seen.service not verified"
fi

if command -v nginx >/dev/null; then
	mkdir -p "$work/nginx"
	openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=chat.example.com \
		-keyout "$work/nginx/key.pem" -out "$work/nginx/cert.pem" 2>/dev/null
	sed -e "s#/etc/letsencrypt/live/chat.example.com/fullchain.pem#$work/nginx/cert.pem#" \
		-e "s#/etc/letsencrypt/live/chat.example.com/privkey.pem#$work/nginx/key.pem#" \
		deploy/nginx.conf >"$work/nginx/site.conf"
	cat >"$work/nginx/nginx.conf" <<-CONF
		pid $work/nginx/nginx.pid;
		error_log stderr;
		events {}
		http { include $work/nginx/site.conf; }
	CONF
	nginx -t -q -p "$work/nginx" -c "$work/nginx/nginx.conf"
	echo "deploy-check: nginx -t deploy/nginx.conf: ok"
else
	echo "deploy-check: no nginx here: deploy/nginx.conf not checked"
fi

if command -v caddy >/dev/null; then
	caddy validate --adapter caddyfile --config deploy/Caddyfile >"$work/caddy.log" 2>&1 ||
		{ cat "$work/caddy.log" >&2; exit 1; }
	echo "deploy-check: caddy validate deploy/Caddyfile: ok"
else
	echo "deploy-check: no caddy here: deploy/Caddyfile not checked"
fi
