#!/usr/bin/env bash
# GET / on `siegetank scv` against nginx `return 200`, same wrk load, same
# worker count, measured in one run. Prints both rates and the ratio.
#   bench/http_vs_nginx.sh [SECONDS] [CONNECTIONS] [THREADS]
# Needs: build/siegetank, nginx and wrk (scripts/deps.sh --bench).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-10}
conns=${2:-100}
threads=${3:-2}
bin=$root/build/siegetank
for tool in nginx wrk; do
  command -v $tool >/dev/null || [ -x /usr/sbin/$tool ] || { echo "missing $tool: run scripts/deps.sh --bench" >&2; exit 1; }
done
[ -x "$bin" ] || { echo "missing $bin: build first" >&2; exit 1; }

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.05; done; echo "not up: $1" >&2; exit 1; }
rate() { wrk -t"$threads" -c"$conns" -d"${secs}s" "$1" | awk '/Requests\/sec/ {print $2}'; }

scv_port=$(free_port)
cat > "$tmp/scv.conf" <<CONF
name = bench
internal_http_port = $scv_port
threads = $threads
access_log = off
CONF
"$bin" scv -c "$tmp/scv.conf" 2>"$tmp/scv.log" &
pids+=($!)

nginx_port=$(free_port)
mkdir -p "$tmp/nginx"
cat > "$tmp/nginx.conf" <<CONF
worker_processes $threads;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $tmp/nginx; proxy_temp_path $tmp/nginx; fastcgi_temp_path $tmp/nginx;
  uwsgi_temp_path $tmp/nginx; scgi_temp_path $tmp/nginx;
  server { listen 127.0.0.1:$nginx_port; location / { return 200 '{"service":"nginx"}'; } }
}
CONF
/usr/sbin/nginx -c "$tmp/nginx.conf" -g 'daemon off;' &
pids+=($!)

wait_up "http://127.0.0.1:$scv_port/"
wait_up "http://127.0.0.1:$nginx_port/"
rate "http://127.0.0.1:$nginx_port/" >/dev/null # warm both up
rate "http://127.0.0.1:$scv_port/" >/dev/null
nginx_rate=$(rate "http://127.0.0.1:$nginx_port/")
scv_rate=$(rate "http://127.0.0.1:$scv_port/")
echo "wrk -t$threads -c$conns -d${secs}s, $threads server threads/workers"
echo "nginx return 200 : $nginx_rate req/s"
echo "siegetank GET /  : $scv_rate req/s"
awk -v a="$scv_rate" -v b="$nginx_rate" 'BEGIN { printf "ratio siegetank/nginx: %.2f\n", a / b }'
