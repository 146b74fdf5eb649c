#!/bin/bash
# The load balancer's own liveness (/lb/health is answered by nginx itself,
# so a replica being down does not make the balancer unhealthy).
exec 3<>/dev/tcp/127.0.0.1/8080 || exit 1
printf 'GET /lb/health HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
IFS= read -r -t 3 status <&3 || exit 1
case $status in "HTTP/1."?" 200 "*) exit 0 ;; *) exit 1 ;; esac
