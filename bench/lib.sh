# Shared helpers for the bench/*.sh scripts (sourced, not run).
# Every daemon and file lives under one temp folder, removed on exit; every
# process started here is stopped by its pid on exit.
set -euo pipefail
bench_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${ST_BUILD:-$bench_root/build}
bin=$build/siegetank
fill=$build/bench/st-bench-fill
hz=$(getconf CLK_TCK)
ncpu=$(nproc)

for tool in wrk curl python3; do
  command -v $tool >/dev/null || { echo "missing $tool: run scripts/deps.sh --bench" >&2; exit 1; }
done
[ -x "$bin" ] && [ -x "$fill" ] || { echo "missing $bin or $fill: build first (or set ST_BUILD)" >&2; exit 1; }

tmp=$(mktemp -d "${BENCH_TMPDIR:-/tmp}/st-bench.XXXXXX")
pids=()

# tls_files NAME rsa|ec: a self-signed certificate for localhost and
# 127.0.0.1 (RSA-2048 or P-256) as $tmp/NAME.pem and $tmp/NAME.key; prints
# the three ssl_* config lines that serve it.
tls_files() {
  local newkey=(-newkey rsa:2048)
  [ "$2" = ec ] && newkey=(-newkey ec -pkeyopt ec_paramgen_curve:P-256)
  openssl req -x509 "${newkey[@]}" -nodes -days 2 -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$tmp/$1.key" -out "$tmp/$1.pem" 2>/dev/null
  printf 'ssl_certfile = %s\nssl_key = %s\nssl_ca_certs = %s\n' "$tmp/$1.pem" "$tmp/$1.key" "$tmp/$1.pem"
}

# The TLS lines cc_setup and scv_setup put in their configs (empty: plain
# HTTP). BENCH_TLS=1 serves TLS on both with a P-256 certificate, as
# `siegetank up` does. curl below never verifies certificates.
cc_tls=""
scv_tls=""
if [ -n "${BENCH_TLS:-}" ]; then
  cc_tls=$(tls_files bench ec)
  scv_tls=$cc_tls
fi
curl() { command curl -k "$@"; }
bench_cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${BENCH_KEEP:-}" ]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap bench_cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_up URL [SECONDS]: polls until any HTTP answer.
wait_up() {
  local n=$(( ${2:-20} * 20 ))
  for _ in $(seq $n); do curl -s -o /dev/null "$1" && return 0; sleep 0.05; done
  echo "not up: $1" >&2; return 1
}

# cpu_ticks PID: user + system clock ticks used so far by PID and its
# direct children (nginx's workers).
cpu_ticks() {
  local t=0 p
  for p in $1 $(pgrep -P "$1" || true); do
    t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo $t
}

# json_field NAME: reads JSON on stdin, prints one top-level string field.
json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

# cc_setup [EXTRA_CONF]: a CC on a free port with admin@bench bootstrapped.
# Sets cc_url, cc_dir, cc_pid, cc_pass, admin (token).
cc_setup() {
  cc_dir=$tmp/cc; mkdir -p "$cc_dir"
  local port; port=$(free_port)
  cc_url=http${cc_tls:+s}://127.0.0.1:$port
  cc_pass=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
  printf 'name = cc\ninternal_http_port = %s\ncc_pass = %s\naccess_log = off\nthreads = %s\n%s\n%s\n' \
    "$port" "$cc_pass" "${CC_THREADS:-$ncpu}" "$cc_tls" "${1:-}" > "$cc_dir/cc.conf"
  "$bin" cc -c "$cc_dir/cc.conf" add-manager --email admin@bench --password bench-password --role admin \
    >/dev/null 2>>"$cc_dir/log"
}

# cc_start: starts the CC set up by cc_setup and logs in.
cc_start() {
  "$bin" cc -c "$cc_dir/cc.conf" 2>>"$cc_dir/log" &
  cc_pid=$!; pids+=($cc_pid)
  wait_up "$cc_url/" 30
  admin=$(curl -sf -d '{"email":"admin@bench","password":"bench-password"}' "$cc_url/auth" | json_field token)
}

