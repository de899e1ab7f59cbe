# shellcheck shell=bash
# doc-blocks.sh: sourced by the scripts that check a doc's commands
# (check-deployment-docs.sh, check-tutorial.sh): their arguments, the
# fenced blocks of the doc, and the one-line-per-check report.

failures=0

pass() { echo "ok   $*"; }
fail() {
    echo "FAIL $*"
    failures=$((failures + 1))
}

# doc_check_args "$@": SIEGETANK_BINARY [REPO] sets $bin and $repo (both
# absolute; REPO defaults to the script's parent folder), or exits 2.
# shellcheck disable=SC2034 # bin and repo are for the sourcing script
doc_check_args() {
    if [ $# -lt 1 ] || [ ! -x "$1" ]; then
        echo "usage: $0 SIEGETANK_BINARY [REPO]" >&2
        exit 2
    fi
    bin=$(realpath "$1")
    repo=$(realpath "${2:-$(dirname "$0")/..}")
}

# doc_split_blocks DOC DIR writes each fenced block of DOC to DIR/NNN and
# lists them in DIR/index, one line per block: "NNN LINE INFO" (the line of
# its opening fence and the text after the backticks, e.g. "sh check=run").
# Returns 1 when a fence is left open.
doc_split_blocks() {
    mkdir -p "$2"
    awk -v dir="$2" '
        /^```/ {
            if (!open) { open = 1; n++; file = sprintf("%s/%03d", dir, n); info = substr($0, 4)
                         printf "%03d %d %s\n", n, NR, info > (dir "/index"); printf "" > file; next }
            open = 0; close(file); next
        }
        open { print >> file }
        END { if (open) { print "unclosed fence" > "/dev/stderr"; exit 1 } }
    ' "$1"
}

# doc_block_kind INFO prints the KIND of INFO's check=KIND tag (empty if none).
doc_block_kind() {
    sed -n 's/.*check=\([a-z-]*\).*/\1/p' <<<"$1"
}

# doc_names_exist DOC REPO: every etc/, scripts/, tests/, docs/, tools/ or
# share/ path that DOC names exists in REPO.
doc_names_exist() {
    local p
    while read -r p; do
        [ -e "$2/$p" ] || fail "$(basename "$1") names $p, which does not exist"
    done < <(grep -oP '(?<![/\w.])(etc|scripts|tests|docs|tools|share)/[\w./-]*\w' "$1" | sort -u)
}

# doc_summary WHAT: the last line, and exit 1 if any check failed.
doc_summary() {
    if [ "$failures" -gt 0 ]; then
        echo "$failures check(s) failed"
        exit 1
    fi
    echo "all $1 checks passed"
}
