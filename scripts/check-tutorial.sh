#!/usr/bin/env bash
# check-tutorial.sh SIEGETANK_BINARY [REPO]
#
# Runs docs/tutorial.md as a reader would, shortened: its check=run blocks
# in order in one bash, its check=background block (`./siegetank up`) in
# the background until it says it is ready, its check=python blocks in
# /usr/bin/python3; check=output blocks are example output. The scratch
# folder stands in for the repository: `./siegetank` and `build/siegetank`
# are SIEGETANK_BINARY, `tools/` and `share/` the repository's. The run is
# made short by the substitutions below (each must still match the page),
# and free ports replace 8980 and 8960. Then it checks the results: the
# PNG is a real plot with enough points, and MDTraj loads every synced
# stream with 22 atoms, finite coordinates and frames evenly spaced in time.
# Prints one line per check; exits 1 if any failed.
set -uo pipefail

# shellcheck source=doc-blocks.sh source-path=SCRIPTDIR
. "$(dirname "$0")/doc-blocks.sh"
doc_check_args "$@"
doc="$repo/docs/tutorial.md"
python=/usr/bin/python3
tmp=$(mktemp -d "${TMPDIR:-/tmp}/st-tutorial.XXXXXX")
work="$tmp/work"
up_pid=

# `siegetank up` stops its CC and SCV on SIGINT, as on Ctrl-C.
stop_up() {
    [ -n "$up_pid" ] || return 0
    kill -INT "$up_pid" 2>/dev/null
    for _ in $(seq 100); do
        kill -0 "$up_pid" 2>/dev/null || break
        sleep 0.2
    done
    kill -KILL "$up_pid" 2>/dev/null
    wait "$up_pid" 2>/dev/null
    up_pid=
}
trap 'stop_up; rm -rf "$tmp"' EXIT

# Two loopback ports nothing listens on now.
free_ports() {
    "$python" -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))'
}

# FROM|TO pairs applied to the page's commands; the short run of the test.
read -r cc_port scv_port < <(free_ports)
substitutions=(
    "8980|$cc_port"
    "8960|$scv_port"
    "--streams 4|--streams 2"
    "--cores 4|--cores 2"
    "--duration 60|--duration 8"
    "sleep 5|sleep 2"
)

setup_scratch() {
    mkdir -p "$work/build" "$tmp/config"
    ln -s "$bin" "$work/siegetank"
    ln -s "$bin" "$work/build/siegetank"
    ln -s "$repo/tools" "$work/tools"
    ln -s "$repo/share" "$work/share"
}

# Writes the page's runnable blocks, shortened, as one script: $tmp/tutorial.sh.
build_script() {
    local id line info kind file
    : >"$tmp/tutorial.sh"
    while read -r id line info; do
        kind=$(doc_block_kind "$info")
        file="$tmp/blocks/$id"
        case "$kind" in
        run) cat "$file" >>"$tmp/tutorial.sh" ;;
        background)
            # One simple command, so that $! is its own pid.
            if [ "$(grep -c . "$file")" -ne 1 ]; then
                fail "docs/tutorial.md:$line: a check=background block is one command"
                continue
            fi
            # shellcheck disable=SC2016 # expanded by the tutorial's shell
            printf '%s >"$ST_UP_LOG" 2>&1 &\necho $! >"$ST_UP_PID"\nst_wait_up\n' "$(cat "$file")" \
                >>"$tmp/tutorial.sh"
            ;;
        python) printf '%s - <<'"'"'ST_PYTHON_EOF'"'"'\n%s\nST_PYTHON_EOF\n' "$python" "$(cat "$file")" \
            >>"$tmp/tutorial.sh" ;;
        output) ;;
        *) fail "docs/tutorial.md:$line ($info): a fenced block needs check=run, background, python or output" ;;
        esac
    done <"$tmp/blocks/index"
    local pair from to
    for pair in "${substitutions[@]}"; do
        from=${pair%%|*} to=${pair#*|}
        if grep -qF -- "$from" "$tmp/tutorial.sh"; then
            sed -i "s/$from/$to/g" "$tmp/tutorial.sh"
        else
            fail "docs/tutorial.md no longer says '$from': update the substitutions in $0"
        fi
    done
}

# What the script's `up` block waits for: the line `up` prints once ready.
st_wait_up() {
    for _ in $(seq 600); do
        grep -q 'Running; press Ctrl-C to stop.' "$ST_UP_LOG" && return 0
        kill -0 "$(cat "$ST_UP_PID")" 2>/dev/null || break
        sleep 0.1
    done
    echo "siegetank up did not become ready:" >&2
    cat "$ST_UP_LOG" >&2
    return 1
}

