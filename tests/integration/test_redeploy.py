"""Adapter redeploy on the real engine: activate another version and roll back while users keep calling."""

import json
import shutil
import threading
import time

import httpx
import psutil
import pytest

from service.security import hash_key
from tests.integration.conftest import ROOT, SMOLLM2_DIR

pytestmark = pytest.mark.integration
SHIPPED = ROOT / "models" / "adapters" / "smollm2-135m"
# The shipped student's added rows (the marked prompt's max and min tokens) need a merged model: vLLM's LoRA mode
# swaps only LoRA weights, so LoRA mode is exercised with the compact student train5, which adds no tokens.
COMPACT = ROOT / "models" / "adapters" / "smollm2-135m-compact"
KEY = {"X-Admin-Key": "integration-key"}


def copy_versions(source, root):
    """v1 and v2: copies of `source`, v2 under another name. Not a zeroed v2: the base on the marked prompt rambles
    to max_tokens (a 502 for every request it serves), which says nothing about the swap."""
    if not (source / "adapter_config.json").exists():
        pytest.skip(f"no adapter at {source} (make train ships one)")
    v1, v2 = root / "student" / "v1", root / "student" / "v2"
    shutil.copytree(source, v1)
    shutil.copytree(source, v2)
    manifest = json.loads((v2 / "tsdescribe.json").read_text())
    (v2 / "tsdescribe.json").write_text(json.dumps({**manifest, "name": "v2"}))
    return root, v1, v2


@pytest.fixture(scope="module")
def versions(tmp_path_factory):
    return copy_versions(SHIPPED, tmp_path_factory.mktemp("adapters"))


def engine_processes(server) -> int:
    """vLLM engine processes under the server (each engine runs its core and a worker in children named VLLM::…);
    other helpers, such as multiprocessing's resource tracker, are not engines."""
    names = []
    for child in psutil.Process(server.process.pid).children(recursive=True):
        try:
            names.append(child.name())
        except psutil.Error:
            pass
    return sum(name.startswith("VLLM::") for name in names)


@pytest.mark.parametrize("mode", ["merge", "lora"])
def test_activate_and_roll_back_under_load_without_a_failed_request(start_server, tmp_path, mode):
    root, v1, v2 = copy_versions(COMPACT if mode == "lora" else SHIPPED, tmp_path / "adapters")
    server = start_server(TSD_PRESET="smollm2-135m", TSD_MODEL=str(SMOLLM2_DIR), TSD_ADAPTER=str(v1),
                          TSD_ADAPTERS_DIR=str(root), TSD_ADMIN_KEY_HASH=hash_key(KEY["X-Admin-Key"]),
                          TSD_MERGE_CACHE_DIR=str(tmp_path / "merged"), TSD_ADAPTER_MODE=mode)
    engines_before, engines_seen = engine_processes(server), []
    stop = threading.Event()
    outcomes: list[tuple[int, str]] = []
    series = {"series": [float((i * 7) % 23) + i / 10 for i in range(96)], "repair": False}

    def user():
        with httpx.Client(timeout=120) as client:
            while not stop.is_set():
                r = client.post(f"{server.url}/describe", json=series)
                outcomes.append((r.status_code, r.json()["model"]["adapter"] if r.status_code == 200 else r.text))

    def count_engines():
        while not stop.is_set():
            engines_seen.append(engine_processes(server))
            stop.wait(0.2)

    users = [threading.Thread(target=user) for _ in range(3)] + [threading.Thread(target=count_engines)]
    for thread in users:
        thread.start()
    try:
        for _ in range(600):  # under load: a request served before the switch (LoRA's switch is quicker than a request)
            if outcomes:
                break
            stop.wait(0.2)
        r = httpx.post(f"{server.url}/admin/adapters/activate", json={"adapter": "student/v2"}, headers=KEY, timeout=600)
        assert r.status_code == 200, r.text
        assert r.json()["active"]["name"] == "v2"
        served_v2 = len(outcomes)
        r = httpx.post(f"{server.url}/admin/adapters/rollback", headers=KEY, timeout=600)
        assert r.status_code == 200, r.text
        assert r.json()["active"]["path"] == str(v1)
    finally:
        stop.set()
        for thread in users:
            thread.join()
    assert [o for o in outcomes if o[0] != 200] == []
    assert {adapter for _, adapter in outcomes} == {str(v1), str(v2)}
    assert len(outcomes) > served_v2 > 0
    info = httpx.get(f"{server.url}/info").json()
    assert info["model"]["version"]["path"] == str(v1)
    for _ in range(60):  # the closed engine's processes take a moment to exit
        if engine_processes(server) == engines_before:
            break
        time.sleep(0.5)
    print(f"{mode}: {len(outcomes)} requests, 0 failed; engine processes before {engines_before}, during "
          f"{sorted(set(engines_seen))}, after {engine_processes(server)}")
    if mode == "lora":  # swapped inside the running engine: one engine core before, during and after
        assert info["backend"]["adapter_mode"] == "lora" and info["backend"]["lora_id"] == 3
        assert set(engines_seen) == {engines_before} == {engine_processes(server)}
    else:
        assert info["backend"]["adapter_mode"] == "merged"
        assert max(engines_seen) > engines_before == engine_processes(server)


def test_a_merge_mode_swap_that_memory_cannot_hold_is_refused_and_the_current_version_serves(
        start_server, versions, tmp_path):
    root, v1, _ = versions
    server = start_server(TSD_PRESET="smollm2-135m", TSD_MODEL=str(SMOLLM2_DIR), TSD_ADAPTER=str(v1),
                          TSD_ADAPTERS_DIR=str(root), TSD_ADMIN_KEY_HASH=hash_key(KEY["X-Admin-Key"]),
                          TSD_MERGE_CACHE_DIR=str(tmp_path / "merged"), TSD_MEMORY_LIMIT_BYTES=str(4 * 2**30))
    r = httpx.post(f"{server.url}/admin/adapters/activate", json={"adapter": "student/v2"}, headers=KEY, timeout=600)
    assert r.status_code == 503 and "GiB" in r.json()["detail"], r.text
    print("refused:", r.json()["detail"])
    r = httpx.post(f"{server.url}/describe", json={"series": [float(i % 9) for i in range(64)]}, timeout=120)
    assert r.status_code == 200 and r.json()["model"]["adapter"] == str(v1)
