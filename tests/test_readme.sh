#!/usr/bin/env bash
# Runs every example of README.md and docs/*.md, so the documentation stays
# true:
# - each ```sh block whose first line is a `curl ... localhost:8080` command,
#   against the real server; a curl command expects 2xx, or the status its
#   "# -> NNN" comment names, with a body (but for 204); when the block holds
#   one command and a ```json block follows it, that is the answer shown, and
#   unless it elides ("...") or shows a request id, the real answer must equal
#   it as JSON (same keys, same numbers);
# - each ```c block holding a main(): compiled against the core library
#   ($BUILD/libgradserve.a, linked with $EXAMPLE_LDFLAGS: the sanitizers'
#   runtime when the library was built with them) and run; it must exit 0;
# - each ```js block: run by Node (an ES module) against the same server; it
#   must exit 0. An import of `.../gradserve.js` is of clients/js/gradserve.js.
#   Node is Debian's nodejs, installed when missing.
# Other blocks (set-up commands, Docker, configuration files) are not run.
# One PASS/FAIL line per example, then "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
build=${BUILD:-build}
bin=${GRADSERVE_BIN:-$build/gradserve}
tmp=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT

. tests/lib/start_server.sh
pid=
start_server "$bin" "$tmp/server.log"
if [ -z "$pid" ]; then
    echo "FAIL start $bin"; cat "$tmp/server.log"; echo "0 passed, 1 failed"; exit 1
fi

# Every fenced block of every page, one file each: $tmp/<page>.<n>.<lang>
for page in README.md docs/*.md; do
    awk -v out="$tmp/$(basename "$page" .md)" '
        /^```[a-z]*$/ && !inb { inb = 1; n++; lang = substr($0, 4); next }
        /^```/ && inb { inb = 0; next }
        inb && lang != "" { print > (out "." n "." lang) }' "$page"
done

# Node runs the JavaScript examples and compares JSON answers.
if ! command -v node >/dev/null; then
    SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
    { $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends nodejs; } >"$tmp/apt.log" 2>&1
fi
# same_json SHOWN GOT: the two files hold equal JSON documents (exit 0), or
# prints the first difference.
same_json() {
    node -e '
        const fs = require("fs");
        const [a, b] = process.argv.slice(1).map((f) => JSON.parse(fs.readFileSync(f, "utf8")));
        const diff = (x, y, p) => {
            if (typeof x !== typeof y || Array.isArray(x) !== Array.isArray(y) || (x === null) !== (y === null))
                return `${p || "/"}: ${JSON.stringify(x)} shown, ${JSON.stringify(y)} answered`;
            if (x && typeof x === "object") {
                const kx = Object.keys(x), ky = Object.keys(y);
                if (kx.join() !== ky.join()) return `${p || "/"}: keys ${kx} shown, ${ky} answered`;
                for (const k of kx) { const d = diff(x[k], y[k], `${p}/${k}`); if (d) return d; }
                return "";
            }
            return x === y ? "" : `${p}: ${x} shown, ${y} answered`;
        };
        const d = diff(a, b, "");
        if (d) { console.log("  " + d); process.exit(1); }' "$1" "$2"
}

# The examples call curl: this one sends them to our port and records the status.
curl() {
    local args=() a
    for a in "$@"; do args+=("${a//localhost:8080/127.0.0.1:$port}"); done
    command curl -s -o "$tmp/body.$count" -w '%{http_code}\n' "${args[@]}" >>"$tmp/codes"
    count=$((count + 1))
}

passed=0; failed=0
pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }

for block in "$tmp"/*.sh; do
    [ -e "$block" ] || continue
    head -n 1 "$block" | grep -q '^curl .*localhost:8080' || continue
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
        ok=1 why="status $got, want $want"
        case $want in
            2xx) [[ $got == 2?? ]] || ok=0 ;;
            *) [ "$got" = "$want" ] || ok=0 ;;
        esac
        body="$tmp/body.$i"
        [ -s "$body" ] || [ "$got" = 204 ] || ok=0
        n=${block%.sh}; n=${n##*.}
        shown="${block%.*.sh}.$((n + 1)).json"
        if [ "$ok" = 1 ] && [ "$count" = 1 ] && [ -e "$shown" ] &&
           ! grep -q -e '\.\.\.' -e request_id "$shown"; then
            name="$name (answer as shown)"
            why=$(same_json "$shown" "$body") || ok=0
        fi
        if [ "$ok" = 1 ]; then
            pass "$name"
        else
            fail "$name: $why"; head -c 400 "$body"; echo
        fi
        i=$((i + 1))
    done <<<"$expect"
done

# run_example NAME COMMAND...: passes when it exits 0 (its first line shown).
run_example() {
    local name=$1 out="$tmp/example.out" rc
    shift
    "$@" >"$out" 2>&1
    rc=$?
    if [ "$rc" = 0 ]; then
        pass "$name: $(head -n 1 "$out")"
    else
        fail "$name: exits $rc"; head -n 20 "$out"
    fi
}

# C examples: a whole program each, built against the library as a user would.
blas_libs=$(pkg-config --libs openblas 2>/dev/null || echo -lopenblas)
for block in "$tmp"/*.c; do
    [ -e "$block" ] || continue
    grep -q 'int main(' "$block" || continue
    name="$(basename "$block" .c): C example"
    # shellcheck disable=SC2086
    if ! cc -std=c11 -Wall -Wextra -Werror -Iinclude -o "$block.bin" "$block" \
            "$build/libgradserve.a" $blas_libs -lm ${EXAMPLE_LDFLAGS:-} 2>"$block.log"; then
        fail "$name: does not compile"; head -n 20 "$block.log"
    else
        run_example "$name" "$block.bin"
    fi
done

# JavaScript examples: ES modules, as a page or Node 18+ runs them.
for block in "$tmp"/*.js; do
    [ -e "$block" ] || continue
    name="$(basename "$block" .js): JavaScript example"
    # the JavaScript client is imported from the repository, wherever the block runs
    sed -e "s/localhost:8080/127.0.0.1:$port/g" \
        -e "s#from '[^']*/gradserve\.js'#from '$PWD/clients/js/gradserve.js'#" "$block" >"$block.mjs"
    run_example "$name" node "$block.mjs"
done

[ $((passed + failed)) -gt 0 ] || { echo "FAIL no examples found"; failed=1; }
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
