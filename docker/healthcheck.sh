#!/bin/bash
# Container health check without curl: bash's /dev/tcp sends one HTTP/1.0
# GET to the server inside the container and succeeds on a 200.
#   gradserve-healthcheck [PATH]     (default /health/live)
# The port is taken from GRADSERVE_LISTEN (the server's own setting), so the
# check follows a changed listen address. Wanted instead, some day: a
# `gradserve --healthcheck` flag doing the same from the binary itself.
path=${1:-/health/live}
port=${GRADSERVE_LISTEN:-0.0.0.0:8080}
port=${port##*:}
exec 3<>"/dev/tcp/127.0.0.1/${port:-8080}" || exit 1
printf 'GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n' "$path" >&3
IFS= read -r -t 3 status <&3 || exit 1
case $status in
"HTTP/1."?" 200 "*) exit 0 ;;
*) echo "unhealthy: $status" >&2; exit 1 ;;
esac
