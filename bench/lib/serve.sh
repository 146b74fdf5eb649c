# Sourced by the benchmarks that need one server for the whole script:
# serve BIN [FLAGS...] starts it on a free loopback port (tests/lib/start_server.sh),
# sets $port and $pid, and stops it and removes its log when the script exits;
# when it does not start, prints its log and exits 1.
. tests/lib/start_server.sh
serve() {
    serve_log=$(mktemp)
    pid=
    trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -f "$serve_log"' EXIT
    start_server "$1" "$serve_log" "${@:2}" ||
        { echo "the server did not start:" >&2; cat "$serve_log" >&2; exit 1; }
}
