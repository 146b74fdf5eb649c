#!/usr/bin/env bash
# Make sure the base image (debian:bookworm-slim by default) exists in the
# local Docker engine. Where Docker Hub is reachable `docker pull` would do;
# where it is not (this project's machines), build an equivalent with
# debootstrap --variant=minbase from the same Debian mirror that apt on this
# machine uses, slim it the way the official "-slim" images are slimmed, and
# `docker import` it under that tag. The Dockerfiles do not care which one
# they get: both are plain Debian 12 with apt and bash.
#
#   docker/base-image.sh [TAG]      (default: debian:bookworm-slim)
#   DOCKER=/usr/bin/docker          docker client to use
#   BASE_IMAGE_PULL=1               try `docker pull TAG` before debootstrap
#   DEBIAN_MIRROR=http://...        mirror to debootstrap from (default: the
#                                   first URIs of /etc/apt/sources.list.d/debian.sources)
set -euo pipefail

tag=${1:-debian:bookworm-slim}
docker=${DOCKER:-docker}
suite=bookworm

if "$docker" image inspect "$tag" >/dev/null 2>&1; then
    echo "base image: $tag present"
    exit 0
fi

# BASE_IMAGE_PULL=1: try the registry first (where Docker Hub answers, the
# real image is best). Off by default: this project's machines must not
# reach out to registries other than Debian's.
if [ "${BASE_IMAGE_PULL:-0}" = 1 ] && timeout 60 "$docker" pull -q "$tag" >/dev/null 2>&1; then
    echo "base image: pulled $tag"
    exit 0
fi

sources=/etc/apt/sources.list.d/debian.sources
mirror=${DEBIAN_MIRROR:-}
if [ -z "$mirror" ] && [ -r "$sources" ]; then
    # First URIs line of a stanza that serves the plain suite (not -security).
    mirror=$(awk '/^URIs:/ {u=$2} /^Suites:/ && u != "" && u !~ /security/ {print u; exit}' "$sources")
fi
if [ -z "$mirror" ] && [ -r /etc/apt/sources.list ]; then
    mirror=$(awk '$1 == "deb" && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list)
fi
mirror=${mirror:-http://deb.debian.org/debian}

command -v debootstrap >/dev/null || {
    echo "base image: installing debootstrap"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap
}

root=$(mktemp -d /var/tmp/gradserve-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "base image: debootstrap --variant=minbase $suite from $mirror (about a minute)"
if ! debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$root.log" 2>&1; then
    tail -n 30 "$root.log" >&2
    rm -f "$root.log"
    exit 1
fi
rm -f "$root.log"

# apt inside the image uses what this machine uses (same mirror, plus the
# updates and security suites the official image lists).
rm -f "$root/etc/apt/sources.list"
if [ -r "$sources" ]; then
    cp "$sources" "$root/etc/apt/sources.list.d/debian.sources"
else
    cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
fi

# What the official slim image does: no docs, man pages or translations in
# later installs, no package caches kept, no recommends.
cat >"$root/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
cat >"$root/etc/apt/apt.conf.d/docker-no-recommends" <<'EOF'
APT::Install-Recommends "false";
EOF
find "$root/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete 2>/dev/null || true
find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* \
       "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin \
       "$root"/var/lib/apt/lists/* "$root"/var/log/* "$root"/tmp/* 2>/dev/null || true
: >"$root/etc/machine-id" 2>/dev/null || true
printf '%s\n' "$tag" >"$root/etc/gradserve-base-image"

tar --numeric-owner -C "$root" -c . |
    "$docker" import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["bash"]' \
        --message "debootstrap --variant=minbase $suite $mirror" \
        - "$tag" >/dev/null
echo "base image: imported $tag ($("$docker" image inspect -f '{{.Size}}' "$tag") bytes)"
