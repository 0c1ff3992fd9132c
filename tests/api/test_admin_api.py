"""Adapter redeploy through /admin: auth, validation, a swap under concurrent load with zero failures, rollback."""

import asyncio
import json

import pytest

from service.security import hash_key
from service.settings import Settings
from tests.api.conftest import SlowBackend

KEY = {"X-Admin-Key": "s3cret"}


def make_adapter(root, name, style="compact"):
    directory = root / name
    directory.mkdir(parents=True)
    (directory / "adapter_config.json").write_text(json.dumps({"r": 8, "name": name}))
    (directory / "adapter_model.safetensors").write_bytes(name.encode())
    (directory / "tsdescribe.json").write_text(json.dumps({"name": name, "prompt_style": style}))
    return directory


@pytest.fixture
def adapters(tmp_path):
    make_adapter(tmp_path, "student/v1")
    make_adapter(tmp_path, "student/v2")
    return tmp_path


@pytest.fixture
async def admin_app(adapters, make_client):
    built = []

    def factory(settings):
        built.append(SlowBackend(settings, load_seconds=0.2))
        return built[-1]

    settings = Settings(preset="smollm2-135m", adapter=str(adapters / "student" / "v1"), adapters_dir=str(adapters),
                        admin_key_hash=hash_key("s3cret"))
    _, client = await make_client(settings=settings, backend_factory=factory)
    return client, built


async def test_admin_is_disabled_without_a_key_and_refuses_a_wrong_one(admin_app, client):
    r = await client.post("/admin/adapters/activate", json={"adapter": "x"})
    assert r.status_code == 403 and "TSD_ADMIN_KEY_HASH" in r.json()["detail"]
    admin, _ = admin_app
    r = await admin.post("/admin/adapters/activate", json={"adapter": "student/v2"}, headers={"X-Admin-Key": "no"})
    assert r.status_code == 401


async def test_activation_refuses_bad_directories_with_a_reason(admin_app, adapters):
    admin, built = admin_app
    r = await admin.post("/admin/adapters/activate", json={"adapter": "../../etc"}, headers=KEY)
    assert r.status_code == 422 and "outside the adapters directory" in r.json()["detail"]
    r = await admin.post("/admin/adapters/activate", json={"adapter": "student/v9"}, headers=KEY)
    assert r.status_code == 422 and "does not exist" in r.json()["detail"]
    (adapters / "broken").mkdir()
    r = await admin.post("/admin/adapters/activate", json={"adapter": "broken"}, headers=KEY)
    assert r.status_code == 422 and "adapter_model.safetensors" in r.json()["detail"]
    r = await admin.post("/admin/adapters/rollback", headers=KEY)
    assert r.status_code == 422 and "nothing to roll back" in r.json()["detail"]
    assert len(built) == 1  # nothing was loaded for refused requests


async def test_swap_under_concurrent_load_fails_no_request_and_rolls_back(admin_app, adapters):
    admin, built = admin_app
    series = {"series": [float(i % 17) for i in range(64)]}
    stop = asyncio.Event()
    outcomes = []

    async def user():
        while not stop.is_set():
            r = await admin.post("/describe", json=series)
            outcomes.append((r.status_code, r.json()["model"]["adapter"] if r.status_code == 200 else r.text))

    users = [asyncio.create_task(user()) for _ in range(8)]
    await asyncio.sleep(0.2)
    r = await admin.post("/admin/adapters/activate", json={"adapter": "student/v2"}, headers=KEY)
    assert r.status_code == 200, r.text
    assert r.json()["active"]["name"] == "student/v2"
    await asyncio.sleep(0.2)
    r = await admin.post("/admin/adapters/rollback", headers=KEY)
    assert r.status_code == 200 and r.json()["active"]["name"] == "student/v1"
    await asyncio.sleep(0.2)
    stop.set()
    await asyncio.gather(*users)

    assert len(outcomes) > 20
    assert [o for o in outcomes if o[0] != 200] == []
    served = {adapter for _, adapter in outcomes}
    assert served == {str(adapters / "student" / "v1"), str(adapters / "student" / "v2")}
    assert len(built) == 3 and built[0].closed and built[1].closed and not built[2].closed
    assert not any(b.closed_while_busy for b in built)
    info = (await admin.get("/info")).json()
    assert info["model"]["version"]["name"] == "student/v1"
    assert info["settings"]["prompt_style"] == "compact"
    listing = (await admin.get("/admin/adapters", headers=KEY)).json()
    assert [v["name"] for v in listing["versions"]] == ["student/v1", "student/v2"]
    assert [h["version"]["name"] for h in listing["history"]] == ["student/v2", "student/v1"]
    metrics = (await admin.get("/metrics")).text
    assert 'tsd_adapter_activations_total{result="ok"} 2.0' in metrics


