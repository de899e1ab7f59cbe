#!/usr/bin/env bash
# check-deployment-docs.sh SIEGETANK_BINARY [REPO]
#
# Checks that docs/deployment.md and the deployment files it describes work:
# every fenced block of the page carries a check=KIND tag and passes that
# check (see the top of docs/deployment.md for the kinds); etc/haproxy.cfg
# passes `haproxy -c`; the systemd units pass `systemd-analyze verify` with
# no complaint (skipped when systemd-analyze is missing); the scripts parse
# (and pass shellcheck when it is installed); scripts/redirect-443.sh
# prints the expected rules and refuses bad ports; every repository path the
# page names exists. A check=figure block is a drawing and is not run.
# Prints one line per check; exits 1 if any failed.
set -uo pipefail

# shellcheck source=doc-blocks.sh source-path=SCRIPTDIR
. "$(dirname "$0")/doc-blocks.sh"
doc_check_args "$@"
doc="$repo/docs/deployment.md"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/st-docs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# A scratch folder like an operator's: the repo's etc/ and scripts/, the
# binary on PATH as `siegetank`, and a throw-away root, intermediate (the
# chain) and leaf certificate with its key.
setup_scratch() {
    mkdir -p "$tmp/bin" "$tmp/work" "$tmp/pki"
    ln -s "$bin" "$tmp/bin/siegetank"
    ln -s "$repo/etc" "$tmp/work/etc"
    ln -s "$repo/scripts" "$tmp/work/scripts"
    (
        cd "$tmp/pki" || exit 1
        openssl req -x509 -newkey rsa:2048 -nodes -keyout root.key -out root.pem -days 2 -subj /CN=root \
            -addext basicConstraints=critical,CA:true &&
            openssl req -newkey rsa:2048 -nodes -keyout ca.key -out ca.csr -subj /CN=intermediate &&
            printf 'basicConstraints=critical,CA:true\n' >ca.ext &&
            openssl x509 -req -in ca.csr -CA root.pem -CAkey root.key -CAcreateserial -days 2 -extfile ca.ext \
                -out chain.pem &&
            openssl req -newkey rsa:2048 -nodes -keyout key.pem -out leaf.csr -subj /CN=localhost &&
            printf 'subjectAltName=DNS:localhost\n' >leaf.ext &&
            openssl x509 -req -in leaf.csr -CA chain.pem -CAkey ca.key -CAcreateserial -days 2 -extfile leaf.ext \
                -out cert.pem &&
            cp cert.pem chain.pem key.pem "$tmp/work/" &&
            cat cert.pem chain.pem key.pem >"$tmp/lb.pem"
    ) >"$tmp/pki.log" 2>&1 || {
        echo "cannot make a test certificate:" >&2
        cat "$tmp/pki.log" >&2
        exit 1
    }
}

# Splits the page's fenced blocks into $tmp/blocks/NNN (see doc-blocks.sh).
split_blocks() {
    doc_split_blocks "$doc" "$tmp/blocks" || fail "docs/deployment.md: a fenced block is not closed"
}

haproxy_check() { # ENV_FILE_OR_EMPTY
    (
        set -a
        export ST_LB_BIND=127.0.0.1:8443 ST_CC1=127.0.0.1:8980 ST_CC2=127.0.0.1:8981
        # shellcheck source=/dev/null # the page's /etc/default/haproxy
        [ -n "$1" ] && . "$1"
        export ST_LB_PEM="$tmp/lb.pem"
        haproxy -c -f "$repo/etc/haproxy.cfg"
    ) >"$tmp/out" 2>&1
}

