"""Compose for real: the service and Prometheus (the local images, deploy/docker-compose.local.yml) on their own
network; Prometheus scrapes the service and counts the requests this test sent."""

import os
import shutil
import subprocess
import sys
import time

import httpx
import pytest

from service.security import hash_key
from tests.image.conftest import ROOT
from tests.image.test_image import SERIES, free_port

pytestmark = pytest.mark.image
REQUESTS = 5


def compose_command(engine: list[str]) -> list[str]:
    if engine[0] == "docker":
        return ["docker", "compose"]
    podman_compose = shutil.which("podman-compose") or str(ROOT / ".venv" / "bin" / "podman-compose")
    return ["env", *engine[1:-1], podman_compose] if engine[0] == "env" else [podman_compose]


def query(prometheus: str, promql: str) -> list:
    r = httpx.get(f"{prometheus}/api/v1/query", params={"query": promql}, timeout=10)
    r.raise_for_status()
    return r.json()["data"]["result"]


def test_prometheus_scrapes_the_service_and_counts_its_requests(engine):
    service_port, prometheus_port = free_port(), free_port()
    env = {**os.environ, "TSD_ADMIN_KEY_HASH": hash_key("compose-test"), "TSD_BIND": "127.0.0.1",
           "TSD_HOST_PORT": str(service_port), "PROMETHEUS_HOST_PORT": str(prometheus_port)}
    compose = [*compose_command(engine), "-p", "tsdtest", "-f", str(ROOT / "deploy/docker-compose.yml")]
    if engine[0] != "docker":
        compose += ["-f", str(ROOT / "deploy/docker-compose.local.yml")]
    up = subprocess.run([*compose, "up", "-d"], env=env, capture_output=True, text=True, timeout=600)
    try:
        assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-2000:]
        service, prometheus = f"http://127.0.0.1:{service_port}", f"http://127.0.0.1:{prometheus_port}"
        deadline, ready = time.monotonic() + 600, False
        while not ready and time.monotonic() < deadline:
            try:
                ready = httpx.get(f"{service}/ready", timeout=3).status_code == 200
            except httpx.HTTPError:
                pass
            if not ready:
                time.sleep(3)
        if not ready:  # e.g. a mounted adapter its user cannot read: a restart loop, said here rather than as a refused POST
            logs = subprocess.run([*compose, "logs", "--tail", "40", "tsdescribe"], env=env, capture_output=True,
                                  text=True, timeout=120)
            pytest.fail(f"the service was not ready in 600 s:\n{logs.stdout[-4000:]}{logs.stderr[-2000:]}")
        for _ in range(REQUESTS):
            assert httpx.post(f"{service}/describe", json={"series": SERIES}, timeout=300).status_code == 200
        up_value = counted = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            up_result = query(prometheus, 'up{job="tsdescribe"}')
            counted_result = query(prometheus, 'sum(tsd_requests_total{route="/describe",status="200"})')
            up_value = float(up_result[0]["value"][1]) if up_result else None
            counted = float(counted_result[0]["value"][1]) if counted_result else None
            if up_value == 1 and counted == REQUESTS:
                break
            time.sleep(3)
        print(f"prometheus: up{{job=\"tsdescribe\"}} = {up_value}, "
              f"sum(tsd_requests_total{{route=\"/describe\",status=\"200\"}}) = {counted}", file=sys.stderr)
        assert up_value == 1 and counted == REQUESTS
    finally:
        logs = subprocess.run([*compose, "logs", "--tail", "20"], env=env, capture_output=True, text=True, timeout=120)
        print(logs.stdout[-3000:])
        subprocess.run([*compose, "down", "-v", "-t", "10"], env=env, capture_output=True, text=True, timeout=300)
