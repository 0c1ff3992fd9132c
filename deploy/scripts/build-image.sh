#!/usr/bin/env bash
# make image: the CPU image with whichever engine is here. With docker, the Dockerfile's defaults (official base);
# with podman and no reachable registry, a local Debian base (debian-base.sh), host networking for pip, the host's
# CA bundle mounted for the build only, and this machine's torch CPU wheel when /opt/wheels holds it.
set -euo pipefail
cd "$(dirname "$0")/../.."
image="${IMAGE:-localhost/tsdescribe-cpu:latest}"
engine=($(deploy/scripts/container-engine.sh))
args=(-f deploy/Dockerfile.cpu -t "$image")
if [ "${engine[0]}" != docker ]; then
  base=localhost/tsdescribe-base:bookworm
  deploy/scripts/debian-base.sh "${engine[*]}" "$base"
  # docker format: the OCI format podman defaults to has no HEALTHCHECK ("container has no defined healthcheck")
  args+=(--format docker --build-arg "BASE=$base" --network host)
  bundle=/etc/ssl/certs/ca-certificates.crt
  [ -f "$bundle" ] && args+=(-v "$bundle:$bundle:ro" --build-arg "PIP_CERT=$bundle")
  if compgen -G "/opt/wheels/torch-2.13.0*cp311*.whl" >/dev/null; then
    args+=(-v /opt/wheels:/wheels:ro --build-arg PIP_FIND_LINKS=/wheels --build-arg TORCH_INDEX=)
  fi
fi
started=$SECONDS
"${engine[@]}" build "${args[@]}" .
seconds=$((SECONDS - started))
size=$("${engine[@]}" image inspect "$image" --format '{{.Size}}')
mkdir -p reports
echo "built $image in ${seconds} s, $((size / 1000000)) MB" | tee reports/image-build.txt
if [ "${engine[0]}" != docker ]; then  # compose's Prometheus, from Debian's package (no registry to pull it from)
  "${engine[@]}" build --network host --build-arg "BASE=$base" -f deploy/prometheus/Dockerfile.local \
    -t localhost/tsdescribe-prometheus:latest deploy/prometheus
fi