check_block() { # NNN LINE INFO
    local id=$1 line=$2 info=$3 file="$tmp/blocks/$1" kind
    kind=$(doc_block_kind "$info")
    local what="docs/deployment.md:$line ($info)"
    case "$kind" in
    run)
        if (cd "$tmp/work" && PATH="$tmp/bin:$PATH" bash -euo pipefail "$file") >"$tmp/out" 2>&1; then
            pass "$what"
        else
            fail "$what"
            sed 's/^/     /' "$tmp/out"
        fi
        ;;
    cc | scv)
        # The page's TLS paths are an operator's; the scratch PKI stands in.
        sed "s|/etc/siegetank/tls/|$tmp/work/|g" "$file" >"$tmp/$id.conf"
        if "$bin" "$kind" -c "$tmp/$id.conf" check >"$tmp/out" 2>&1; then
            pass "$what"
        else
            fail "$what: $(cat "$tmp/out")"
        fi
        ;;
    haproxy-env)
        if haproxy_check "$file"; then pass "$what"; else fail "$what: $(cat "$tmp/out")"; fi
        ;;
    syntax)
        if bash -n "$file" 2>"$tmp/out"; then pass "$what (syntax)"; else fail "$what: $(cat "$tmp/out")"; fi
        ;;
    figure) pass "$what (a drawing)" ;;
    postgres)
        if grep -q 'check=postgres' "$repo/tests/integration/test_deployment.c"; then
            pass "$what (run by test_deployment)"
        else
            fail "$what: no test runs check=postgres blocks"
        fi
        ;;
    *) fail "$what: a fenced block needs a check=KIND tag (run, cc, scv, haproxy-env, syntax, postgres, figure)" ;;
    esac
}

check_units() {
    if ! command -v systemd-analyze >/dev/null 2>&1; then
        echo "skip systemd-analyze is not installed: units not verified"
        return
    fi
    mkdir -p "$tmp/units"
    for unit in "$repo"/etc/systemd/*.service; do
        local name
        name=$(basename "$unit")
        # verify insists that ExecStart exists: point it at the built binary.
        sed "s|/usr/local/bin/siegetank|$bin|" "$unit" >"$tmp/units/$name"
        if SYSTEMD_LOG_LEVEL=warning systemd-analyze verify "$tmp/units/$name" >"$tmp/out" 2>&1 &&
            [ ! -s "$tmp/out" ]; then
            pass "etc/systemd/$name (systemd-analyze verify)"
        else
            fail "etc/systemd/$name: $(cat "$tmp/out")"
        fi
        grep -q '^LimitNOFILE=' "$unit" || fail "etc/systemd/$name: no LimitNOFILE"
    done
}

check_scripts() {
    for s in "$repo"/scripts/*.sh; do
        if bash -n "$s" 2>"$tmp/out"; then pass "scripts/$(basename "$s") (syntax)"; else fail "$s: $(cat "$tmp/out")"; fi
        if command -v shellcheck >/dev/null 2>&1; then
            if shellcheck -x "$s" >"$tmp/out" 2>&1; then
                pass "scripts/$(basename "$s") (shellcheck)"
            else
                fail "scripts/$(basename "$s"): $(cat "$tmp/out")"
            fi
        fi
    done
    local r="$repo/scripts/redirect-443.sh" out
    out=$("$r" --dry-run 8980)
    if grep -qx 'iptables -t nat -A PREROUTING -p tcp --dport 443 -j REDIRECT --to-ports 8980' <<<"$out" &&
        grep -qx 'iptables -t nat -A OUTPUT -o lo -p tcp --dport 443 -j REDIRECT --to-ports 8980' <<<"$out"; then
        pass "scripts/redirect-443.sh --dry-run 8980"
    else
        fail "scripts/redirect-443.sh --dry-run 8980 printed: $out"
    fi
    for bad in 443 0 65536 80x ""; do
        if "$r" --dry-run "$bad" >/dev/null 2>&1; then fail "scripts/redirect-443.sh accepted port '$bad'"; fi
    done
    if "$r" --dry-run >/dev/null 2>&1; then fail "scripts/redirect-443.sh ran without a port"; fi
}

[ -f "$doc" ] || { echo "no $doc" >&2; exit 1; }
command -v haproxy >/dev/null 2>&1 || PATH="$PATH:/usr/sbin:/sbin"
if ! command -v haproxy >/dev/null 2>&1; then
    echo "haproxy is not installed (scripts/deps.sh installs it)" >&2
    exit 1
fi
setup_scratch
split_blocks
while read -r id line info; do
    check_block "$id" "$line" "$info"
done <"$tmp/blocks/index"
if haproxy_check ""; then pass "etc/haproxy.cfg (haproxy -c)"; else fail "etc/haproxy.cfg: $(cat "$tmp/out")"; fi
check_units
check_scripts
doc_names_exist "$doc" "$repo"

doc_summary deployment
