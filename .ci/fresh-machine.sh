#!/usr/bin/env bash
# Proves the README's two commands on a fresh Debian 12: debootstrap a minimal bookworm into
# DIR (default /var/tmp/lifeboat-fresh), clone this repository's HEAD into it, and run
# `make test` then `make demo` inside a chroot, timing each. Needs root, debootstrap and
# Debian's archive. Not part of CI (CI already starts from a clean clone); run it by hand
# after changing the Makefile's package lists.
set -euo pipefail
ROOT=${1:-/var/tmp/lifeboat-fresh}
REPO=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap
[[ -e "$ROOT/etc/debian_version" ]] ||
  debootstrap --variant=minbase bookworm "$ROOT" http://deb.debian.org/debian
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
  cp /etc/apt/sources.list.d/debian.sources "$ROOT/etc/apt/sources.list.d/"
  rm -f "$ROOT/etc/apt/sources.list"
fi
cleanup() { for m in dev/pts dev proc sys; do umount "$ROOT/$m" 2>/dev/null || true; done; }
trap cleanup EXIT
for m in proc dev dev/pts sys; do mount --bind "/$m" "$ROOT/$m"; done
rm -rf "$ROOT/src" && mkdir -p "$ROOT/src"
git clone -q "$REPO" "$ROOT/src/lifeboat"
[[ -d "$REPO/../shared" ]] && cp -r "$REPO/../shared" "$ROOT/src/shared"
chroot "$ROOT" /bin/bash -c '
  export HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
  command -v make >/dev/null || { apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq make git >/dev/null; }
  cd /src/lifeboat
  s=$(date +%s); make test; echo "make test: $(( $(date +%s) - s )) s"
  s=$(date +%s); make demo </dev/null; echo "make demo: $(( $(date +%s) - s )) s"
'
