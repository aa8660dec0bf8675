#!/usr/bin/env bash
# Build shipway's base images from Debian packages, once; never pull.
#
#   shipway/busybox:latest  — busybox-static in an empty root (≈ 2 MB)
#   shipway/python:3.11     — debootstrap'd Debian bookworm (minbase) with python3
#
# An image that already exists is kept. The debootstrap tree is cached in
# .stamps/ so a rebuild after `docker rmi` does not download again.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="$ROOT/.stamps"
mkdir -p "$CACHE"
LABEL="org.shipway.base=true"

say() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }
have() { docker image inspect "$1" >/dev/null 2>&1; }

if ! have shipway/busybox:latest; then
  say "building shipway/busybox:latest from busybox-static"
  tmp="$(mktemp -d)"
  mkdir -p "$tmp/bin" "$tmp/tmp" "$tmp/etc" "$tmp/proc" "$tmp/sys" "$tmp/dev"
  cp /bin/busybox "$tmp/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [ -e "$tmp/bin/$applet" ] || ln -s busybox "$tmp/bin/$applet"
  done
  echo "root:x:0:0:root:/root:/bin/sh" >"$tmp/etc/passwd"
  echo "root:x:0:" >"$tmp/etc/group"
  chmod 1777 "$tmp/tmp"
  tar -C "$tmp" -c . | docker import \
    -c 'ENV PATH=/bin' -c 'CMD ["/bin/sh"]' -c "LABEL $LABEL" - shipway/busybox:latest >/dev/null
  rm -rf "$tmp"
fi

if ! have shipway/python:3.11; then
  tarball="$CACHE/bookworm-python3.tar"
  if [ ! -f "$tarball" ]; then
    say "debootstrapping Debian bookworm with python3 (about a minute, once)"
    tree="$(mktemp -d)"
    mirror="$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)"
    debootstrap --variant=minbase --include=python3,ca-certificates bookworm "$tree" "${mirror:-http://deb.debian.org/debian}" \
      >"$CACHE/debootstrap.log" 2>&1 || { tail -n 20 "$CACHE/debootstrap.log"; exit 1; }
    rm -rf "$tree"/var/cache/apt/archives/*.deb "$tree"/var/lib/apt/lists/*
    tar -C "$tree" -cf "$tarball.part" . && mv "$tarball.part" "$tarball"
    rm -rf "$tree"
  fi
  say "importing shipway/python:3.11"
  docker import -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'ENV PYTHONUNBUFFERED=1' -c 'CMD ["python3"]' -c "LABEL $LABEL" \
    "$tarball" shipway/python:3.11 >/dev/null
fi
