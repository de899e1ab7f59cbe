#!/usr/bin/env python3
"""Reads `perf sched timehist -w` (with call chains) on stdin and reports
the wake-ups of the SCV's event loops that waited over 0.5 ms for a CPU:
how many, who held that CPU meanwhile, and, for those behind the SCV's
bulk worker, who had woken the loop and where the worker was when it gave
the CPU up (a timer tick: it ran on in user mode; generic_perform_write:
inside one write). Used by bench/p99_trace.sh.

usage: sched_waits.py THREADS TREE < timehist
THREADS: the SCV's threads, "tid ticks nice policy slice_ns" a line (loops
ask for a 100 us slice; the bulk worker is the busiest niced thread).
TREE: pids of every process the bench started (its load and probe)."""
import collections, re, sys

WAIT = 0.0005
threads = {}
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) == 5:
        threads[int(f[0])] = {"ticks": int(f[1]), "nice": int(f[2]), "policy": int(f[3]), "slice": int(f[4])}
tree = {int(p) for p in open(sys.argv[2]).read().split()}
loops = {t for t, v in threads.items() if v["slice"] <= 100000}
niced = [t for t, v in threads.items() if v["nice"] != 0 or v["policy"] != 0]
bulk = max(niced, key=lambda t: threads[t]["ticks"]) if niced else None

row = re.compile(r"^\s*([\d.]+)\s+\[(\d+)\]\s+(.*?)\[(\d+)(?:/(\d+))?\]\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*(.*)$")
woke = re.compile(r"^\s*([\d.]+)\s+\[(\d+)\]\s+(.*?)\[(\d+)(?:/(\d+))?\]\s+awakened: .*?\[(\d+)")


def kind(tid, pid, comm):
    if tid == bulk:
        return "SCV bulk worker"
    if tid in loops:
        return "SCV loop"
    if tid in threads:
        return "SCV other"
    if pid in tree:
        return "bench load/probe"
    return comm.split("/")[0].split(":")[0]


runs = collections.defaultdict(list)  # cpu -> (start, end, holder kind, tid, call chain)
waits = []  # (cpu, from, to, waker tid, waker cpu)
last_wake = {}
switch_ins = 0
for line in sys.stdin:
    m = woke.match(line)
    if m:
        if int(m[6]) in loops:
            waker_pid = int(m[5]) if m[5] else int(m[4])
            last_wake[int(m[6])] = (kind(int(m[4]), waker_pid, m[3].strip()), int(m[2]))
        continue
    m = row.match(line)
    if not m:
        continue
    end, cpu, comm, tid = float(m[1]), int(m[2]), m[3].strip(), int(m[4])
    pid = int(m[5]) if m[5] else tid
    delay, run = float(m[7]) / 1000, float(m[8]) / 1000
    runs[cpu].append((end - run, end, kind(tid, pid, comm), tid, m[9]))
    if tid in loops:
        switch_ins += 1
        if delay > WAIT:
            waker = last_wake.get(tid, (None, None))
            waits.append((cpu, end - run - delay, end - run) + waker)

holders = collections.Counter()
held_ms = collections.Counter()
behind_bulk = collections.Counter()
for cpu, a, b, waker, waker_cpu in waits:
    share = collections.Counter()
    chain = ""
    for start, end, who, tid, calls in runs[cpu]:
        overlap = min(end, b) - max(start, a)
        if overlap > 0:
            share[who] += overlap
            if tid == bulk:
                chain = calls
    for who, s in share.items():
        held_ms[who] += s * 1000
    if not share:
        continue
    top = share.most_common(1)[0][0]
    holders[top] += 1
    if top == "SCV bulk worker":
        by = waker or "?"
        where = "same CPU" if waker_cpu == cpu else "other CPU"
        gave_up = ("timer tick" if "apic_timer" in chain else
                   "inside write" if "generic_perform_write" in chain else
                   (chain.split(" <- ")[0] or "?"))
        behind_bulk["woken by %s on the %s, worker gave up at %s" % (by, where, gave_up)] += 1

total = sum(b - a for _, a, b, _, _ in waits) * 1000
print("loop wake-ups: %d; waited > 0.5 ms: %d (%.1f ms in all)" % (switch_ins, len(waits), total))
print("held the CPU most of the wait: " + ", ".join("%s %d" % kv for kv in holders.most_common(8)))
print("CPU time during the waits (ms): " + ", ".join("%s %.1f" % kv for kv in held_ms.most_common(8)))
print("waits behind the bulk worker: %d" % holders["SCV bulk worker"])
for what, n in behind_bulk.most_common():
    print("  %d %s" % (n, what))
