#!/usr/bin/env bash
# Issue #6: how long a change made through one CC takes to reach another
# CC's assignment path (target: within 2 s, with no query per assignment).
# Two CCs share one database holding TARGETS targets: with MODE sqlite, one
# SQLite file filled by st-bench-fill; with MODE pg, a private PostgreSQL
# (see pg_start in lib.sh: fsync off) filled by one INSERT ... SELECT
# generate_series, the CCs keeping separate data folders configured alike
# (same cc_pass and database) as docs/deployment.md says. Each round creates a public target
# through CC A, gives it a shard through A, and times from A's reply until
# B's POST /core/assign for that target stops answering "unknown target" and
# says what it says of a sharded target (its SCV is not running here). A's
# own write-to-reply times are printed too: each includes A's refresh.
#   bench/visibility.sh [TARGETS] [ROUNDS] [sqlite|pg]
source "$(dirname "$0")/lib.sh"
targets=${1:-100000}
rounds=${2:-5}
mode=${3:-sqlite}

# fill_pg: TARGETS public targets of admin@bench for openmm, each sharded on
# scv1, as st-bench-fill makes them. The stamping triggers are skipped (one
# meta update per row would make the fill quadratic); the rows get the
# distinct stamps they would have had and the counter moves past them.
# ANALYZE gives the planner the statistics autovacuum keeps on a live
# database (without them the delta reads are sequential scans: ~0.1 s each).
fill_pg() {
  pg_sql "SET session_replication_role = replica; SET statement_timeout = '300s';
    INSERT INTO targets(id, owner, stage, engines, options, weight, creation_date, changed)
      SELECT gen_random_uuid()::text, u.name, 'public', '[\"openmm\"]', '{}', 1, extract(epoch FROM now()),
             m.generation + i
      FROM meta m, (SELECT name FROM users WHERE email = 'admin@bench') u, generate_series(1, $targets) i;
    INSERT INTO shards(target_id, scv) SELECT id, 'scv1' FROM targets WHERE changed > (SELECT generation FROM meta);
    UPDATE meta SET generation = generation + $targets;
    ANALYZE;"
  local n; n=$("$pg_bindir/psql" -X -At -d "$pg_url" -c "SELECT count(*) FROM shards")
  [ "$n" = "$targets" ] || { echo "fill_pg: expected $targets shards, found $n" >&2; return 1; }
}

case $mode in
sqlite)
  cc_setup
  echo "filling $targets targets..." >&2
  "$fill" cc "$cc_dir/cc_data" admin@bench openmm scv1 "$targets" >/dev/null
  b_data=$cc_dir/cc_data
  ;;
pg)
  trap pg_cleanup EXIT
  pg_start
  cc_setup "database = '$pg_url'"
  echo "filling $targets targets..." >&2
  fill_pg
  ;;
*) echo "usage: bench/visibility.sh [TARGETS] [ROUNDS] [sqlite|pg]" >&2; exit 2 ;;
esac
cc_start
a_url=$cc_url
key=$(engine_key openmm)

b_dir=$tmp/cc_b; mkdir -p "$b_dir"
b_port=$(free_port)
b_url=http://127.0.0.1:$b_port
b_conf=
if [ "$mode" = pg ]; then
  b_data=$b_dir/cc_data; mkdir -p "$b_data"
  b_conf="database = '$pg_url'"
fi
printf 'name = cc_b\ninternal_http_port = %s\ncc_pass = %s\naccess_log = off\nthreads = %s\ndata_folder = %s\n%s\n' \
  "$b_port" "$cc_pass" "${CC_THREADS:-$ncpu}" "$b_data" "$b_conf" > "$b_dir/cc.conf"
"$bin" cc -c "$b_dir/cc.conf" 2>>"$b_dir/log" &
b_pid=$!; pids+=($b_pid)
wait_up "$b_url/" 60

python3 - "$a_url" "$b_url" "$admin" "$cc_pass" "$key" "$rounds" <<'PY'
import http.client, json, sys, time, urllib.parse
a_url, b_url, admin, cc_pass, key, rounds = sys.argv[1:7]
def conn(url):
    u = urllib.parse.urlparse(url)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=30)
a, b = conn(a_url), conn(b_url)
def call(c, method, path, auth, body):
    c.request(method, path, json.dumps(body) if body is not None else None, {"Authorization": auth})
    r = c.getresponse()
    return r.status, r.read().decode()
seen, writes = [], []
for _ in range(int(rounds)):
    t = time.monotonic()
    st, body = call(a, "POST", "/targets", admin, {"engines": ["openmm"], "stage": "public"})
    assert st == 200, body
    target = json.loads(body)["target_id"]
    st, body = call(a, "PUT", "/targets/shards/" + target, cc_pass, {"scv": "scv1", "op": "add"})
    assert st == 200, body
    done = time.monotonic()
    writes.append((done - t) / 2)
    while True:
        st, body = call(b, "POST", "/core/assign", key, {"target_id": target})
        if "unknown target" not in body and "has no shards" not in body:
            break
        if time.monotonic() - done > 30:
            sys.exit("CC B never saw target %s: %d %s" % (target, st, body))
        time.sleep(0.005)
    seen.append(time.monotonic() - done)
    time.sleep(0.7)  # spread the rounds over the poll phase
fmt = lambda v: ", ".join("%.3f" % x for x in v)
print("visible on CC B after (s): %s  max %.3f (target <= 2 s)" % (fmt(seen), max(seen)))
print("write through CC A, reply incl. its refresh (s): %s" % fmt(writes))
PY
echo "mode: $mode; targets: $targets; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
grep -h "cache reload" "$cc_dir/log" "$b_dir/log" | tail -4 || true
