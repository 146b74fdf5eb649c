#!/usr/bin/env bash
# Runs every curl example of README.md's "HTTP API" section against the real
# server, so the README stays true. An example expects 2xx, or the status its
# "# -> NNN" comment names, with a body (but for 204). One PASS/FAIL line
# per example, then "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
bin=${GRADSERVE_BIN:-${BUILD:-build}/gradserve}
tmp=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT

. tests/lib/start_server.sh
pid=
start_server "$bin" "$tmp/server.log"
if [ -z "$pid" ]; then
    echo "FAIL start $bin"; cat "$tmp/server.log"; echo "0 passed, 1 failed"; exit 1
fi

# The sh blocks of the section, and for each curl command its expected status.
awk '/^## HTTP API/{on=1; next} /^## /{on=0} on' README.md |
    awk '/^```sh$/{inb=1; n++; next} /^```/{inb=0; next} inb{print > ("'"$tmp"'/block" n ".sh")}'

# The examples call curl: this one sends them to our port and records the status.
curl() {
    local args=() a
    for a in "$@"; do args+=("${a//localhost:8080/127.0.0.1:$port}"); done
    command curl -s -o "$tmp/body.$count" -w '%{http_code}\n' "${args[@]}" >>"$tmp/codes"
    count=$((count + 1))
}

passed=0; failed=0
for block in "$tmp"/block*.sh; do
    [ -e "$block" ] || continue
    : >"$tmp/codes"
    count=0
    # expected codes, one per command starting with "curl" in the block
    expect=$(awk '/^curl /{n++; code[n]="2xx"} /# -> [0-9]+/{match($0, /# -> [0-9]+/);
                  code[n]=substr($0, RSTART + 5, RLENGTH - 5)} END{for (i = 1; i <= n; i++) print code[i]}' "$block")
    # shellcheck disable=SC1090
    . "$block"
    i=0
    while read -r want; do
        got=$(sed -n "$((i + 1))p" "$tmp/codes")
        first=$(grep '^curl ' "$block" | sed -n "$((i + 1))p" | cut -c1-70)
        name="$(basename "$block" .sh): ${first}"
        ok=1
        case $want in
            2xx) [[ $got == 2?? ]] || ok=0 ;;
            *) [ "$got" = "$want" ] || ok=0 ;;
        esac
        body="$tmp/body.$i"
        [ -s "$body" ] || [ "$got" = 204 ] || ok=0
        if [ "$ok" = 1 ]; then
            echo "PASS $name"; passed=$((passed + 1))
        else
            echo "FAIL $name: status $got, want $want"; head -c 400 "$body"; echo
            failed=$((failed + 1))
        fi
        i=$((i + 1))
    done <<<"$expect"
done
[ $((passed + failed)) -gt 0 ] || { echo "FAIL no examples found"; failed=1; }
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
