#!/usr/bin/env bash
# Start-up times with big data: an SCV restarting with STREAMS streams on
# disk, and a CC starting with TARGETS targets in its database (target:
# serving again within 5 s each). The data is made with st-bench-fill; each
# daemon is started once to settle its files, stopped with SIGTERM, and the
# timed start is the second one (page cache warm, as after a quick restart).
# The SCV is then killed with SIGKILL and started once more: after a clean
# stop it skips the start-up check of every stream folder (the clean-stop
# marker), after a crash it must walk them all, so both are reported.
# "Serving" = a request that needs the loaded data answers 200:
# GET /streams/info/<last stream> on the SCV, GET /targets/info/<last
# target> on the CC.
#   bench/startup.sh [STREAMS] [TARGETS]
source "$(dirname "$0")/lib.sh"
streams=${1:-100000}
targets=${2:-100000}

stop_pid() { kill "-${2:-TERM}" "$1"; wait "$1" 2>/dev/null || true; }
start_bare() { # KIND DIR: the daemon alone, no login or registration wait
  "$bin" "$1" -c "$2/$1.conf" 2>>"$2/log" &
  last_pid=$!; pids+=($last_pid)
}

cc_setup
scv_setup scv1
echo "filling $streams streams and $targets targets..." >&2
target=$(tail -1 < <("$fill" cc "$cc_dir/cc_data" admin@bench bench scv1 "$targets"))
stream=$(tail -1 < <("$fill" scv "$scv_data" scv1 "$target" "$streams"))
[ -n "$stream" ] && [ -n "$target" ] || { echo "fill failed" >&2; exit 1; }

t0=$(now_s); start_bare cc "$cc_dir"
cc_first=$(time_until_ok "$cc_url/targets/info/$target")
stop_pid "$last_pid"
t0=$(now_s); start_bare cc "$cc_dir"; cc_pid=$last_pid
cc_secs=$(time_until_ok "$cc_url/targets/info/$target")

t0=$(now_s); start_bare scv "$scv_dir"
scv_first=$(time_until_ok "$scv_url/streams/info/$stream")
stop_pid "$last_pid"
[ -f "$scv_data/clean-stop" ] || echo "warning: no clean-stop marker after SIGTERM (see $scv_dir/log)" >&2
t0=$(now_s); start_bare scv "$scv_dir"; scv_pid=$last_pid
scv_secs=$(time_until_ok "$scv_url/streams/info/$stream")
rss=$(awk '/VmRSS/ { print $2 }' "/proc/$scv_pid/status")
stop_pid "$scv_pid" KILL
t0=$(now_s); start_bare scv "$scv_dir"
scv_crash=$(time_until_ok "$scv_url/streams/info/$stream")
cc_rss=$(awk '/VmRSS/ { print $2 }' "/proc/$cc_pid/status")

echo "CC start, $targets targets : ${cc_secs} s (first start ${cc_first} s; RSS $((cc_rss / 1024)) MB) (target <= 5 s)"
echo "SCV restart after SIGTERM, $streams streams: ${scv_secs} s (first start ${scv_first} s; RSS $((rss / 1024)) MB) (target <= 5 s)"
echo "SCV restart after SIGKILL, $streams streams: ${scv_crash} s (every stream folder checked) (target <= 5 s)"