# scv_setup NAME [EXTRA_CONF]: config for an SCV pointed at the CC. Sets
# scv_url, scv_dir, scv_data.
scv_setup() {
  scv_name=$1
  scv_dir=$tmp/$1; mkdir -p "$scv_dir"
  scv_data=$scv_dir/${1}_data
  local port; port=$(free_port)
  scv_url=http${scv_tls:+s}://127.0.0.1:$port
  printf 'name = %s\ninternal_http_port = %s\nexternal_host = 127.0.0.1:%s\ncommand_center = %s\ncc_pass = %s\naccess_log = off\nthreads = %s\n%s\n%s\n' \
    "$1" "$port" "$port" "$cc_url" "$cc_pass" "${SCV_THREADS:-$ncpu}" "$scv_tls" "${2:-}" > "$scv_dir/scv.conf"
}

# scv_start: starts the SCV and waits until the CC lists it online.
scv_start() {
  "$bin" scv -c "$scv_dir/scv.conf" 2>>"$scv_dir/log" &
  scv_pid=$!; pids+=($scv_pid)
  wait_up "$scv_url/" 60
  for _ in $(seq 200); do
    curl -s "$cc_url/scvs/status" | grep -q "\"$scv_name\": *{[^}]*\"online\": *true" && return 0
    sleep 0.05
  done
  echo "SCV $scv_name never came online at the CC" >&2; return 1
}

# make_target ENGINE: a public target of admin@bench; prints its id.
make_target() {
  curl -sf -H "Authorization: $admin" -d "{\"engines\":[\"$1\"],\"stage\":\"public\"}" "$cc_url/targets" |
    json_field target_id
}

# engine_key ENGINE: prints a new engine key.
engine_key() {
  curl -sf -H "Authorization: $admin" -d "{\"engine\":\"$1\",\"description\":\"bench\"}" "$cc_url/engines/keys" |
    json_field key
}

# add_shard TARGET: tells the CC that the SCV holds streams of TARGET (what
# the SCV does itself when a target's first stream is created over HTTP).
add_shard() {
  curl -sf -X PUT -H "Authorization: $cc_pass" -d "{\"scv\":\"$scv_name\",\"op\":\"add\"}" \
    "$cc_url/targets/shards/$1" >/dev/null
}

# wrk_timed OUT ARGS...: runs wrk with ARGS, output in OUT; sets wrk_cpu to
# its CPU seconds (user + system) and wrk_wall to its wall seconds.
wrk_timed() {
  local out=$1; shift
  /usr/bin/time -f '%e %U %S' -o "$out.time" wrk "$@" > "$out"
  read -r wrk_wall u s < "$out.time"
  wrk_cpu=$(awk -v u="$u" -v s="$s" 'BEGIN { print u + s }')
}

# wrk_ok_rate OUT: 2xx responses per second from wrk's report.
wrk_ok_rate() {
  awk '/requests in/ { n = $1; t = $4; sub(/s,?$/, "", t); if (t ~ /m$/) { sub(/m/, "", t); t *= 60 } }
       /Non-2xx/ { bad = $NF }
       END { printf "%.0f\n", (n - bad) / t }' "$1"
}

# With BENCH_PERF=DIR set, perf_start NAME PID records a call-graph profile
# of PID into DIR/NAME.data until perf_stop (for docs/PERFORMANCE.md).
perf_pids=()
perf_start() {
  [ -n "${BENCH_PERF:-}" ] || return 0
  mkdir -p "$BENCH_PERF"
  perf record -q ${BENCH_PERF_ARGS:--g} -p "$2" -o "$BENCH_PERF/$1.data" 2>/dev/null &
  perf_pids+=($!); pids+=($!)
}
perf_stop() {
  for p in "${perf_pids[@]}"; do kill -INT "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  perf_pids=()
}

# activate_tokens TARGET ENGINE COUNT OUT: activates COUNT streams of TARGET
# on the SCV (as the CC would) over one keep-alive connection; the core
# tokens go to OUT, one a line.
activate_tokens() {
  python3 - "$scv_url" "$(cat "$scv_data/secret")" "$1" "$2" "$3" "$4" <<'PY'
import http.client, json, sys, urllib.parse
url, secret, target, engine, count, out = sys.argv[1:7]
u = urllib.parse.urlparse(url)
conn = http.client.HTTPConnection(u.hostname, u.port)
body = json.dumps({"target_id": target, "engine": engine})
with open(out, "w") as f:
    for _ in range(int(count)):
        conn.request("POST", "/streams/activate", body, {"Authorization": secret, "Content-Type": "application/json"})
        r = conn.getresponse()
        data = r.read()
        if r.status != 200:
            sys.exit("activate: %d %s" % (r.status, data.decode()))
        f.write(json.loads(data)["token"] + "\n")
PY
}