async def test_a_second_activation_while_one_runs_gets_409(admin_app):
    admin, _ = admin_app
    first = asyncio.create_task(admin.post("/admin/adapters/activate", json={"adapter": "student/v2"}, headers=KEY))
    await asyncio.sleep(0.05)
    r = await admin.post("/admin/adapters/activate", json={"adapter": "student/v1"}, headers=KEY)
    assert r.status_code == 409 and "in progress" in r.json()["detail"]
    assert (await first).status_code == 200


async def test_a_version_that_fails_to_load_leaves_the_current_one_serving(adapters, make_client):
    class Broken(SlowBackend):
        async def start(self):
            raise RuntimeError("weights are corrupt")

    built = []

    def factory(settings):
        built.append((Broken if len(built) else SlowBackend)(settings, load_seconds=0.2))
        return built[-1]

    settings = Settings(preset="smollm2-135m", adapter=str(adapters / "student" / "v1"), adapters_dir=str(adapters),
                        admin_key_hash=hash_key("s3cret"))
    _, admin = await make_client(settings=settings, backend_factory=factory)
    r = await admin.post("/admin/adapters/activate", json={"adapter": "student/v2"}, headers=KEY)
    assert r.status_code == 503 and "weights are corrupt" in r.json()["detail"]
    r = await admin.post("/describe", json={"series": list(range(32))})
    assert r.status_code == 200 and r.json()["model"]["adapter"].endswith("v1")
    assert 'tsd_adapter_activations_total{result="failed"} 1.0' in (await admin.get("/metrics")).text


async def test_a_swap_that_needs_a_second_engine_is_refused_when_memory_cannot_hold_it(adapters, make_client):
    class Big(SlowBackend):
        def memory_needed(self):
            return 64 * 2**30

    built = []

    def factory(settings):
        built.append(Big(settings))
        return built[-1]

    settings = Settings(preset="smollm2-135m", adapter=str(adapters / "student" / "v1"), adapters_dir=str(adapters),
                        admin_key_hash=hash_key("s3cret"), memory_limit_bytes=8 * 2**30)
    _, admin = await make_client(settings=settings, backend_factory=factory)
    r = await admin.post("/admin/adapters/activate", json={"adapter": "student/v2"}, headers=KEY)
    assert r.status_code == 503 and "64.0 GiB" in r.json()["detail"] and "LoRA mode" in r.json()["detail"]
    assert r.headers["Retry-After"]
    r = await admin.post("/describe", json={"series": list(range(32))})
    assert r.status_code == 200 and r.json()["model"]["adapter"].endswith("v1") and len(built) == 2
    assert not built[0].closed and not built[1].closed_while_busy


async def test_an_engine_that_swaps_in_place_gets_no_second_engine(adapters, make_client):
    class InPlace(SlowBackend):
        def can_swap_in_place(self, settings):
            return True

        def with_adapter(self, settings):
            view = InPlace(settings)
            view.engine_of = self
            return view

    built = []

    def factory(settings):
        built.append(InPlace(settings))
        return built[-1]

    settings = Settings(preset="smollm2-135m", adapter=str(adapters / "student" / "v1"), adapters_dir=str(adapters),
                        admin_key_hash=hash_key("s3cret"))
    _, admin = await make_client(settings=settings, backend_factory=factory)
    r = await admin.post("/admin/adapters/activate", json={"adapter": "student/v2"}, headers=KEY)
    assert r.status_code == 200, r.text
    assert len(built) == 1  # the factory (a new engine) was not called again
    r = await admin.post("/describe", json={"series": list(range(32))})
    assert r.json()["model"]["adapter"].endswith("v2")
