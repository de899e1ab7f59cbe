#!/usr/bin/env bash
# p99 latency of heartbeats while checkpoints are committed at full rate,
# against the p99 of the same heartbeats with nothing else going on (target:
# at most 2x). Heartbeats come from their own process (one connection, about
# 1,000 a second, cycling through HB tokens); the ingest load is
# bench/ingest_load.py with CORES cores sending FRAME_KB frames and a
# checkpoint every 4 frames.
#
# Two latencies per heartbeat: "server" ends when the reply reached the
# probe's socket (the kernel's receive timestamp, SO_TIMESTAMPNS), so it
# measures the server and not how soon the probe itself got a CPU back;
# "probe" ends when the probe has read the reply, as the figures before
# 2026-11-22 17:30 did (they used http.client, which adds ~0.1 ms).
#   bench/p99.sh [SECONDS] [CORES] [FRAME_KB]
source "$(dirname "$0")/lib.sh"
secs=${1:-10}
cores=${2:-8}
frame_kb=${3:-512}
hb=100

cc_setup
cc_start
scv_setup scv1
target=$(make_target bench)
"$fill" scv "$scv_data" scv1 "$target" $((cores + hb)) > /dev/null
scv_start
activate_tokens "$target" bench $((cores + hb)) "$tmp/tokens"
head -n $hb "$tmp/tokens" > "$tmp/hb_tokens"
tail -n +$((hb + 1)) "$tmp/tokens" > "$tmp/core_tokens"
probe() {
  python3 - "$scv_url" "$tmp/hb_tokens" "$secs" <<'PY'
import json, socket, struct, sys, time, urllib.parse
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # the Linux value
url, tokfile, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
u = urllib.parse.urlparse(url)
conn = socket.create_connection((u.hostname, u.port))
conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
conn.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
reqs = [b"POST /core/heartbeat HTTP/1.1\r\nHost: p99\r\nAuthorization: %s\r\nContent-Length: 0\r\n\r\n" % t
        for t in open(tokfile).read().encode().split()]

def reply():
    """Reads one response; returns (status line, kernel receive time of its last segment)."""
    buf, stamp = b"", None
    while True:
        data, anc, _, _ = conn.recvmsg(65536, 64)
        if not data:
            sys.exit("heartbeat: the server closed the connection")
        for level, kind, raw in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                sec, nsec = struct.unpack("qq", raw[:16])
                stamp = sec + nsec / 1e9
        buf += data
        head, sep, body = buf.partition(b"\r\n\r\n")
        length = [int(h.split(b":")[1]) for h in head.lower().split(b"\r\n") if h.startswith(b"content-length:")]
        if sep and length and len(body) >= length[0]:
            return head.split(b"\r\n")[0], stamp

server, probe = [], []
deadline = time.monotonic() + secs
while time.monotonic() < deadline:
    t0 = time.time()  # the same clock as the kernel's timestamps
    conn.sendall(reqs[len(probe) % len(reqs)])
    status, stamp = reply()
    probe.append(time.time() - t0)
    server.append(stamp - t0)
    if not status.startswith(b"HTTP/1.1 200"):
        sys.exit("heartbeat: %s" % status.decode())
    time.sleep(0.001)

def summary(lat):
    lat = sorted(lat)
    return {"p50_ms": 1000 * lat[len(lat) // 2], "p99_ms": 1000 * lat[int(len(lat) * 0.99)], "max_ms": 1000 * lat[-1]}
print(json.dumps({"heartbeats": len(probe), "server": summary(server), "probe": summary(probe)}))
PY
}

probe > "$tmp/idle.json"
nice -n 10 python3 "$bench_root/bench/ingest_load.py" "$scv_url" "$tmp/core_tokens" "$secs" "$frame_kb" 4 > "$tmp/load.json" &
load_pid=$!; pids+=($load_pid)
probe > "$tmp/busy.json"
wait $load_pid
field() { python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(d[sys.argv[2]][sys.argv[3]] if len(sys.argv) > 3 else d[sys.argv[2]])' "$tmp/$1.json" "${@:2}"; }
line() { # RUN LABEL
  awk -v label="$2" -v n="$(field "$1" heartbeats)" \
    -v a="$(field "$1" server p50_ms)" -v b="$(field "$1" server p99_ms)" -v c="$(field "$1" server max_ms)" \
    -v d="$(field "$1" probe p50_ms)" -v e="$(field "$1" probe p99_ms)" \
    'BEGIN { printf "%s: server p50 %.2f ms, p99 %.2f ms, max %.1f ms; probe p50 %.2f ms, p99 %.2f ms (%d heartbeats)\n", label, a, b, c, d, e, n }'
}
echo "heartbeats from 1 connection (~1,000/s) for ${secs}s; ingest: $cores cores, ${frame_kb} KB frames, checkpoint every 4"
line idle "no checkpoints"
line busy "checkpointing "
awk -v mb="$(field load committed_bytes)" -v t="$(field load seconds)" 'BEGIN { printf "ingest during the run: %.1f MB/s committed\n", mb / t / 1e6 }'
awk -v a="$(field busy server p99_ms)" -v b="$(field idle server p99_ms)" -v c="$(field busy probe p99_ms)" -v d="$(field idle probe p99_ms)" \
  'BEGIN { printf "ratio p99 busy/idle: server %.2f, probe %.2f (target <= 2)\n", a / b, c / d }'
