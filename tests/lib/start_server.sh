# Sourced by the shell tests: start_server BIN LOG [FLAGS...] starts the real
# server on a free loopback port, trying random ones until /health/live
# answers; sets $port and $pid, or returns 1 (the server's stderr is in LOG).
start_server() {
    local bin=$1 log=$2 _i _j
    shift 2
    pid=
    for _i in 1 2 3 4 5 6 7 8; do
        port=$((20000 + RANDOM % 30000))
        "$bin" --listen "127.0.0.1:$port" "$@" 2>"$log" &
        pid=$!
        for _j in $(seq 50); do
            command curl -sf "http://127.0.0.1:$port/health/live" >/dev/null 2>&1 && return 0
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=
    done
    return 1
}
