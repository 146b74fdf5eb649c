#!/usr/bin/env bash
# The README's promise, checked: on a bare Debian 12 (debootstrap minbase plus
# git, make and ca-certificates, nothing else), a clean clone's `make test`
# passes and `make run` answers GET /health/live on 8080. Run by
# `make test-fresh` and by CI, so a dependency that only the development
# machines have (a newer Node, a package installed by hand) cannot hide.
#
# The clone is of the committed HEAD (a git bundle), not of the work tree.
# Where this machine reaches the registries through a proxy with its own
# certificate authority (NODE_EXTRA_CA_CERTS or SSL_CERT_FILE set here), that
# CA file is passed into the container for npm; a real fresh machine needs
# nothing of the kind.
#
# Environment: DOCKER (client, default docker), FRESH_IMAGE (the bare image,
# default gradserve-fresh:bookworm; built once from debian:bookworm-slim,
# docker/base-image.sh), DOCKER_STATE (logs, build/docker).
# Prints the inner suite's output, one PASS/FAIL line for `make run`, and
# "N passed, N failed" counting both.
set -uo pipefail
cd "$(dirname "$0")/.."
docker=${DOCKER:-docker}
base=debian:bookworm-slim
image=${FRESH_IMAGE:-gradserve-fresh:bookworm}
state=$(realpath -m "${DOCKER_STATE:-build/docker}")
work=$(realpath -m build/fresh)
mkdir -p "$state" "$work"

fail_setup() { echo "FAIL fresh_setup: $1"; echo "0 passed, 1 failed"; exit 1; }

. docker/engine.sh
engine_up "$state" || fail_setup "no Docker engine"
DOCKER=$docker bash docker/base-image.sh "$base" || fail_setup "no $base image"
net=$(container_network "$base" "$state")
echo "fresh: containers use the $net network"

# The bare machine: the base image plus what the issue's new user starts with.
if ! "$docker" image inspect "$image" >/dev/null 2>&1; then
    echo "fresh: making $image (git, make, ca-certificates on $base)"
    "$docker" rm -f gradserve-fresh-setup >/dev/null 2>&1
    "$docker" run --name gradserve-fresh-setup --network "$net" "$base" sh -c \
        'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends git make ca-certificates' \
        >"$work/image.log" 2>&1 || fail_setup "could not make $image (see $work/image.log)"
    "$docker" commit gradserve-fresh-setup "$image" >/dev/null || fail_setup "docker commit"
    "$docker" rm gradserve-fresh-setup >/dev/null
fi

git bundle create "$work/head.bundle" HEAD >/dev/null 2>&1 || fail_setup "git bundle of HEAD"

ca=()
extra_ca=${NODE_EXTRA_CA_CERTS:-${SSL_CERT_FILE:-}}
if [ -n "$extra_ca" ] && [ -r "$extra_ca" ]; then
    echo "fresh: passing this machine's registry CA ($extra_ca) into the container"
    ca=(-v "$extra_ca:/etc/gradserve-fresh/extra-ca.pem:ro" -e NODE_EXTRA_CA_CERTS=/etc/gradserve-fresh/extra-ca.pem)
fi
# On the host's network, `make run`'s 8080 is the host's: it must be free.
if [ "$net" = host ] && (exec 3<>/dev/tcp/127.0.0.1/8080) 2>/dev/null; then
    fail_setup "port 8080 is in use on this machine and containers share its network"
fi

# Inside: a clean clone, `make test`, then `make run` and its health check.
# The inner suite's own count line is kept; the run check adds one line.
# Chromium needs more shared memory than Docker's default 64 MB.
name=gradserve-fresh-$$
trap '"$docker" rm -f "$name" >/dev/null 2>&1' EXIT
"$docker" run --rm --name "$name" --network "$net" --shm-size 1g "${ca[@]}" \
    -v "$work/head.bundle:/fresh/head.bundle:ro" "$image" bash -c '
    set -u
    git -c advice.detachedHead=false clone -q /fresh/head.bundle /root/gradserve && cd /root/gradserve || exit 1
    echo "fresh: node $(command -v node >/dev/null && node --version || echo "not installed yet")"
    make test 2>&1 | tee /tmp/test.log
    echo "fresh: node $(node --version) from Debian: $(dpkg-query -W -f="\${Version}" nodejs)"
    make run >/tmp/run.log 2>&1 &
    ok=0
    for _ in $(seq 120); do
        if curl -fsS http://127.0.0.1:8080/health/live >/tmp/live.json 2>/dev/null; then ok=1; break; fi
        sleep 1
    done
    if [ "$ok" = 1 ]; then
        echo "PASS make_run_answers_health_live_on_8080: $(cat /tmp/live.json)"
    else
        echo "FAIL make_run_answers_health_live_on_8080"; tail -n 20 /tmp/run.log
    fi
    line=$(grep -E "^[0-9]+ passed, [0-9]+ failed$" /tmp/test.log | tail -n 1)
    [ -n "$line" ] || line="0 passed, 1 failed"
    p=${line%% passed*}; f=${line#*passed, }; f=${f%% failed*}
    [ "$ok" = 1 ] && p=$((p + 1)) || f=$((f + 1))
    echo "$p passed, $f failed"
    [ "$f" = 0 ]
' 2>&1 | tee "$work/fresh.log"