run_tutorial() {
    export -f st_wait_up
    if (cd "$work" && XDG_CONFIG_HOME="$tmp/config" ST_UP_LOG="$tmp/up.log" ST_UP_PID="$tmp/up.pid" \
        bash -euo pipefail "$tmp/tutorial.sh") >"$tmp/out" 2>&1; then
        pass "docs/tutorial.md: every command ran ($(grep -c . "$tmp/tutorial.sh") lines)"
    else
        fail "docs/tutorial.md: a command failed"
        sed 's/^/     /' "$tmp/out"
        echo "     --- siegetank up's output:"
        sed 's/^/     /' "$tmp/up.log" 2>/dev/null
    fi
    up_pid=$(cat "$tmp/up.pid" 2>/dev/null)
}

check_plot() {
    local points
    points=$(sed -n 's/^\([0-9]*\) points plotted into ramachandran.png$/\1/p' "$tmp/out")
    if [ -n "$points" ] && [ "$points" -ge 20 ]; then
        pass "ramachandran.py plotted $points points"
    else
        fail "ramachandran.py plotted '${points:-no}' points (want >= 20)"
    fi
    if "$python" - "$work/ramachandran.png" >"$tmp/png" 2>&1 <<'EOF'; then
import sys
import matplotlib.image
import numpy as np

path = sys.argv[1]
with open(path, "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
img = matplotlib.image.imread(path)
assert img.shape[0] >= 300 and img.shape[1] >= 300, "too small: %s" % (img.shape,)
rgb = img[:, :, :3]
# The points are the only coloured pixels: axes and text are grey.
coloured = np.mean((rgb.max(axis=2) - rgb.min(axis=2)) > 0.2)
assert coloured > 0.001, "almost no coloured pixels (%.5f)" % coloured
print("%dx%d, %.2f%% coloured pixels" % (img.shape[1], img.shape[0], 100 * coloured))
EOF
        pass "ramachandran.png is a PNG plot: $(cat "$tmp/png")"
    else
        fail "ramachandran.png: $(cat "$tmp/png")"
    fi
}

# Every synced stream, loaded by MDTraj on its own: the right atoms, all
# partitions, finite coordinates, one frame per picosecond without gaps.
check_trajectories() {
    if (cd "$work" && "$python" - >"$tmp/traj" 2>&1 <<'EOF'); then
import glob
import os

import mdtraj
import numpy as np

streams = sorted(glob.glob("data/*"))
assert len(streams) == 2, "want 2 synced streams, found %d" % len(streams)
total = 0
for stream in streams:
    parts = sorted((int(p) for p in os.listdir(stream) if p.isdigit()))
    assert parts, "%s has no partitions" % stream
    traj = mdtraj.load([os.path.join(stream, str(p), "frames.xtc") for p in parts], top="ala2/topology.pdb")
    assert traj.n_atoms == 22, "%s: %d atoms" % (stream, traj.n_atoms)
    assert traj.n_frames == parts[-1], "%s: %d frames, last partition %d" % (stream, traj.n_frames, parts[-1])
    assert np.all(np.isfinite(traj.xyz)), "%s: non-finite coordinates" % stream
    # steps_per_frame=500 of 2 fs: a frame per picosecond, from t = 1 ps.
    assert np.allclose(traj.time, np.arange(1, traj.n_frames + 1), atol=1e-3), \
        "%s: times %s" % (stream, traj.time[:5])
    total += traj.n_frames
assert total >= 20, "only %d frames in all" % total
print("%d streams, %d frames of 22 atoms" % (len(streams), total))
EOF
        pass "MDTraj: $(cat "$tmp/traj")"
    else
        fail "MDTraj: $(cat "$tmp/traj")"
    fi
}

[ -f "$doc" ] || {
    echo "no $doc" >&2
    exit 1
}
[ -x "$python" ] || {
    echo "no $python (scripts/deps.sh installs Debian's Python with OpenMM and MDTraj)" >&2
    exit 1
}
setup_scratch
doc_split_blocks "$doc" "$tmp/blocks" || fail "docs/tutorial.md: a fenced block is not closed"
build_script
if [ "$failures" -eq 0 ]; then
    run_tutorial
    stop_up
    check_plot
    check_trajectories
fi
doc_names_exist "$doc" "$repo"

doc_summary tutorial
