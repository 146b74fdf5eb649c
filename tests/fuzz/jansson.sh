#!/usr/bin/env bash
# Builds jansson from Debian's source package with the fuzz build's
# instrumentation (libFuzzer coverage, ASan, UBSan), so that the fuzzers see
# into the JSON parser and ASan checks its memory: Debian's libjansson.so is
# not instrumented.
#
#   tests/fuzz/jansson.sh OUTDIR CC CFLAGS...
#
# Leaves OUTDIR/include/{jansson.h,jansson_config.h} and OUTDIR/libjansson.a.
# The source comes from `apt-get source jansson=<installed version>`. The
# machine's apt sources have no deb-src entry, so a private one for the same
# mirror and suite is used with apt state kept under OUTDIR/apt (the
# system's package lists are not touched). The .dsc is verified by apt against
# the signed Release file, as any `apt-get source`. Offline, a source tree
# already unpacked in OUTDIR is reused.
set -euo pipefail
out=$1; cc=$2; shift 2
cflags="$*"
mkdir -p "$out"
out=$(cd "$out" && pwd)
ver=$(dpkg-query -W -f='${Version}' libjansson-dev 2>/dev/null || true)
[ -n "$ver" ] || { echo "jansson.sh: libjansson-dev is not installed" >&2; exit 1; }
stamp="$out/.built-$ver-$(printf '%s' "$cc $cflags" | md5sum | cut -c1-12)"
[ -f "$stamp" ] && [ -f "$out/libjansson.a" ] && exit 0

src=$(ls -d "$out"/src/jansson-*/ 2>/dev/null | head -n 1 || true)
if [ -z "$src" ]; then
    command -v dpkg-source >/dev/null || {
        echo "jansson.sh: installing dpkg-dev (for dpkg-source)"
        SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
        $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends dpkg-dev
    }
    apt="$out/apt"
    mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$out/src"
    # Same mirror and suite as the configured binary sources (deb822 or one-line).
    uri=$(grep -hE '^(URIs:|deb )' /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list \
              2>/dev/null | grep -v security | head -n 1 | awk '{print $2}' || true)
    suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
    echo "deb-src ${uri:-http://deb.debian.org/debian} ${suite:-bookworm} main" > "$apt/sources.list"
    opts=(-o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache"
          -o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=/nonexistent"
          -o "APT::Sandbox::User=root")
    echo "jansson.sh: apt-get source jansson=$ver (deb-src: $(cat "$apt/sources.list"))"
    apt-get "${opts[@]}" -qq update
    (cd "$out/src" && apt-get "${opts[@]}" -qq source "jansson=$ver")
    src=$(ls -d "$out"/src/jansson-*/ | head -n 1)
fi

# jansson_config.h as its configure would write it for Linux/glibc.
mkdir -p "$out/include" "$out/obj"
sed -e 's/@json_inline@/inline/' -e 's/@json_have_long_long@/1/' \
    -e 's/@json_have_localeconv@/1/' -e 's/@json_have_atomic_builtins@/1/' \
    -e 's/@json_have_sync_builtins@/1/' "$src/src/jansson_config.h.in" > "$out/include/jansson_config.h"
cp "$src/src/jansson.h" "$out/include/"
# jansson_private_config.h as its CMake build would write it for Linux/glibc.
mkdir -p "$out/private"
{
    for h in ENDIAN_H FCNTL_H SCHED_H UNISTD_H SYS_PARAM_H SYS_STAT_H SYS_TIME_H SYS_TYPES_H \
             STDINT_H CLOSE GETPID GETTIMEOFDAY OPEN READ SCHED_YIELD SYNC_BUILTINS \
             ATOMIC_BUILTINS LOCALE_H SETLOCALE INT32_T UINT32_T UINT16_T UINT8_T SSIZE_T; do
        echo "#define HAVE_$h 1"
    done
    echo "#define USE_URANDOM 1"
    echo "#define INITIAL_HASHTABLE_ORDER 3"
} > "$out/private/jansson_private_config.h"
defs="-DHAVE_CONFIG_H -I$out/private"
rm -f "$out"/obj/*.o
for f in "$src"/src/*.c; do
    # shellcheck disable=SC2086
    $cc $cflags $defs -w -I"$out/include" -I"$src/src" -c -o "$out/obj/$(basename "${f%.c}").o" "$f"
done
rm -f "$out/libjansson.a"
ar rcs "$out/libjansson.a" "$out"/obj/*.o
rm -f "$out"/.built-*
touch "$stamp"
echo "jansson.sh: built $out/libjansson.a (jansson $ver, $cc $cflags)"
