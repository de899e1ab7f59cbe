#!/usr/bin/env bash
# GET / on `siegetank scv` against nginx `return 200`, same wrk load, same
# worker count, measured in one run. Prints both rates and the ratio.
#   bench/http_vs_nginx.sh [SECONDS] [CONNECTIONS] [THREADS]
# Needs: the build (ST_BUILD, default build/), nginx and wrk (scripts/deps.sh --bench).
source "$(dirname "$0")/lib.sh"
secs=${1:-10}
conns=${2:-100}
threads=${3:-2}
[ -x /usr/sbin/nginx ] || { echo "missing nginx: run scripts/deps.sh --bench" >&2; exit 1; }

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
scv_url=http://127.0.0.1:$scv_port
nginx_start "$threads" '{"service":"nginx"}'
wait_up "$scv_url/"

rate "$nginx_url/" >/dev/null # warm both up
rate "$scv_url/" >/dev/null
nginx_rate=$(rate "$nginx_url/")
scv_rate=$(rate "$scv_url/")
echo "wrk -t$threads -c$conns -d${secs}s, $threads server threads/workers"
echo "nginx return 200 : $nginx_rate req/s"
echo "siegetank GET /  : $scv_rate req/s"
awk -v a="$scv_rate" -v b="$nginx_rate" 'BEGIN { printf "ratio siegetank/nginx: %.2f\n", a / b }'
