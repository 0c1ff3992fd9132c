"""Admission control, deadlines, API keys, rate limits, request ids and engine death, through the ASGI app."""

import asyncio
import json
import logging

from service import logs
from service.backends.base import EngineDead
from service.logs import JsonFormatter
from service.security import hash_key
from tests.api.conftest import SlowBackend

SERIES = {"series": [float(i % 11) for i in range(64)]}


async def test_overload_gets_429_at_once_and_no_request_is_lost(make_client):
    app, client = await make_client(SlowBackend(seconds=0.2), max_in_flight=2, max_queue=2)
    responses = await asyncio.gather(*(client.post("/describe", json=SERIES) for _ in range(24)))
    codes = [r.status_code for r in responses]
    assert len(codes) == 24 and set(codes) == {200, 429}
    assert codes.count(200) >= 4  # 2 running + 2 queued were admitted
    refused = next(r for r in responses if r.status_code == 429)
    assert refused.headers["Retry-After"] == "1" and "capacity" in refused.json()["detail"]
    assert app.state.service.admission.running == 0 and app.state.service.admission.waiting == 0
    assert 'tsd_rejected_requests_total{reason="overloaded"}' in (await client.get("/metrics")).text


async def test_a_batch_weighs_its_series(make_client):
    _, client = await make_client(SlowBackend(seconds=0.1), max_in_flight=2, max_queue=0, max_batch=8)
    r = await client.post("/describe/batch", json={"series": [SERIES["series"]] * 2})
    assert r.status_code == 200
    first = asyncio.create_task(client.post("/describe/batch", json={"series": [SERIES["series"]] * 2}))
    await asyncio.sleep(0.03)
    second = await client.post("/describe", json=SERIES)
    assert second.status_code == 429
    assert (await first).status_code == 200


async def test_deadline_gives_504_and_cancels_the_engine_request(make_client):
    backend = SlowBackend(seconds=2.0)
    _, client = await make_client(backend, request_timeout_s=0.1)
    r = await client.post("/describe", json=SERIES)
    assert r.status_code == 504 and "within 0.1 s" in r.json()["detail"]
    assert backend.cancelled == 1


async def test_api_keys_are_required_when_configured_and_never_logged(make_client, caplog):
    _, client = await make_client(api_key_hashes=[hash_key("alpha-key"), hash_key("beta-key")])
    with caplog.at_level(logging.INFO):
        r = await client.post("/describe", json=SERIES)
        assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"
        assert "Authorization: Bearer" in r.json()["detail"]
        r = await client.post("/describe", json=SERIES, headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401 and "not recognised" in r.json()["detail"]
        r = await client.post("/describe", json=SERIES, headers={"Authorization": "Bearer beta-key"})
        assert r.status_code == 200
    assert (await client.get("/health")).status_code == 200  # probes stay open
    logged = "\n".join(JsonFormatter().format(record) for record in caplog.records)
    assert "beta-key" not in logged and "wrong" not in logged


async def test_rate_limit_per_key_gives_429_with_retry_after(make_client):
    _, client = await make_client(rate_limit_per_minute=3)
    codes = [(await client.post("/describe", json=SERIES)).status_code for _ in range(4)]
    assert codes[:3] == [200, 200, 200] and codes[3] == 429
    r = await client.post("/describe", json=SERIES)
    assert 1 <= int(r.headers["Retry-After"]) <= 60 and "3 series per minute" in r.json()["detail"]


async def test_request_id_is_echoed_or_generated_and_logged_as_json(make_client, caplog):
    _, client = await make_client()
    with caplog.at_level(logging.INFO, logger="service"):
        r = await client.post("/describe", json=SERIES, headers={"X-Request-Id": "job-42.a"})
        generated = await client.post("/describe", json=SERIES, headers={"X-Request-Id": "bad id with spaces"})
    assert r.headers["X-Request-Id"] == "job-42.a"
    assert len(generated.headers["X-Request-Id"]) == 32
    lines = [json.loads(JsonFormatter().format(rec)) for rec in caplog.records if rec.getMessage() == "request"]
    assert any(line["request_id"] == "job-42.a" and line["status"] == 200 and line["path"] == "/describe"
               for line in lines)


async def test_engine_death_fails_fast_turns_health_red_and_asks_to_exit(make_client):
    class Dying(SlowBackend):
        async def generate(self, messages, params):
            raise EngineDead("the vLLM engine died")

    deaths = []
    _, client = await make_client(Dying(), on_engine_death=lambda: deaths.append(1))
    r = await asyncio.wait_for(client.post("/describe", json=SERIES), timeout=5)
    assert r.status_code == 503 and r.headers["Retry-After"]
    assert (await client.get("/health")).status_code == 503
    await client.post("/describe", json=SERIES)
    assert deaths == [1]  # asked once to stop, so the orchestrator restarts the process


async def test_configured_json_logging_stamps_every_line_with_the_request_id(make_client, capsys):
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    logs.configure("info")  # the process-wide setup python -m service does; it once turned every request into a 500
    try:
        _, client = await make_client()
        r = await client.post("/describe", json=SERIES, headers={"X-Request-Id": "job-7"})
        logging.getLogger("service.test").info("inside no request")
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    assert r.status_code == 200
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    assert any(line["message"] == "request" and line["request_id"] == "job-7" for line in lines)
    assert "request_id" not in next(line for line in lines if line["message"] == "inside no request")
