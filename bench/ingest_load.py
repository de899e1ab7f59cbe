#!/usr/bin/env python3
"""Load generator for bench/ingest.sh: one thread per core token, each
sending FRAMES frames (PUT /core/frame, a FRAME_KB XTC frame base64 in
JSON with Content-MD5) then a checkpoint (PUT /core/checkpoint), over one
keep-alive connection, until SECONDS pass. Consecutive frame bodies differ,
so none is taken for a retry. Prints JSON: committed payload bytes, wire
bytes, seconds, checkpoints, and heartbeat latencies when asked.

usage: ingest_load.py URL TOKENS_FILE SECONDS FRAME_KB FRAMES [HB_TOKENS]
With HB_TOKENS > 0, that many of the tokens are kept for one extra thread
that only sends heartbeats and records their latencies (p50/p99/max)."""
import base64, hashlib, http.client, json, os, struct, sys, threading, time, urllib.parse

XTC_COMPRESSED_HEADER = 92


def xtc_frame(size):
    """One XTC frame of size bytes (a multiple of 4, over 92) in the
    compressed form: a valid header (the SCV counts frames by their headers,
    PROTOCOL.md "Donors and credit") and random bytes for the coordinates,
    which the SCV stores without decoding."""
    count = size - XTC_COMPRESSED_HEADER
    natoms = count * 4  # 2 bits an atom is the least a frame may claim
    head = struct.pack(">iiif9fi", 1995, natoms, 0, 0.0, 5, 0, 0, 0, 5, 0, 0, 0, 5, natoms)
    head += struct.pack(">f3i3iii", 1000.0, 0, 0, 0, 1000, 1000, 1000, 9, count)
    return head + os.urandom(count)


def body(files):
    b = json.dumps({"files": files}).encode()
    return b, hashlib.md5(b).hexdigest()


def put(conn, path, token, payload, md5):
    conn.request("PUT", path, payload, {"Authorization": token, "Content-MD5": md5,
                                        "Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    if r.status != 200:
        raise RuntimeError("%s: %d %s" % (path, r.status, data[:200]))


def core(url, token, deadline, frame_kb, frames, out):
    u = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port)
    raw = [xtc_frame(frame_kb * 1024) for _ in range(2)]
    bodies = [body({"frames.xtc.b64": base64.b64encode(r).decode()}) for r in raw]
    ckpt = body({"state.json": '{"step": 1}'})
    committed = wire = checkpoints = i = 0
    frame_s = ckpt_s = 0.0
    while time.monotonic() < deadline:
        t0 = time.monotonic()
        for _ in range(frames):
            b, md5 = bodies[i % 2]
            i += 1
            put(conn, "/core/frame", token, b, md5)
            wire += len(b)
        t1 = time.monotonic()
        put(conn, "/core/checkpoint", token, *ckpt)
        ckpt_s += time.monotonic() - t1
        frame_s += t1 - t0
        committed += frames * frame_kb * 1024
        checkpoints += 1
    out.append((committed, wire, checkpoints, frame_s, ckpt_s))


def heartbeats(url, tokens, deadline, lat):
    u = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port)
    i = 0
    while time.monotonic() < deadline:
        t0 = time.monotonic()
        conn.request("POST", "/core/heartbeat", b"", {"Authorization": tokens[i % len(tokens)]})
        r = conn.getresponse()
        r.read()
        lat.append(time.monotonic() - t0)
        if r.status != 200:
            raise RuntimeError("heartbeat: %d" % r.status)
        i += 1
        time.sleep(0.001)


def main():
    url, tokfile, secs, frame_kb, frames = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    hb = int(sys.argv[6]) if len(sys.argv) > 6 else 0
    tokens = open(tokfile).read().split()
    hb_tokens, tokens = tokens[:hb], tokens[hb:]
    start = time.monotonic()
    deadline = start + secs
    out, lat = [], []
    threads = [threading.Thread(target=core, args=(url, t, deadline, frame_kb, frames, out)) for t in tokens]
    if hb_tokens:
        threads.append(threading.Thread(target=heartbeats, args=(url, hb_tokens, deadline, lat)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    res = {"seconds": elapsed, "committed_bytes": sum(o[0] for o in out), "wire_bytes": sum(o[1] for o in out),
           "checkpoints": sum(o[2] for o in out), "cores": len(out),
           "frame_ms_avg": 1000 * sum(o[3] for o in out) / max(1, sum(o[2] for o in out) * frames),
           "checkpoint_ms_avg": 1000 * sum(o[4] for o in out) / max(1, sum(o[2] for o in out))}
    if lat:
        lat.sort()
        res.update(heartbeats=len(lat), p50_ms=1000 * lat[len(lat) // 2], p99_ms=1000 * lat[int(len(lat) * 0.99)],
                   max_ms=1000 * lat[-1])
    if len(out) != len(tokens):
        sys.exit("some cores failed (see above)")
    print(json.dumps(res))


main()
