"""The CPU image, run as a container by the engine that is here (docker, or podman with the project's settings)."""

import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
IMAGE = os.environ.get("IMAGE", "localhost/tsdescribe-cpu:latest")
READY_TIMEOUT_S = 900


def engine_command() -> list[str]:
    out = subprocess.run([str(ROOT / "deploy/scripts/container-engine.sh")], capture_output=True, text=True, check=True)
    return out.stdout.split()


class Container:
    """One container of the image on the host's loopback address (host networking, bound to 127.0.0.1)."""

    def __init__(self, engine: list[str], port: int, env: dict[str, str], volumes: list[str] = (),
                 restart: str | None = None):
        self.engine, self.port = engine, port
        self.name = f"tsd-test-{uuid.uuid4().hex[:8]}"
        self.url = f"http://127.0.0.1:{port}"
        args = [*engine, "run", "-d", "--name", self.name, "--network", "host", "--shm-size", "1g",
                "-e", "TSD_HOST=127.0.0.1", "-e", f"TSD_PORT={port}"]
        for key, value in env.items():
            args += ["-e", f"{key}={value}"]
        for volume in volumes:
            args += ["-v", volume]
        if restart:
            args += ["--restart", restart]
        subprocess.run([*args, IMAGE], check=True, capture_output=True, text=True)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([*self.engine, *args], capture_output=True, text=True, check=check, timeout=600)

    def inspect(self, template: str) -> str:
        return self.run("inspect", "--format", template, self.name).stdout.strip()

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/ready", timeout=3).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(2)
        raise TimeoutError(f"container not ready in {timeout} s:\n{self.logs()}")

    def logs(self, lines: int = 60) -> str:
        out = self.run("logs", "--tail", str(lines), self.name, check=False)
        return out.stdout + out.stderr

    def remove(self) -> None:
        self.run("rm", "-f", "-t", "5", self.name, check=False)


@pytest.fixture(scope="session")
def engine():
    command = engine_command()
    images = subprocess.run([*command, "image", "inspect", IMAGE], capture_output=True, text=True)
    assert images.returncode == 0, f"no image {IMAGE}: run `make image` first"
    return command


@pytest.fixture(scope="session")
def image_size_mb(engine) -> int:
    out = subprocess.run([*engine, "image", "inspect", "--format", "{{.Size}}", IMAGE], capture_output=True,
                         text=True, check=True)
    return int(out.stdout.strip()) // 10**6


def manifest_name(adapter_dir: Path) -> str:
    return json.loads((adapter_dir / "tsdescribe.json").read_text())["name"]
