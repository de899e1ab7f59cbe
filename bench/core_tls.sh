#!/usr/bin/env bash
# TLS handshakes that reference cores cost the servers: a CC and an SCV
# serving TLS, CORES toy cores in one `siegetank core` process for SECONDS,
# with a checkpoint every frame (many short requests). At the end both
# daemons stop and log how many handshakes they completed and how many of
# those resumed a session; the core's summary gives the request count.
#   bench/core_tls.sh [SECONDS] [CORES]
# Prints full and resumed handshakes per 1,000 core requests.
BENCH_TLS=1
source "$(dirname "$0")/lib.sh"
secs=${1:-10}
cores=${2:-8}

cc_setup
cc_start
scv_setup scv1
scv_start
target=$(curl -sf -H "Authorization: $admin" -d '{"engines":["toy"],"stage":"public"}' "$cc_url/targets" |
  json_field target_id)
key=$(engine_key toy)
for i in $(seq "$cores"); do
  "$bin" core seed --seed "$i" --out "$tmp/seed$i" >/dev/null
  python3 - "$tmp/seed$i" "$target" > "$tmp/stream$i.json" <<'PY'
import base64, gzip, json, os, sys
folder, target = sys.argv[1:3]
files = {name + ".gz.b64": base64.b64encode(gzip.compress(open(os.path.join(folder, name), "rb").read())).decode()
         for name in os.listdir(folder)}
print(json.dumps({"target_id": target, "files": files}))
PY
  curl -sf -H "Authorization: $admin" --data-binary @"$tmp/stream$i.json" "$scv_url/streams" >/dev/null
done

"$bin" core --cc "$cc_url" --key "$key" --cores "$cores" --duration "$secs" --frames-per-checkpoint 1 \
  --json --quiet > "$tmp/core.json" 2>"$tmp/core.log"
for p in "$scv_pid" "$cc_pid"; do kill -TERM "$p"; wait "$p" 2>/dev/null || true; done

python3 - "$tmp/core.json" "$cc_dir/log" "$scv_dir/log" "$cores" "$secs" <<'PY'
import json, re, sys
core = json.load(open(sys.argv[1]))
# Each stream: assign + start + stop; each frame: frame + checkpoint.
requests = 3 * core["assignments"] + 2 * core["frames_sent"]
def handshakes(log):
    m = re.findall(r"TLS: (\d+) handshakes completed, (\d+) of them resumed", open(log).read())
    done, resumed = map(int, m[-1])
    return done - resumed, resumed
print("%s cores for %s s: %d requests (%d assignments, %d frames)" %
      (sys.argv[4], sys.argv[5], requests, core["assignments"], core["frames_sent"]))
for name, log in (("CC", sys.argv[2]), ("SCV", sys.argv[3])):
    full, resumed = handshakes(log)
    print("%-3s handshakes: %d full + %d resumed; per 1,000 requests: %.2f full, %.2f resumed" %
          (name, full, resumed, 1000.0 * full / requests, 1000.0 * resumed / requests))
PY
