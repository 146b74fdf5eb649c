#!/usr/bin/env bash
# Build the gradserve image (and the load balancer's) from this checkout.
#
#   docker/build.sh [all|gradserve|lb]     (default all)
#
# Starts dockerd when no engine answers (log: $DOCKER_STATE/dockerd.log), makes
# sure the base image exists (docker/base-image.sh: debootstrap when it cannot
# be pulled), finds out whether containers on the default bridge reach the
# Debian mirror (else builds with --network host), and builds with a minimal
# context: only the files the Dockerfile copies, so a dirty work tree (build/,
# node_modules/) costs nothing and cannot leak into the image.
#
# Environment: DOCKER (client, default docker), BASE_IMAGE (default
# debian:bookworm-slim), GRADSERVE_IMAGE (gradserve:latest), GRADSERVE_LB_IMAGE
# (gradserve-lb:latest), DOCKER_BUILD_NETWORK (bridge|host: skip the probe),
# DOCKER_STATE (where logs and the started-dockerd marker go, build/docker).
set -euo pipefail
cd "$(dirname "$0")/.."

what=${1:-all}
docker=${DOCKER:-docker}
base=${BASE_IMAGE:-debian:bookworm-slim}
image=${GRADSERVE_IMAGE:-gradserve:latest}
lb_image=${GRADSERVE_LB_IMAGE:-gradserve-lb:latest}
state=$(realpath -m "${DOCKER_STATE:-build/docker}")
mkdir -p "$state"

# ------------------------------------------------------------------ engine
. docker/engine.sh
engine_up "$state"

# -------------------------------------------------------------- base image
DOCKER=$docker bash docker/base-image.sh "$base"

# --------------------------------------------- can the bridge reach Debian?
net=${DOCKER_BUILD_NETWORK:-}
if [ -z "$net" ]; then
    net=$(container_network "$base" "$state")
    echo "build: apt in containers on the default bridge: $( [ "$net" = bridge ] && echo works || echo 'fails, building with --network host')"
fi

build() { # tag, dockerfile-in-context, then the context's paths
    local tag=$1 file=$2; shift 2
    local t0=$SECONDS
    tar -c --exclude='*.o' --exclude=node_modules "$@" |
        "$docker" build --network "$net" --build-arg BASE_IMAGE="$base" \
            -f "$file" -t "$tag" - >"$state/build-${tag//[:\/]/_}.log" 2>&1 || {
        tail -n 40 "$state/build-${tag//[:\/]/_}.log" >&2
        echo "build: $tag failed (log: $state/build-${tag//[:\/]/_}.log)" >&2
        return 1
    }
    echo "build: $tag built in $((SECONDS - t0)) s, $("$docker" image inspect -f '{{.Size}}' "$tag" |
        awk '{printf "%.1f MB", $1 / 1e6}')"
}

case $what in
all | gradserve)
    build "$image" docker/Dockerfile \
        Makefile openapi.yaml include core server clients/js/gradserve.js \
        docker/Dockerfile docker/healthcheck.sh ;;&
all | lb)
    (cd docker/nginx && build "$lb_image" Dockerfile Dockerfile nginx.conf healthcheck.sh) ;;
gradserve) ;;
*) echo "usage: $0 [all|gradserve|lb]" >&2; exit 2 ;;
esac
