"""make image-test: the CPU image as a user runs it — healthy, non-root, serving the shipped student; an adapter
redeployed into the running container and rolled back under load; SIGTERM under load; a restart on engine death."""

import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pytest

from service.security import hash_key
from tests.image.conftest import ROOT, Container, manifest_name

pytestmark = pytest.mark.image
SHIPPED = ROOT / "models" / "adapters" / "smollm2-135m"
ADMIN_KEY = "image-test-admin-key"
SERIES = [float((i * 7) % 23) + i / 10 for i in range(96)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def versions():
    """A volume with two versions: the shipped student, and a copy of it with a new manifest name."""
    import json

    root = Path(tempfile.mkdtemp(prefix="tsd-adapters-", dir="/var/tmp"))
    shutil.copytree(SHIPPED, root / "smollm2-135m")
    shutil.copytree(SHIPPED, root / "smollm2-135m-v2")
    manifest = json.loads((root / "smollm2-135m-v2" / "tsdescribe.json").read_text())
    (root / "smollm2-135m-v2" / "tsdescribe.json").write_text(json.dumps({**manifest, "name": "image-test-v2"}))
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)  # readable by the image's user (uid 1000)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def container(engine, versions):
    box = Container(engine, free_port(), {"TSD_ADMIN_KEY_HASH": hash_key(ADMIN_KEY), "TSD_DRAIN_SECONDS": "30",
                                          "TSD_MAX_NUM_SEQS": "8", "TSD_CPU_KV_CACHE_GIB": "1"},
                    volumes=[f"{versions}:/app/models/adapters:ro"], restart="on-failure")
    try:
        started = time.monotonic()
        box.wait_ready()
        print(f"container ready in {time.monotonic() - started:.0f} s")
        yield box
    finally:
        print(box.logs(20))
        box.remove()


class Load:
    """Users posting /describe until stopped; outcomes are (status or error, adapter path or detail)."""

    def __init__(self, url: str, users: int = 3, per_user: int | None = None):
        self.url, self.stop, self.outcomes = url, threading.Event(), []
        self.threads = [threading.Thread(target=self.user, args=(per_user,)) for _ in range(users)]
        for thread in self.threads:
            thread.start()

    def user(self, per_user: int | None) -> None:
        sent = 0
        with httpx.Client(timeout=300) as client:
            while not self.stop.is_set() and (per_user is None or sent < per_user):
                try:
                    r = client.post(f"{self.url}/describe", json={"series": SERIES, "repair": False})
                    body = r.json()
                    self.outcomes.append((r.status_code, body["model"]["adapter"] if r.status_code == 200
                                          else body.get("detail")))
                except httpx.HTTPError as error:
                    self.outcomes.append((type(error).__name__, str(error)))
                sent += 1

    def finish(self) -> list:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=600)
        return self.outcomes


def make(target: str, url: str, **variables: str) -> subprocess.CompletedProcess:
    env = {**__import__("os").environ, "TSD_ADMIN_KEY": ADMIN_KEY}
    args = ["make", "-s", target, f"TARGET={url}", *(f"{k}={v}" for k, v in variables.items())]
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)


def test_the_container_is_healthy_non_root_and_serves_the_shipped_student(container, image_size_mb):
    check = container.run("healthcheck", "run", container.name, check=False) if container.engine[-1] == "podman" \
        else None
    if check is not None:
        assert check.returncode == 0, check.stdout + check.stderr
    assert container.inspect("{{.State.Health.Status}}") == "healthy"
    assert container.run("exec", container.name, "id", "-u").stdout.strip() == "1000"
    info = httpx.get(f"{container.url}/info", timeout=10).json()
    assert info["model"]["version"]["name"] == manifest_name(SHIPPED)
    assert info["model"]["version"]["path"] == "/app/models/adapters/smollm2-135m"
    r = httpx.post(f"{container.url}/describe", json={"series": SERIES}, timeout=300)
    assert r.status_code == 200 and r.json()["checks"]["score"] >= 0
    metrics = httpx.get(f"{container.url}/metrics", timeout=10).text
    assert 'tsd_requests_total{route="/describe",status="200"}' in metrics
    print(f"image {image_size_mb} MB; healthy, uid 1000, serving {info['model']['version']['name']}")


def test_redeploy_and_rollback_into_the_running_container_fail_no_request(container):
    load = Load(container.url)
    try:
        time.sleep(5)
        done = make("redeploy", container.url, ADAPTER="smollm2-135m-v2")
        assert done.returncode == 0, done.stdout + done.stderr
        info = httpx.get(f"{container.url}/info", timeout=10).json()
        assert info["model"]["version"]["name"] == "image-test-v2"
        time.sleep(10)
        done = make("rollback", container.url)
        assert done.returncode == 0, done.stdout + done.stderr
        info = httpx.get(f"{container.url}/info", timeout=10).json()
        assert info["model"]["version"]["name"] == manifest_name(SHIPPED)
        time.sleep(5)
    finally:
        outcomes = load.finish()
    failed = [o for o in outcomes if o[0] != 200]
    served = [adapter.rsplit("/", 1)[-1] for _, adapter in outcomes]
    switches = [b for a, b in zip(served, served[1:], strict=False) if a != b]
    print(f"redeploy under load: {len(outcomes)} requests, {len(failed)} failed, versions in order "
          f"{[served[0], *switches] if served else []}")
    assert failed == [] and "smollm2-135m-v2" in served and served[-1] == "smollm2-135m"


def test_engine_death_restarts_the_container_and_it_is_healthy_again(container):
    restarts = int(container.inspect("{{.RestartCount}}") or 0)
    kill = ("import psutil\nfor p in psutil.Process(1).children(recursive=True):\n"
            "    p.kill() if 'EngineCore' in p.name() or 'Worker' in p.name() else None")
    container.run("exec", container.name, "python", "-c", kill, check=False)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and int(container.inspect("{{.RestartCount}}") or 0) == restarts:
        time.sleep(2)
    assert int(container.inspect("{{.RestartCount}}")) == restarts + 1, container.logs()
    container.wait_ready()
    assert httpx.post(f"{container.url}/describe", json={"series": SERIES}, timeout=300).status_code == 200
    print(f"engine killed: the container restarted ({restarts} → {restarts + 1}) and serves again")


def test_sigterm_under_load_answers_every_accepted_request_and_exits_0(container):
    load = Load(container.url, users=12, per_user=1)
    time.sleep(4)
    stopped = container.run("stop", "-t", "120", container.name)
    outcomes = load.finish()
    statuses = [status for status, _ in outcomes]
    print(f"stop under load: {sorted((str(s), statuses.count(s)) for s in set(statuses))}, "
          f"exit code {container.inspect('{{.State.ExitCode}}')}")
    assert stopped.returncode == 0
    assert container.inspect("{{.State.ExitCode}}") == "0"
    assert len(statuses) == 12 and set(statuses) <= {200, 503}, outcomes  # accepted ones answered, the rest told to retry
