#!/usr/bin/env bash
# A Debian 12 base image with Python 3.11, made with debootstrap from Debian's packages, for machines that reach no
# image registry (so FROM python:3.11-slim can't be pulled). Usage: debian-base.sh <engine command> <image name>.
set -euo pipefail
engine=($1)
name="$2"
if "${engine[@]}" image exists "$name" 2>/dev/null || "${engine[@]}" image inspect "$name" >/dev/null 2>&1; then
  echo "$name already built" >&2
  exit 0
fi
dir="$(mktemp -d /var/tmp/tsdescribe-base.XXXXXX)"
trap 'rm -rf "$dir"' EXIT
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
started=$SECONDS
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$dir" "$mirror" >&2
rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
tar -C "$dir" -c . | "${engine[@]}" import --change 'CMD ["/bin/bash"]' - "$name" >&2
echo "built $name from Debian bookworm in $((SECONDS - started)) s" >&2
