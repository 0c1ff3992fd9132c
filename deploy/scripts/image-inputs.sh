#!/usr/bin/env bash
# The hash of what the images are built from and tested with: the Dockerfiles, deploy/ and the dependency pins
# (pyproject.toml). deploy/image-tested.sha256 records it for the last `make image-test` that passed.
set -euo pipefail
cd "$(dirname "$0")/../.."
{ git ls-files -- Dockerfile deploy pyproject.toml tests/image | grep -v '^deploy/image-tested.sha256$' | sort \
    | while read -r f; do sha256sum "$f"; done; } | sha256sum | cut -d' ' -f1
