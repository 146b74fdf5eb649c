#!/usr/bin/env bash
# bench/store.sh: the tensor store (docs/tensor-store.md), run by bench/run.sh
# (make bench, section "store"); prints a markdown section on stdout, progress
# on stderr. One server, one run of $BUILD/bench/bench_store against it:
#   - sha256 of a 31.4 MB tensor against memcpy of it, in-process;
#   - PUT of it over loopback (MB/s), and the share of the PUT that hashing is;
#   - GET /health/live latency idle and while such PUTs arrive back to back
#     (the body is hashed a chunk at a time as it arrives, so the event loop
#     answers between chunks);
#   - bytes on the wire of a /train of 784-256-128-10 with Adam, 10,000 rows,
#     all tensors refs, "encoding": "ref" (issue 17's target: <= 4 KB each way).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
GS=$BUILD/gradserve
BS=$BUILD/bench/bench_store
for b in "$GS" "$BS"; do
    [ -x "$b" ] || { echo "bench/store.sh: missing $b (make build-bench)" >&2; exit 1; }
done
TMP=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"' EXIT
. tests/lib/start_server.sh
start_server "$GS" "$TMP/server.log" --tensor-store-bytes 512m --max-memory 2g \
    || { echo "bench/store.sh: the server did not start" >&2; cat "$TMP/server.log" >&2; exit 1; }
echo "bench/store.sh: bench_store against port $port" >&2
"$BS" --port "$port" >"$TMP/out.tsv"
v() { awk -F'\t' -v w="$1" -v n="$2" '$1 == w && $2 == n { print $3 }' "$TMP/out.tsv"; }

cat <<MD
## Tensor store (issue 17)

One run, one server (\`--tensor-store-bytes 512m\`); a 31.4 MB tensor is 10,000
Fashion-MNIST images as float32.

| measure | value |
|---|---:|
| sha256 in-process (OpenSSL EVP) | $(v hash sha256_MBps) MB/s |
| memcpy in-process | $(v hash memcpy_MBps) MB/s |
| sha256 / memcpy time | $(v hash sha256_over_memcpy)x |
| PUT of 31.4 MB over loopback, end to end | $(v put put_31MB_MBps) MB/s |
| share of the PUT's time that hashing takes | $(v put hash_share_of_put) |
| GET /health/live p50 / max, idle | $(v loop idle_p50_us) / $(v loop idle_max_us) µs |
| GET /health/live p50 / max, while 31.4 MB PUTs arrive | $(v loop puts_p50_us) / $(v loop puts_max_us) µs |
| /train 784-256-128-10 Adam, 10,000 rows, all refs, \`"encoding": "ref"\`: request | $(v wire request_bytes) bytes |
| the same: answer | $(v wire answer_bytes) bytes (status $(v wire train_status), $(v wire train_seconds) s) |

Target (issue 17): at most 4 KB on the wire in each direction for the all-refs /train.
MD
