#!/usr/bin/env bash
# Make the base image of every body-organ-analysis image locally, for sites that cannot
# pull from a public registry: debootstrap a minimal Debian from a Debian mirror, then
# `docker import` it. No registry is contacted.
#
# Usage: bash scripts/make_base_image.sh [--tag NAME:TAG] [--suite SUITE] [--mirror URL] [--cache FILE]
#   --tag     image name (default boa-base:bookworm; pass it to the builds as BASE_IMAGE)
#   --suite   Debian release (default bookworm)
#   --mirror  Debian mirror (default $DEBIAN_MIRROR or http://deb.debian.org/debian)
#   --cache   tarball of the root file system: imported when it exists, written when it does not
# Needs root (debootstrap) and a running Docker engine (DOCKER_HOST is honoured).
# Exit codes: 0 done, 2 bad arguments, 3 a tool is missing, 4 debootstrap or import failed.
set -euo pipefail

tag=boa-base:bookworm
suite=bookworm
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache=
while [[ $# -gt 0 ]]; do
  case "$1" in
    --tag) tag=${2:?--tag needs NAME:TAG}; shift 2 ;;
    --suite) suite=${2:?--suite needs a Debian release}; shift 2 ;;
    --mirror) mirror=${2:?--mirror needs a URL}; shift 2 ;;
    --cache) cache=${2:?--cache needs a file}; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "make_base_image: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

for tool in docker tar; do
  command -v "$tool" >/dev/null || { echo "make_base_image: '$tool' is not installed" >&2; exit 3; }
done

if [[ -n "$cache" && -s "$cache" ]]; then
  echo "make_base_image: importing $tag from $cache"
  docker import - "$tag" < "$cache" >/dev/null || { echo "make_base_image: docker import of $cache failed" >&2; exit 4; }
  exit 0
fi

command -v debootstrap >/dev/null || {
  echo "make_base_image: debootstrap is not installed (apt-get install debootstrap)" >&2; exit 3; }
[[ $(id -u) == 0 ]] || { echo "make_base_image: debootstrap needs root" >&2; exit 3; }

rootfs=$(mktemp -d /tmp/boa-base-rootfs.XXXXXX)
tarball=$(mktemp /tmp/boa-base-rootfs.XXXXXX.tar)
trap 'rm -rf "$rootfs" "$tarball"' EXIT

echo "make_base_image: debootstrap $suite from $mirror"
debootstrap --variant=minbase "$suite" "$rootfs" "$mirror" > "$rootfs.log" 2>&1 || {
  tail -20 "$rootfs.log" >&2; rm -f "$rootfs.log"
  echo "make_base_image: debootstrap failed (is $mirror reachable?)" >&2; exit 4; }
rm -f "$rootfs.log"
# Like the official slim images: no package lists, caches or documentation in the base.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/usr/share/doc/* \
  "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*
printf 'path-exclude /usr/share/doc/*\npath-exclude /usr/share/man/*\npath-exclude /usr/share/locale/*\n' \
  > "$rootfs/etc/dpkg/dpkg.cfg.d/boa-slim"
printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' > "$rootfs/etc/apt/apt.conf.d/90boa-slim"

tar --numeric-owner -C "$rootfs" -cf "$tarball" .
docker import - "$tag" < "$tarball" >/dev/null || { echo "make_base_image: docker import failed" >&2; exit 4; }
if [[ -n "$cache" ]]; then
  mkdir -p "$(dirname "$cache")"
  cp "$tarball" "$cache.partial" && mv "$cache.partial" "$cache"
  echo "make_base_image: root file system kept in $cache"
fi
echo "make_base_image: $tag ready"