# nginx_start WORKERS [BODY] [EXTRA_SERVERS]: nginx answering `return 200
# BODY` (default `{}`) on a free port; sets nginx_url. EXTRA_SERVERS (nginx
# config text) goes inside its http block.
nginx_start() {
  local port body=${2:-'{}'}; port=$(free_port)
  mkdir -p "$tmp/nginx"
  cat > "$tmp/nginx.conf" <<CONF
worker_processes $1;
worker_rlimit_nofile 20000;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log;
events { worker_connections 20000; }
http {
  access_log off;
  client_body_temp_path $tmp/nginx; proxy_temp_path $tmp/nginx; fastcgi_temp_path $tmp/nginx;
  uwsgi_temp_path $tmp/nginx; scgi_temp_path $tmp/nginx;
  server { listen 127.0.0.1:$port; location / { return 200 '$body'; } }
${3:-}
}
CONF
  /usr/sbin/nginx -c "$tmp/nginx.conf" -g 'daemon off;' &
  nginx_pid=$!; pids+=($nginx_pid)
  nginx_url=http://127.0.0.1:$port
  wait_up "$nginx_url/"
}

now_s() { date +%s.%N; }

# time_until_ok URL [SECONDS]: polls URL every 10 ms until it answers 200;
# prints the seconds since $t0 (set by the caller just before the start).
time_until_ok() {
  local n=$(( ${2:-60} * 100 ))
  for _ in $(seq $n); do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "$1")" = 200 ]; then
      awk -v a="$t0" -v b="$(now_s)" 'BEGIN { printf "%.2f\n", b - a }'; return 0
    fi
    sleep 0.01
  done
  echo "never answered 200: $1" >&2; return 1
}

# pg_start: a private PostgreSQL 15 (PG_BINDIR, default
# /usr/lib/postgresql/15/bin) in $tmp/pg on a free loopback port, trust
# auth for the socket and 127.0.0.1 only, run as the postgres user when we
# are root. fsync and full_page_writes are off: benchmark data needs no
# crash safety, so figures measured on it leave out the WAL flush a real
# server pays per commit. Sets pg_url; pg_stop (call it from the EXIT trap)
# stops it.
pg_bindir=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
pg_data=
pg_as() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
pg_start() {
  [ -x "$pg_bindir/initdb" ] || { echo "missing $pg_bindir/initdb: install PostgreSQL 15 (or set PG_BINDIR)" >&2; return 1; }
  local dir=$tmp/pg port; port=$(free_port)
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then chmod 711 "$tmp"; chown postgres: "$dir"; fi
  pg_as "$pg_bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-locale --no-sync \
    >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; return 1; }
  printf "listen_addresses = '127.0.0.1'\nport = %s\nunix_socket_directories = '%s'\nmax_connections = 60\nfsync = off\nfull_page_writes = off\n" \
    "$port" "$dir" >> "$dir/data/postgresql.conf"
  printf 'local all all trust\nhost all all 127.0.0.1/32 trust\n' > "$dir/data/pg_hba.conf"
  pg_data=$dir/data
  pg_as "$pg_bindir/pg_ctl" start -w -t 60 -D "$pg_data" -l "$dir/server.log" >/dev/null ||
    { cat "$dir/server.log" >&2; return 1; }
  pg_url=postgresql://postgres@127.0.0.1:$port/postgres
}
pg_stop() {
  [ -n "$pg_data" ] || return 0
  pg_as "$pg_bindir/pg_ctl" stop -w -t 60 -m fast -D "$pg_data" >/dev/null 2>&1 || true
  pg_data=
}

# pg_sql SQL: runs SQL on the pg_start server (stops at the first error).
pg_sql() { "$pg_bindir/psql" -X -q -v ON_ERROR_STOP=1 -d "$pg_url" -c "$1"; }

# pg_cleanup: the EXIT trap of a script that ran pg_start. Stops the
# daemons first so they do not log the server's shutdown as an outage, then
# the server, then removes everything (bench_cleanup).
pg_cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pg_stop
  bench_cleanup
}
