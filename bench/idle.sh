#!/usr/bin/env bash
# Idle keep-alive connections held by one SCV while active cores keep
# sending heartbeats: the heartbeat rate with IDLE idle connections open
# against the rate with none (target >= 0.8x), and the SCV's RSS growth per
# idle connection (target <= 8 KB plain, <= 48 KB TLS). IDLE defaults to the
# open-files hard limit minus 1,000 (room for the active connections, the
# data files and the load generator).
#   bench/idle.sh [SECONDS] [IDLE] [tls]
source "$(dirname "$0")/lib.sh"
secs=${1:-10}
idle=${2:-$(( $(ulimit -Hn) - 1000 ))}
mode=${3:-plain}
conns=100
active=1000
threads=$ncpu

cc_setup
cc_start
[ "$mode" = tls ] && scv_tls=$(tls_files scv rsa)
scv_setup scv1
target=$(make_target bench)
"$fill" scv "$scv_data" scv1 "$target" "$active" > /dev/null
"$bin" scv -c "$scv_dir/scv.conf" 2>>"$scv_dir/log" &
scv_pid=$!; pids+=($scv_pid)
for _ in $(seq 400); do curl -sk -o /dev/null "$scv_url/" && break; sleep 0.05; done
python3 - "$scv_url" "$(cat "$scv_data/secret")" "$target" "$active" "$tmp/tokens" <<'PY'
import http.client, json, ssl, sys, urllib.parse
url, secret, target, count, out = sys.argv[1:6]
u = urllib.parse.urlparse(url)
conn = (http.client.HTTPSConnection(u.hostname, u.port, context=ssl._create_unverified_context())
        if u.scheme == "https" else http.client.HTTPConnection(u.hostname, u.port))
with open(out, "w") as f:
    for _ in range(int(count)):
        conn.request("POST", "/streams/activate", json.dumps({"target_id": target, "engine": "bench"}),
                     {"Authorization": secret})
        r = conn.getresponse()
        data = r.read()
        if r.status != 200:
            sys.exit("activate: %d %s" % (r.status, data.decode()))
        f.write(json.loads(data)["token"] + "\n")
PY
export BENCH_TOKENS=$tmp/tokens

rate() {
  wrk_timed "$tmp/$1.out" -t"$threads" -c"$conns" -d"${secs}s" -s "$bench_root/bench/heartbeat.lua" "$scv_url/core/heartbeat"
  awk -v w="$wrk_cpu" -v t="$wrk_wall" -v n="$ncpu" 'BEGIN { printf "%.0f", 100 * w / (t * n) }' > "$tmp/$1.cpu"
  wrk_ok_rate "$tmp/$1.out"
}
rss_kb() { awk '/VmRSS/ { print $2 }' "/proc/$scv_pid/status"; }

wrk_timed "$tmp/warm.out" -t"$threads" -c"$conns" -d2s -s "$bench_root/bench/heartbeat.lua" "$scv_url/core/heartbeat"
base=$(rate none)
rss0=$(rss_kb)
coproc IDLE { exec python3 "$bench_root/bench/idle_conns.py" "$scv_url" "$idle"; }
idle_pid=$IDLE_PID; pids+=($idle_pid)
read -r word held <&"${IDLE[0]}" || { echo "idle connections failed" >&2; exit 1; }
sleep 1
rss1=$(rss_kb)
with=$(rate idle)
echo "$mode, wrk -t$threads -c$conns -d${secs}s heartbeats over $active active streams"
echo "no idle connections  : $base heartbeats/s (wrk CPU share $(cat "$tmp/none.cpu")%)"
echo "$held idle connections: $with heartbeats/s (wrk CPU share $(cat "$tmp/idle.cpu")%)"
awk -v a="$with" -v b="$base" 'BEGIN { printf "ratio idle/none: %.2f (target >= 0.8)\n", a / b }'
awk -v a="$rss0" -v b="$rss1" -v n="$held" -v m="$mode" 'BEGIN {
  printf "SCV RSS %.0f MB -> %.0f MB: %.1f KB per idle connection (target <= %d KB)\n", a / 1024, b / 1024, (b - a) / n,
         m == "tls" ? 48 : 8 }'
