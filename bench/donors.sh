#!/usr/bin/env bash
# Donor credit at scale (issue 14): a CC whose database holds 100,000 donors
# in 5,000 teams and 1,000,000 fragments with their aggregates, bulk-filled
# by bench/donors_fill.sql (the aggregates as POST /stats keeps them). Then,
# each under wrk for SECONDS with CONNS connections:
#   - GET /leaderboard/donors?period=week (latency percentiles);
#   - GET /donors/info/donorN, N random (bench/donor_info.lua);
#   - POST /stats, batches of BATCH (200, an SCV's outbox batch) fragments
#     from random donors (bench/stats_ingest.lua): fragments absorbed a second;
#     then the fold's rate (fragments credited a second, from the CC's
#     siegetank_cc_credit_folded_total while wrk ran and until
#     siegetank_cc_credit_pending drained to 0) and the server CPU per
#     fragment absorbed and credited.
# BACKEND is sqlite (the CC's file) or pg (a private PostgreSQL, lib.sh).
# Each phase also prints the CPU the servers spent per request (the CC, and
# PostgreSQL's processes), which a shared machine disturbs less than
# latency.
# BENCH_PERF=DIR records a profile of the CC during the ingest (lib.sh);
# INGEST_ONLY=1 skips the three read phases. PACE_MS=N: in the read phases
# each connection waits N ms between requests (bench/paced.lua), a fixed
# offered load instead of as many requests as the machine allows.
#   bench/donors.sh [sqlite|pg] [SECONDS] [CONNS]
source "$(dirname "$0")/lib.sh"
backend=${1:-sqlite}
secs=${2:-10}
conns=${3:-16}
export BATCH=${BATCH:-200}

extra=""
if [ "$backend" = pg ]; then
  trap pg_cleanup EXIT
  pg_start
  extra="database = '$pg_url'"
fi
cc_setup "$extra"

now=$(date +%s)
day=$(( now / 86400 * 86400 ))
week=$(( (now - 345600) / 604800 * 604800 + 345600 ))
sed -e "s/@NOW@/$now/g" -e "s/@DAY@/$day/g" -e "s/@WEEK@/$week/g" \
  "$bench_root/bench/donors_fill.sql" > "$tmp/fill.sql"
start=$(date +%s.%N)
if [ "$backend" = pg ]; then
  "$pg_bindir/psql" -X -q -v ON_ERROR_STOP=1 -d "$pg_url" -f "$tmp/fill.sql"
  pg_sql "VACUUM ANALYZE"
else
  /usr/bin/python3 - "$cc_dir/cc_data/cc.db" "$tmp/fill.sql" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.executescript("BEGIN;" + open(sys.argv[2]).read() + "COMMIT; ANALYZE;")
PY
fi
echo "fill: $(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.0f", e - s }') s"
cc_start

# server_ticks: CPU clock ticks used so far by the CC and, on pg, the
# PostgreSQL server's processes.
server_ticks() {
  local t; t=$(cpu_ticks "$cc_pid")
  [ "$backend" = pg ] && t=$((t + $(cpu_ticks "$(head -1 "$pg_data/postmaster.pid")")))
  echo "$t"
}

# cpu_per OUT TICKS_BEFORE UNITS_PER_REQUEST: server CPU microseconds per
# unit (request or fragment) of the wrk run in OUT.
cpu_per() {
  local n; n=$(awk '/requests in/ { print $1 }' "$1")
  awk -v t=$(( $(server_ticks) - $2 )) -v hz="$hz" -v n="$n" -v u="$3" 'BEGIN { printf "%.0f", t / hz * 1e6 / (n * u) }'
}

# p99 FILE: wrk's 99th percentile latency in ms.
p99() {
  awk '$1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms/, "", v) }
       else if (v ~ /s$/) { sub(/s/, "", v); v *= 1000 } printf "%.2f", v }' "$1"
}
p50() { awk '$1 == "50%" { print $2 }' "$1"; }

curl -sf "$cc_url/leaderboard/donors?period=week&limit=3" >/dev/null
# phase NAME OUT UNITS WRK_ARGS...: one wrk run and its line.
phase() {
  local name=$1 out=$2 units=$3; shift 3
  local before unit=request; before=$(server_ticks)
  [ "$units" = 1 ] || unit=fragment
  wrk -t2 -c"$conns" -d"${secs}s" --latency "$@" > "$out"
  echo "$name: $(wrk_ok_rate "$out") req/s, p50 $(p50 "$out"), p99 $(p99 "$out") ms," \
    "server CPU $(cpu_per "$out" "$before" "$units") us per $unit"
}
export PACED_LUA=$bench_root/bench/paced.lua
paced=()
[ -n "${PACE_MS:-}" ] && paced=(-s "$PACED_LUA")
if [ -z "${INGEST_ONLY:-}" ]; then
  phase "leaderboard week" "$tmp/board.txt" 1 "${paced[@]}" "$cc_url/leaderboard/donors?period=week"
  phase "leaderboard teams" "$tmp/teams.txt" 1 "${paced[@]}" "$cc_url/leaderboard/teams?period=all"
  phase "donor info" "$tmp/info.txt" 1 -s "$bench_root/bench/donor_info.lua" "$cc_url"
fi
# metric NAME: one sample of the CC's /metrics.
metric() { curl -sf "$cc_url/metrics" | awk -v n="$1" '$1 == n { printf "%.0f\n", $2 }'; }
now_s() { date +%s.%N; }
folded0=$(metric siegetank_cc_credit_folded_total); t0=$(now_s); ticks0=$(server_ticks)
perf_start ingest "$cc_pid"
CC_PASS=$cc_pass phase "stats ingest" "$tmp/ingest.txt" "$BATCH" -s "$bench_root/bench/stats_ingest.lua" "$cc_url"
perf_stop
folded1=$(metric siegetank_cc_credit_folded_total); t1=$(now_s)
rate=$(wrk_ok_rate "$tmp/ingest.txt")
echo "stats ingest: $rate batches/s of $BATCH = $((rate * BATCH)) fragments/s"
grep -q "Non-2xx" "$tmp/ingest.txt" && { echo "some batches failed:" >&2; cat "$tmp/ingest.txt" >&2; }
drained=""
for _ in $(seq 1200); do [ "$(metric siegetank_cc_credit_pending)" = 0 ] && drained=1 && break; sleep 0.1; done
[ -n "$drained" ] || echo "the credit queue did not drain in 120 s" >&2
folded2=$(metric siegetank_cc_credit_folded_total); t2=$(now_s); ticks2=$(server_ticks)
awk -v a="$folded0" -v b="$folded1" -v c="$folded2" -v t0="$t0" -v t1="$t1" -v t2="$t2" -v t="$((ticks2 - ticks0))" \
  -v hz="$hz" 'BEGIN { printf "fold: %.0f fragments credited/s while wrk ran, %.0f/s until the queue drained %.1f s after it;" \
  " server CPU %.0f us per fragment absorbed and credited\n", (b - a) / (t1 - t0), (c - a) / (t2 - t0), t2 - t1,
  t / hz * 1e6 / (c - a) }'
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) on $ncpu CPUs"
