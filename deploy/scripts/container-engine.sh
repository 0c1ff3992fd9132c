#!/usr/bin/env bash
# Prints the container engine to use: docker when its daemon answers, else podman (installed from Debian's packages
# with runc and debootstrap when missing). Sourced settings: CONTAINERS_CONF for podman.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  echo docker
  exit 0
fi
if ! command -v podman >/dev/null || ! command -v runc >/dev/null || ! command -v debootstrap >/dev/null; then
  echo "installing podman, runc and debootstrap (Debian packages)" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap) >&2
fi
echo "env CONTAINERS_CONF=$root/deploy/podman/containers.conf podman"
