#!/usr/bin/env bash
# TLS on `siegetank scv` against nginx `return 200`, same certificate, same
# worker count, measured in one run, runs alternated, median of ROUNDS.
#   bench/tls.sh [SECONDS] [CONNECTIONS] [THREADS] [ROUNDS] [ROWS]
# Rows (each: requests/s and the server's CPU microseconds per request):
#   keep-alive      wrk over kept-alive TLS connections (RSA-2048)
#   new-connection  wrk with "Connection: close": a TLS handshake per request;
#                   wrk resumes the previous session of each connection
#   full handshake  openssl s_time -new: no resumption (RSA-2048 and P-256)
#   new-conn. TLSv1.2  the same against an SCV with ssl_protocols = TLSv1.2
# ROWS: all (default), or a comma-separated list of keep-alive, new-connection,
# full-handshake, tls12.
# nginx runs twice: at its defaults (Debian 12's nginx offers TLS 1.0-1.2)
# and limited to TLS 1.3 (what siegetank negotiates with current clients).
# CPU per request is the steadier figure on a loaded machine: a rate falls
# when other work takes the CPUs, the cost of one request does not.
# Needs: the build (ST_BUILD, default build/), nginx and wrk (scripts/deps.sh --bench).
source "$(dirname "$0")/lib.sh"
secs=${1:-10}
conns=${2:-100}
threads=${3:-2}
rounds=${4:-3}
rows=${5:-all}
[ -x /usr/sbin/nginx ] || { echo "missing nginx: run scripts/deps.sh --bench" >&2; exit 1; }

# start_tls_scv NAME KIND [CONF]: an SCV serving TLS with a KIND (rsa, ec)
# certificate written as $tmp/NAME.pem and .key, plus CONF lines; sets
# port_NAME and pid_NAME.
start_tls_scv() {
  local port; port=$(free_port)
  { printf 'name = bench%s\ninternal_http_port = %s\nthreads = %s\naccess_log = off\n%s\n' "$1" "$port" \
      "$threads" "${3:-}"
    tls_files "$1" "$2"; } > "$tmp/scv-$1.conf"
  "$bin" scv -c "$tmp/scv-$1.conf" 2>"$tmp/scv-$1.log" &
  pids+=($!)
  printf -v "pid_$1" %s $!
  printf -v "port_$1" %s "$port"
}

declare -A nginx_port
servers=""
for kind in rsa ec; do
  for proto in default tls13; do
    p=$(free_port); nginx_port[$kind-$proto]=$p
    protocols=""; [ $proto = tls13 ] && protocols="ssl_protocols TLSv1.3;"
    servers+="server { listen 127.0.0.1:$p ssl; $protocols ssl_certificate $tmp/$kind.pem;
      ssl_certificate_key $tmp/$kind.key; location / { return 200 '{}'; } }
"
  done
done
start_tls_scv rsa rsa
start_tls_scv ec ec
start_tls_scv rsa12 rsa "ssl_protocols = TLSv1.2"
nginx_start "$threads" '{}' "$servers"
wait_up "https://127.0.0.1:$port_rsa/"
wait_up "https://127.0.0.1:$port_ec/"
wait_up "https://127.0.0.1:$port_rsa12/"

# one_run PID TOOL URL: prints "rate cpu_us_per_request" for one measurement.
one_run() {
  local pid=$1 tool=$2 hostport=${3#https://} before after rate n
  hostport=${hostport%/}
  before=$(cpu_ticks "$pid")
  case $tool in
  keepalive) rate=$(wrk -t"$threads" -c"$conns" -d"${secs}s" "$3" | awk '/Requests\/sec/ {print $2}') ;;
  close) rate=$(wrk -t"$threads" -c"$conns" -d"${secs}s" -H "Connection: close" "$3" |
    awk '/Requests\/sec/ {print $2}') ;;
  new)
    n=$(openssl s_time -connect "$hostport" -$tool -time "$secs" 2>/dev/null |
      awk '/connections in [0-9.]+ real seconds/ {print $1; exit}')
    rate=$(awk -v n="${n:-0}" -v s="$secs" 'BEGIN { printf "%.1f", n / s }') ;;
  esac
  after=$(cpu_ticks "$pid")
  awk -v r="$rate" -v t=$((after - before)) -v hz="$hz" -v s="$secs" \
    'BEGIN { if (r > 0) printf "%s %.1f\n", r, t / hz / (r * s) * 1e6; else print "0 0" }'
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# row NAME TOOL KIND [SCV]: alternates siegetank (the SCV named SCV, by
# default KIND), nginx defaults and nginx TLS 1.3, all with a KIND certificate.
row() {
  local name=$1 tool=$2 kind=$3 i out
  local -a ours_r ours_c ngd_r ngd_c ng3_r ng3_c
  local ours_pid=pid_${4:-$kind} ours_port=port_${4:-$kind}
  for i in $(seq "$rounds"); do
    out=$(one_run "${!ours_pid}" "$tool" "https://127.0.0.1:${!ours_port}/"); ours_r+=("${out% *}"); ours_c+=("${out#* }")
    out=$(one_run "$nginx_pid" "$tool" "https://127.0.0.1:${nginx_port[$kind-default]}/"); ngd_r+=("${out% *}"); ngd_c+=("${out#* }")
    out=$(one_run "$nginx_pid" "$tool" "https://127.0.0.1:${nginx_port[$kind-tls13]}/"); ng3_r+=("${out% *}"); ng3_c+=("${out#* }")
  done
  local a b c ac bc cc
  a=$(printf '%s\n' "${ours_r[@]}" | median); ac=$(printf '%s\n' "${ours_c[@]}" | median)
  b=$(printf '%s\n' "${ngd_r[@]}" | median); bc=$(printf '%s\n' "${ngd_c[@]}" | median)
  c=$(printf '%s\n' "${ng3_r[@]}" | median); cc=$(printf '%s\n' "${ng3_c[@]}" | median)
  awk -v n="$name" -v a="$a" -v b="$b" -v c="$c" -v ac="$ac" -v bc="$bc" -v cc="$cc" 'BEGIN {
    printf "%-26s siegetank %9.0f/s %7.1f us | nginx %9.0f/s %7.1f us | nginx-1.3 %9.0f/s %7.1f us | ratio %.2f / %.2f (rate), %.2f / %.2f (cpu)\n",
      n, a, ac, b, bc, c, cc, (b > 0 ? a / b : 0), (c > 0 ? a / c : 0), (ac > 0 ? bc / ac : 0), (ac > 0 ? cc / ac : 0) }'
}

echo "wrk -t$threads -c$conns -d${secs}s and openssl s_time -time $secs; $threads server threads/workers; median of $rounds"
echo "ratios: siegetank against nginx defaults / nginx TLS 1.3 only; cpu ratio > 1 means siegetank spends less per request"
wanted() { [ "$rows" = all ] || [[ ",$rows," == *",$1,"* ]]; }
if wanted keep-alive; then row "keep-alive (RSA-2048)" keepalive rsa; fi
if wanted new-connection; then
  row "new-connection (RSA-2048)" close rsa
  row "new-connection (P-256)" close ec
fi
if wanted full-handshake; then
  row "full handshake (RSA-2048)" new rsa
  row "full handshake (P-256)" new ec
fi
if wanted tls12; then row "new-conn. (RSA, TLSv1.2)" close rsa rsa12; fi
