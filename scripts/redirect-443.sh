#!/usr/bin/env bash
# redirect-443.sh [--dry-run | --undo] PORT
#
# Sends TCP port 443 to PORT (a daemon's internal_http_port) with iptables
# REDIRECT rules, so the daemon runs as an unprivileged user yet clients
# reach it on 443. Two rules per address family: PREROUTING for traffic from
# other hosts, OUTPUT on the loopback interface for clients on this host.
# Adding is idempotent (a rule already present is left alone); --undo
# removes the rules; --dry-run only prints the commands. IPv6 rules are
# added when ip6tables exists. Needs root (except --dry-run).
set -euo pipefail

usage() {
    echo "usage: $0 [--dry-run | --undo] PORT" >&2
    exit 2
}

mode=add
case "${1:-}" in
--dry-run) mode=dry-run; shift ;;
--undo) mode=undo; shift ;;
-h | --help) usage ;;
esac
[ $# -eq 1 ] || usage
port=$1
if ! [[ $port =~ ^[0-9]+$ ]] || [ "$port" -lt 1 ] || [ "$port" -gt 65535 ] || [ "$port" -eq 443 ]; then
    echo "$0: PORT must be a TCP port from 1 to 65535 other than 443, not '$port'" >&2
    exit 2
fi

rules=(
    "PREROUTING -p tcp --dport 443 -j REDIRECT --to-ports $port"
    "OUTPUT -o lo -p tcp --dport 443 -j REDIRECT --to-ports $port"
)

tools=(iptables)
if [ "$mode" = dry-run ] || command -v ip6tables >/dev/null 2>&1; then
    tools+=(ip6tables)
fi

if [ "$mode" != dry-run ] && [ "$(id -u)" -ne 0 ]; then
    echo "$0: changing the firewall needs root (try: sudo $0 $*)" >&2
    exit 1
fi

for tool in "${tools[@]}"; do
    for rule in "${rules[@]}"; do
        # shellcheck disable=SC2086 # each rule is a list of words
        case "$mode" in
        dry-run) echo "$tool -t nat -A $rule" ;;
        add)
            if ! "$tool" -t nat -C $rule 2>/dev/null; then
                "$tool" -t nat -A $rule
            fi
            ;;
        undo)
            while "$tool" -t nat -C $rule 2>/dev/null; do
                "$tool" -t nat -D $rule
            done
            ;;
        esac
    done
done
