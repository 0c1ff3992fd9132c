"""Issue 16's hostile and operator cases through the ASGI app: each test failed before its fix."""

import asyncio
import json
import time

import pytest

from service.errors import EngineDead
from service.logs import request_id_from
from service.security import hash_key
from service.settings import Settings
from tests.api.conftest import ScriptedBackend, SlowBackend

SERIES = [float(i % 11) for i in range(64)]


async def test_an_unauthenticated_body_is_refused_before_it_is_parsed(make_client):
    _, client = await make_client(api_key_hashes=[hash_key("k")])
    r = await client.post("/describe", content=b"{not json at all", headers={"content-type": "application/json"})
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"
    r = await client.post("/describe", content=b"{not json", headers={"Authorization": "Bearer k",
                                                                     "content-type": "application/json"})
    assert r.status_code == 422  # with the key, the body is read and its fault named


async def test_an_invalid_series_is_refused_at_once_not_after_queueing(make_client):
    backend = SlowBackend(seconds=1.0)
    app, client = await make_client(backend, max_in_flight=1, max_queue=10, max_length=1000)
    busy = asyncio.create_task(client.post("/describe", json={"series": SERIES}))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    r = await client.post("/describe", json={"series": [1.0] * 5000})
    assert r.status_code == 422 and "1000" in r.json()["detail"]
    assert time.monotonic() - started < 0.5 and not busy.done()
    assert (await busy).status_code == 200


async def test_a_failing_series_cancels_its_batch_siblings_before_the_place_is_freed(make_client):
    class OneBad(SlowBackend):
        async def generate(self, messages, params):
            if "bad" not in self.__dict__:
                self.bad = True
                self.text, text = "not json", self.text
                try:
                    return await ScriptedBackend.generate(self, messages, params)
                finally:
                    self.text = text
            return await super().generate(messages, params)

    backend = OneBad(seconds=5.0)
    app, client = await make_client(backend, max_in_flight=8, max_batch=8)
    r = await client.post("/describe/batch", json={"series": [SERIES] * 8})
    assert r.status_code == 502
    assert backend.cancelled == 7 and backend.active == 0  # no sibling still generating ...
    assert app.state.service.admission.running == 0  # ... when the place is given back
    assert app.state.service.deployments.active.in_flight == 0


async def test_a_batch_larger_than_the_engine_bound_is_a_clear_422(make_client):
    _, client = await make_client(max_in_flight=2, max_batch=8)
    r = await client.post("/describe/batch", json={"series": [SERIES] * 3})
    assert r.status_code == 422 and "at most 2 per call" in r.json()["detail"]


async def test_info_serves_the_loaded_version_without_rehashing(make_client, tmp_path, monkeypatch):
    adapter = tmp_path / "student"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    (adapter / "adapter_model.safetensors").write_bytes(b"v1")
    (adapter / "tsdescribe.json").write_text(json.dumps({"name": "v1", "prompt_style": "compact"}))
    _, client = await make_client(settings=Settings(preset="smollm2-135m", adapter=str(adapter)))
    loaded = (await client.get("/info")).json()["model"]
    (adapter / "adapter_model.safetensors").write_bytes(b"v2 shipped in place")
    (adapter / "tsdescribe.json").write_text(json.dumps({"name": "v2", "prompt_style": "compact"}))
    from service import deployment

    monkeypatch.setattr(deployment, "adapter_version", lambda *_: pytest.fail("/info hashed the adapter again"))
    now = (await client.get("/info")).json()["model"]
    assert now["version"] == loaded["version"] and now["student"]["name"] == "v1"


async def test_sigterm_drain_answers_the_queue_503_and_lets_running_requests_finish(make_client):
    app, client = await make_client(SlowBackend(seconds=0.5), max_in_flight=2, max_queue=20)
    requests = [asyncio.create_task(client.post("/describe", json={"series": SERIES})) for _ in range(10)]
    admission = app.state.service.admission
    for _ in range(200):  # until every request is running or queued (a fixed sleep lost some on a loaded machine)
        if admission.running == 2 and admission.waiting == 8:
            break
        await asyncio.sleep(0.01)
    assert (admission.running, admission.waiting) == (2, 8)
    app.state.service.drain(grace_s=5)
    responses = await asyncio.gather(*requests)
    codes = sorted(r.status_code for r in responses)
    assert codes == [200, 200] + [503] * 8
    refused = next(r for r in responses if r.status_code == 503)
    assert refused.headers["Retry-After"] and "shutting down" in refused.json()["detail"]
    assert (await client.post("/describe", json={"series": SERIES})).status_code == 503
    assert (await client.get("/ready")).status_code == 503


async def test_the_drain_cuts_running_requests_with_a_503_at_its_grace(make_client):
    app, client = await make_client(SlowBackend(seconds=10), max_in_flight=2)
    running = asyncio.create_task(client.post("/describe", json={"series": SERIES}))
    await asyncio.sleep(0.1)
    app.state.service.drain(grace_s=0.2)
    r = await asyncio.wait_for(running, 3)
    assert r.status_code == 503 and r.headers["Retry-After"]


async def test_engine_death_is_noticed_without_a_request(make_client):
    deaths = []
    backend = ScriptedBackend()
    _, client = await make_client(backend, engine_watch_s=0.05, on_engine_death=lambda: deaths.append(1))

    async def dead():
        raise EngineDead("engine core exited")

    backend.check_health = dead
    for _ in range(40):
        if deaths:
            break
        await asyncio.sleep(0.05)
    assert deaths == [1]
    assert (await client.get("/health")).status_code == 503


async def test_an_unhandled_error_is_a_json_500_with_the_request_id_and_counted(make_client):
    class Buggy(ScriptedBackend):
        async def generate(self, messages, params):
            raise KeyError("a bug")

    _, client = await make_client(Buggy())
    r = await client.post("/describe", json={"series": SERIES}, headers={"X-Request-Id": "job-1"})
    assert r.status_code == 500 and r.headers["X-Request-Id"] == "job-1" and "request id" in r.json()["detail"]
    assert 'tsd_requests_total{route="/describe",status="500"} 1.0' in (await client.get("/metrics")).text


async def test_a_413_by_content_length_is_logged_and_counted(make_client):
    _, client = await make_client(max_body_bytes=1000)
    r = await client.post("/describe", content=b"x" * 2000, headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.headers["X-Request-Id"]
    assert 'status="413"} 1.0' in (await client.get("/metrics")).text


def test_a_request_id_with_a_trailing_newline_is_replaced():
    assert request_id_from("job-42") == "job-42"
    assert request_id_from("job-42\n") != "job-42\n"


async def test_a_nul_byte_in_an_adapter_name_is_a_422(make_client):
    _, client = await make_client(admin_key_hash=hash_key("a"))
    r = await client.post("/admin/adapters/activate", json={"adapter": "x\u0000y"}, headers={"X-Admin-Key": "a"})
    assert r.status_code == 422 and "adapter" in r.json()["detail"]


async def test_the_rate_budget_is_charged_only_for_series_that_reach_the_engine(make_client):
    _, client = await make_client(rate_limit_per_minute=2, max_length=100)
    for _ in range(5):
        assert (await client.post("/describe", json={"series": [1.0] * 500})).status_code == 422
    codes = [(await client.post("/describe", json={"series": SERIES})).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
