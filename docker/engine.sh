# The Docker engine, for the scripts that need one (sourced, not run).
#
#   engine_up STATE_DIR       start dockerd when no engine answers (log and pid
#                             in STATE_DIR); returns 1 when it does not come up
#   container_network IMAGE STATE_DIR
#                             prints "bridge" when apt inside a container on the
#                             default bridge reaches the Debian mirror, else
#                             "host" (machines whose registries are reached only
#                             from the host's own network)
# Uses $docker (the client, default docker).

engine_up() {
    local state=$1
    "${docker:-docker}" info >/dev/null 2>&1 && return 0
    command -v dockerd >/dev/null || { echo "engine: dockerd not installed (apt-get install docker.io)" >&2; return 1; }
    echo "engine: starting dockerd (log: $state/dockerd.log)"
    mkdir -p "$state"
    # Detached from this shell's stdout/stderr so that callers piping our
    # output (CI's tee) are not held open by the daemon.
    setsid dockerd >"$state/dockerd.log" 2>&1 </dev/null &
    echo $! >"$state/dockerd.pid"
    for _ in $(seq 60); do
        "${docker:-docker}" info >/dev/null 2>&1 && return 0
        sleep 1
    done
    tail -n 20 "$state/dockerd.log" >&2
    echo "engine: dockerd did not come up" >&2
    return 1
}

container_network() {
    local image=$1 state=$2
    if timeout 90 "${docker:-docker}" run --rm --network bridge "$image" \
           apt-get -o Acquire::Retries=0 -qq update >"$state/bridge-probe.log" 2>&1; then
        echo bridge
    else
        echo host
    fi
}
