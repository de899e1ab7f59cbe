#!/usr/bin/env bash
# What the CC's dashboard survey costs an SCV: one CC, one SCV holding
# STREAMS streams of one public target (no cores), watched for SECONDS; at
# each survey round the CC publishes (a new survey_time in GET
# /status/overview, polled every 0.25 s: that costs the SCV nothing) prints
# the requests the SCV answered since the last round (all routes but
# /metrics, read from its /metrics once a round) and the SCV's CPU seconds,
# then the totals per round and per minute, and what a target's page costs.
#   bench/survey.sh [SECONDS] [STREAMS]
#   SURVEY_BIN=/path/to/siegetank bench/survey.sh ...   (another build's daemons)
source "$(dirname "$0")/lib.sh"
secs=${1:-70}
streams=${2:-20000}
bin=${SURVEY_BIN:-$bin}

cc_setup
cc_start
scv_setup scv1
target=$(make_target bench)
"$fill" scv "$scv_data" scv1 "$target" "$streams" > /dev/null
scv_start
add_shard "$target"

# survey_time of the CC's overview.
survey_time() { curl -sf "$cc_url/status/overview" | json_field survey_time; }
# requests the SCV answered so far, /metrics excluded; by_route FILE
# saves them per method and route.
scv_requests() {
  curl -sf "$scv_url/metrics" | tee "$tmp/metrics" |
    awk '/^siegetank_http_requests_total\{/ && !/route="\/metrics"/ { n += $NF } END { printf "%d\n", n }'
}
by_route() {
  awk '/^siegetank_http_requests_total\{/ && !/route="\/metrics"/ {
         match($0, /method="[^"]*"/); m = substr($0, RSTART + 8, RLENGTH - 9)
         match($0, /route="[^"]*"/); r = substr($0, RSTART + 7, RLENGTH - 8)
         n[m " " r] += $NF }
       END { for (k in n) print k, n[k] }' "$tmp/metrics" | sort > "$1"
}

last=$(survey_time)
while [ "$(survey_time)" = "$last" ]; do sleep 0.25; done
last=$(survey_time)
req0=$(scv_requests); cpu0=$(cpu_ticks "$scv_pid")
by_route "$tmp/routes0"
reqs=$req0; cpus=$cpu0
rounds=0; max_req=0; max_cpu=0
end=$((SECONDS + secs))
while [ $SECONDS -lt $end ]; do
  sleep 0.25
  now=$(survey_time)
  [ "$now" = "$last" ] && continue
  last=$now
  r=$(scv_requests); c=$(cpu_ticks "$scv_pid")
  rounds=$((rounds + 1))
  dr=$((r - reqs)); dc=$((c - cpus))
  [ $dr -gt $max_req ] && max_req=$dr
  [ $dc -gt $max_cpu ] && max_cpu=$dc
  awk -v n=$rounds -v t="$now" -v r=$dr -v c=$dc -v hz="$hz" \
    'BEGIN { printf "round %2d (at %.1f): SCV answered %6d requests, used %.2f CPU s\n", n, t, r, c / hz }'
  reqs=$r; cpus=$c
done
by_route "$tmp/routes1"
echo "$streams streams on one SCV, no cores; $rounds rounds in ${secs} s; requests by route:"
join -a2 -j1 <(awk '{ print $1 "_" $2, $3 }' "$tmp/routes0" | sort) <(awk '{ print $1 "_" $2, $3 }' "$tmp/routes1" | sort) |
  awk '{ d = $NF - (NF == 3 ? $2 : 0); if (d > 0) { sub(/_/, " ", $1); printf "  %-40s %d\n", $1, d } }'
awk -v n=$rounds -v r=$((reqs - req0)) -v c=$((cpus - cpu0)) -v mr=$max_req -v mc=$max_cpu -v hz="$hz" -v s="$secs" \
  'BEGIN { printf "per round: %.0f requests, %.3f SCV CPU s (costliest round: %d requests, %.2f CPU s)\n",
           r / n, c / hz / n, mr, mc / hz;
           printf "per minute: %.0f requests, %.2f SCV CPU s\n", 60 * r / s, 60 * c / hz / s }'
# A target's page: its rows asked from the SCV once, then served from the
# CC's copy for CC_SURVEY_ROWS_MS.
for load in first again; do
  c0=$(cpu_ticks "$scv_pid")
  w=$(command curl -sk -o "$tmp/page.json" -w '%{time_total}' "$cc_url/status/targets/$target")
  c1=$(cpu_ticks "$scv_pid")
  awk -v l=$load -v w="$w" -v c=$((c1 - c0)) -v hz="$hz" -v b="$(stat -c %s "$tmp/page.json")" \
    'BEGIN { printf "GET /status/targets/:id (%s load): %.3f s, %d bytes, SCV CPU %.2f s\n", l, w, b, c / hz }'
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $ncpu CPUs"
