"""The real service on the real vLLM CPU engine with SmolLM2-135M-Instruct, over real HTTP."""

import concurrent.futures
import json

import httpx
import numpy as np
import pytest

from core.schema import Description
from service.cpu import cpu_dtype
from tests.integration.conftest import SMOLLM2_DIR

pytestmark = pytest.mark.integration


def ornstein_uhlenbeck(n: int = 128, seed: int = 0) -> list[float]:
    rng = np.random.default_rng(seed)
    x, dt, out = rng.uniform(-2, 2), 1 / n, []
    theta, sigma = 0.7, 0.3
    for _ in range(n):
        x += theta * (0.5 - x) * dt + sigma * np.sqrt(dt) * rng.normal()
        out.append(float(x))
    return out


@pytest.fixture(scope="module")
def server(start_server):
    if not (SMOLLM2_DIR / "config.json").exists():
        pytest.fail(f"{SMOLLM2_DIR} missing: run `make base` (make test does it)")
    return start_server(TSD_PRESET="smollm2-135m")


def test_describe_answers_schema_valid_json(server):
    r = httpx.post(f"{server.url}/describe", json={"series": ornstein_uhlenbeck()}, timeout=120)
    assert r.status_code == 200, r.text
    body = r.json()
    Description.model_validate(body["description"])
    assert body["model"]["name"] == "smollm2-135m-instruct" and body["model"]["backend"] == "vllm"
    # 128 values at 2 digit tokens each, plus separators and the instruction
    assert body["usage"]["prompt_tokens"] > 2 * 128
    assert 0 < body["usage"]["completion_tokens"] <= 320
    assert set(body["checks"]) >= {"trend", "noise", "max", "min", "score"}


def test_served_tokenizer_spends_one_token_per_digit(server):
    info = httpx.get(f"{server.url}/info", timeout=10).json()
    assert info["tokens_per_digit"] == 1.0
    assert info["backend"]["engine"] == "vllm" and info["backend"]["device"] == "cpu"
    assert info["backend"]["dtype"] == cpu_dtype("auto")  # float32 on a CPU without native bf16


def test_raw_floats_of_other_lengths_are_resampled(server):
    long = (np.sin(np.linspace(0, 20, 1000)) * 1e4 + 3e5).tolist()
    short = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0]
    for series in (long, short):
        r = httpx.post(f"{server.url}/describe", json={"series": series, "repair": True}, timeout=120)
        assert r.status_code == 200, r.text
        assert r.json()["series"]["resampled"] is True
        assert r.json()["series"]["encoded_length"] == 128


def test_concurrent_requests_and_batch(server):
    series = [ornstein_uhlenbeck(seed=s) for s in range(4)]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(lambda s: httpx.post(f"{server.url}/describe", json={"series": s}, timeout=180).status_code, series))
    assert statuses == [200] * 4
    r = httpx.post(f"{server.url}/describe/batch", json={"series": series}, timeout=180)
    assert r.status_code == 200 and len(r.json()["results"]) == 4


def test_bad_input_over_http_is_a_422(server):
    r = httpx.post(f"{server.url}/describe", content=b'{"series": [1, NaN, 2]}', headers={"content-type": "application/json"})
    assert r.status_code == 422 and "must be finite" in r.json()["detail"]


def test_health_ready_and_metrics(server):
    assert httpx.get(f"{server.url}/health").json()["status"] == "ok"
    assert httpx.get(f"{server.url}/ready").status_code == 200
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'tsd_requests_total{route="/describe",status="200"}' in metrics
    assert "tsd_completion_tokens_total" in metrics


def test_sigterm_stops_cleanly(start_server):
    server = start_server(TSD_PRESET="smollm2-135m", TSD_MAX_NUM_SEQS="4")
    assert httpx.post(f"{server.url}/describe", json={"series": ornstein_uhlenbeck(seed=9)}, timeout=120).status_code == 200
    assert server.stop() == 0


def test_python_clients_and_cli_against_the_real_server(server, tmp_path):
    import asyncio
    import subprocess
    import sys

    from clients.client import AsyncClient, Client, ClientError

    with Client(server.url) as client:
        result = client.describe(ornstein_uhlenbeck(200, seed=3))
        assert result.series["input_length"] == 200 and set(result.checks) == {"trend", "noise", "max", "min"}
        with pytest.raises(ClientError) as refused:
            client.describe([1.0, 2.0])
        assert refused.value.status == 422 and "at least" in str(refused.value)

    async def many():
        async with AsyncClient(server.url) as client:
            return await client.describe_many([ornstein_uhlenbeck(128, seed=s) for s in range(4)], concurrency=4)

    results = asyncio.run(many())
    assert len(results) == 4 and all(r.usage["completion_tokens"] > 0 for r in results)
    csv = tmp_path / "prices.csv"
    csv.write_text("day,price\n" + "\n".join(f"{i},{v:.4f}" for i, v in enumerate(ornstein_uhlenbeck(64, seed=9))))
    out = subprocess.run([sys.executable, "-m", "clients.cli", "describe", str(csv), "--column", "price", "--json",
                          "--url", server.url], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["series"]["input_length"] == 64
