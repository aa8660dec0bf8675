#!/usr/bin/env bash
# Install and start what shipway needs, idempotently. Used by `make run` and `make test`.
#
#   scripts/setup.sh [packages] [venv] [dockerd] [images]   (no argument: all four)
#
# Every step first checks whether its work is already done, so a second run
# installs nothing and takes seconds. Nothing is ever pulled from Docker Hub:
# base images are built from Debian packages and `docker import`ed.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DATA_DIR="${SHIPWAY_DATA_DIR:-$ROOT/.shipway}"
PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv"
STAMPS="$ROOT/.stamps"
mkdir -p "$DATA_DIR" "$STAMPS"

say() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

# Debian packages the project needs, keyed by a file each one installs.
DEB_PACKAGES=(
  "docker.io:/usr/sbin/dockerd"
  "zookeeper:/usr/share/java/zookeeper.jar"
  "docker-registry:/usr/bin/docker-registry"
  "debootstrap:/usr/sbin/debootstrap"
  "busybox-static:/bin/busybox"
  "git:/usr/bin/git"
  "chromium:/usr/bin/chromium"
  "default-jre-headless:/usr/bin/java"
  "postgresql:/usr/lib/postgresql"
)

step_packages() {
  local missing=()
  for entry in "${DEB_PACKAGES[@]}"; do
    local pkg="${entry%%:*}" file="${entry#*:}"
    if [ "$pkg" = busybox-static ]; then
      dpkg -s busybox-static >/dev/null 2>&1 || missing+=("$pkg")
    elif [ ! -e "$file" ]; then
      missing+=("$pkg")
    fi
  done
  if [ ${#missing[@]} -eq 0 ]; then
    return 0
  fi
  [ "$(id -u)" = 0 ] || die "installing ${missing[*]} needs root (apt-get); run as root or install them first"
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >"$DATA_DIR/apt.log" 2>&1 || { tail -n 20 "$DATA_DIR/apt.log"; die "apt-get update failed (log: $DATA_DIR/apt.log)"; }
  apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$DATA_DIR/apt.log" 2>&1 \
    || { tail -n 20 "$DATA_DIR/apt.log"; die "apt-get install failed (log: $DATA_DIR/apt.log)"; }
}

step_venv() {
  # Reinstall only when pyproject.toml changed since the last install.
  local stamp="$STAMPS/venv" want
  want="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
  if [ -x "$VENV/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  say "creating the virtual environment in .venv"
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -e "$ROOT[dev]" >"$DATA_DIR/pip.log" 2>&1 \
    || { tail -n 20 "$DATA_DIR/pip.log"; die "pip install failed (log: $DATA_DIR/pip.log)"; }
  echo "$want" >"$stamp"
}

step_dockerd() {
  if docker info >/dev/null 2>&1; then
    return 0
  fi
  if [ -n "${DOCKER_HOST:-}" ]; then
    die "the Docker Engine at DOCKER_HOST=$DOCKER_HOST does not answer; start it or unset DOCKER_HOST"
  fi
  [ "$(id -u)" = 0 ] || die "no Docker Engine answers and starting dockerd needs root"
  say "starting dockerd (log: $DATA_DIR/dockerd.log)"
  # setsid: the engine outlives this script and the make that ran it.
  setsid nohup dockerd >"$DATA_DIR/dockerd.log" 2>&1 </dev/null &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  tail -n 20 "$DATA_DIR/dockerd.log" >&2
  die "dockerd did not start within 30 s (log: $DATA_DIR/dockerd.log)"
}

step_images() {
  "$ROOT/scripts/build-base-images.sh"
}

steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(packages venv dockerd images)
for s in "${steps[@]}"; do
  "step_$s"
done
