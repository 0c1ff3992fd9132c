import asyncio
import json

import numpy as np
import pytest

SERIES = [float(i % 7 + i) for i in range(40)]


async def test_describe_returns_description_checks_model_and_usage(client, backend):
    r = await client.post("/describe", json={"series": SERIES})
    assert r.status_code == 200
    body = r.json()
    assert body["description"]["trend"] == "The series shows an increasing trend."
    assert body["checks"]["trend"]["agrees"] is True
    assert body["checks"]["noise"]["computed"] in ("low", "medium", "high")
    assert 0 <= body["checks"]["score"] <= 1
    assert body["model"] == {"name": "smollm2-135m-instruct", "adapter": None, "backend": "vllm", "prompt_style": "paper"}
    assert body["usage"] == {"prompt_tokens": 600, "completion_tokens": 40}
    assert body["series"]["input_length"] == 40 and body["series"]["encoded_length"] == 128
    messages, params = backend.calls[0]
    assert messages[0]["content"].endswith("]") and " Series: [" in messages[0]["content"]
    assert params.json_schema["required"] == ["trend", "noise", "extrema"]


async def test_server_timing_splits_engine_time_from_the_describe_step(client):
    r = await client.post("/describe", json={"series": SERIES})
    timings = dict(part.strip().split(";dur=") for part in r.headers["Server-Timing"].split(","))
    assert set(timings) == {"engine", "describe", "app"}
    assert 0 <= float(timings["engine"]) <= float(timings["describe"]) <= r.json()["latency_ms"] + 0.01
    assert float(timings["describe"]) <= float(timings["app"])


async def test_every_response_says_its_time_inside_the_app(client):
    r = await client.get("/health")
    name, _, duration = r.headers["Server-Timing"].partition(";dur=")
    assert name == "app" and float(duration) >= 0


async def test_self_check_off_gives_null_checks(client):
    r = await client.post("/describe", json={"series": SERIES, "self_check": False})
    assert r.status_code == 200 and r.json()["checks"] is None


async def test_repair_replaces_contradicted_fields(client):
    r = await client.post("/describe", json={"series": SERIES, "repair": True})
    body = r.json()
    assert body["checks"]["repaired"] == ["noise"]
    assert body["description"]["noise"] == body["checks"]["noise"]["fact"]


async def test_checked_labels_come_from_the_full_series_not_its_resample(client):
    # 10t + N(0, 0.15) is low noise at any length; min/max buckets made an envelope of it: medium at 1,000 points.
    t = np.linspace(0, 1, 1000)
    noisy_ramp = 10 * t + np.random.default_rng(0).normal(0, 0.15, t.size)
    checks = (await client.post("/describe", json={"series": noisy_ramp.tolist()})).json()["checks"]
    assert (checks["trend"]["computed"], checks["noise"]["computed"]) == ("increasing", "low")


async def test_a_tie_after_flooring_does_not_move_the_max(client):
    ramp = [float(i) for i in range(128)]
    ramp[5] = 126.5
    checks = (await client.post("/describe", json={"series": ramp})).json()["checks"]
    assert checks["max"]["computed"] == "end"


async def test_near_constant_series_is_flat_and_low(client):
    checks = (await client.post("/describe", json={"series": [100 + 1e-12 * (-1) ** i for i in range(64)]})).json()["checks"]
    assert (checks["trend"]["computed"], checks["noise"]["computed"]) == ("flat", "low")
    assert "constant" in checks["trend"]["fact"]


async def test_interpolated_gaps_are_counted(client):
    series = SERIES[:5] + [None] + SERIES[6:]
    r = await client.post("/describe", json={"series": series, "missing": "interpolate"})
    assert r.status_code == 200 and r.json()["series"]["filled_gaps"] == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"series": []}, "series is empty"),
        ({"series": [1, 2, 3]}, "at least 8"),
        ({"series": [1.0] * 5001}, "at most 5000"),
        ({"series": [1, "2", 3, 4, 5, 6, 7, 8]}, "series[1] must be a number or null, not str"),
        ({"series": [1, True, 3, 4, 5, 6, 7, 8]}, "series[1] must be a number or null, not bool"),
        ({"series": [[1, 2]] * 8}, "series[0] must be a number or null, not list"),
        ({"series": "1,2,3"}, "series"),
        ({}, "series is required"),
        ({"series": SERIES, "colour": "red"}, "colour is not a known field"),
        ({"series": SERIES[:3] + [None] + SERIES[4:]}, '"missing": "interpolate"'),
        ({"series": SERIES, "temperature": 5}, "temperature"),
        ({"series": SERIES, "missing": "drop"}, "missing"),
        ({"series": SERIES, "temperature": 0.7, "seed": 3}, "seed is not supported"),
    ],
)
async def test_bad_input_gets_422_with_a_message(client, body, message):
    r = await client.post("/describe", json=body)
    assert r.status_code == 422, r.text
    assert message in r.json()["detail"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"series": [1, NaN, 3, 4, 5, 6, 7, 8, 9]}', "series[1] must be finite"),
        (b'{"series": [1, Infinity, 3, 4, 5, 6, 7, 8, 9]}', "series[1] must be finite"),
        (b'{"series": [1, -Infinity, 3, 4, 5, 6, 7, 8, 9]}', "series[1] must be finite"),
        (b'{"series": [1, 1e999, 3, 4, 5, 6, 7, 8, 9]}', "series[1] must be finite"),
        (b'{"series": [1, 1' + b"0" * 400 + b', 3, 4, 5, 6, 7, 8, 9]}', "series[1] must fit in a 64-bit float"),
        (b'{"series": [1, 2, 3', "not valid JSON"),
        (b"[1, 2, 3]", "Input should be a valid dictionary"),
    ],
)
async def test_non_json_numbers_and_broken_bodies_get_422(client, raw, message):
    r = await client.post("/describe", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert message in r.json()["detail"]


async def test_huge_magnitudes_are_refused(client, settings):
    r = await client.post("/describe", json={"series": [1.0] * 9 + [1e200]})
    assert r.status_code == 422 and "exceeds the allowed magnitude" in r.json()["detail"]


async def test_oversized_body_gets_413(client):
    r = await client.post("/describe", json={"series": [1.5] * 60_000})
    assert r.status_code == 413
    assert "exceeds 200000 bytes" in r.json()["detail"]


async def test_oversized_streamed_body_without_length_gets_413(client):
    async def chunks():
        yield b'{"series": ['
        for _ in range(30):
            yield b"1.25," * 2000
        yield b"1]}"

    r = await client.post("/describe", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


async def test_batch_describes_each_series(client):
    r = await client.post("/describe/batch", json={"series": [SERIES, SERIES[::-1]]})
    assert r.status_code == 200
    body = r.json()
    assert len(body["results"]) == 2
    assert body["usage"]["prompt_tokens"] == 1200


async def test_batch_limits_and_bad_items(client):
    r = await client.post("/describe/batch", json={"series": [SERIES] * 5})
    assert r.status_code == 422 and "at most 4" in r.json()["detail"]
    r = await client.post("/describe/batch", json={"series": [SERIES, [1, 2]]})
    assert r.status_code == 422 and "batch item 1" in r.json()["detail"]
    r = await client.post("/describe/batch", json={"series": []})
    assert r.status_code == 422


async def test_invalid_model_output_is_a_502_not_a_500(client, backend):
    backend.text = '{"trend": "cut off'
    r = await client.post("/describe", json={"series": SERIES})
    assert r.status_code == 502
    assert "not a valid description" in r.json()["detail"]


async def test_dead_engine_gives_503_and_unhealthy(client, backend):
    backend.dead = True
    r = await client.post("/describe", json={"series": SERIES})
    assert r.status_code == 503 and r.headers["retry-after"]
    h = await client.get("/health")
    assert h.status_code == 503 and h.json()["status"] == "unhealthy"


async def test_not_ready_until_loaded(backend, settings, make_client):
    backend.loaded.clear()
    app, c = await make_client(backend, settings, wait=False)
    assert (await c.get("/ready")).status_code == 503
    assert (await c.get("/health")).status_code == 200
    r = await c.post("/describe", json={"series": SERIES})
    assert r.status_code == 503 and "loading" in r.json()["detail"]
    backend.loaded.set()
    await asyncio.wait_for(app.state.service.loading, 5)
    assert (await c.get("/ready")).status_code == 200


async def test_load_failure_is_unhealthy_and_reported(settings, make_client):
    class Broken:
        name = "broken"

        async def start(self):
            raise OSError("no weights at models/x")

        async def close(self):
            pass

    failures = []
    _, c = await make_client(Broken(), settings, on_load_failure=lambda: failures.append(1))
    h = await c.get("/health")
    assert h.status_code == 503 and "no weights" in h.json()["detail"]
    assert (await c.get("/ready")).status_code == 503
    assert failures == [1]


async def test_metrics_count_requests_tokens_and_self_check(client):
    await client.post("/describe", json={"series": SERIES})
    await client.post("/describe", json={"series": []})
    text = (await client.get("/metrics")).text
    assert 'tsd_requests_total{route="/describe",status="200"} 1.0' in text
    assert 'tsd_requests_total{route="/describe",status="422"} 1.0' in text
    assert "tsd_prompt_tokens_total 600.0" in text
    assert 'tsd_self_check_total{field="noise",result="contradicts"} 1.0' in text
    assert 'tsd_self_check_total{field="trend",result="agrees"} 1.0' in text
    assert "tsd_request_seconds_bucket" in text
    assert "tsd_in_flight_requests 0.0" in text
    assert 'tsd_model_info{adapter="None",backend="scripted",name="smollm2-135m-instruct",version="None"} 1.0' in text


async def test_info_and_openapi(client):
    info = (await client.get("/info")).json()
    assert info["model"]["preset"] == "smollm2-135m"
    assert info["settings"]["trained_length"] == 128
    assert info["tokens_per_digit"] == 1.0
    spec = (await client.get("/openapi.json")).json()
    assert "/describe" in spec["paths"] and "/describe/batch" in spec["paths"]
    assert (await client.get("/docs")).status_code == 200


async def test_web_page_is_served_self_contained(client):
    r = await client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    assert 'id="chart"' in page and 'fetch("describe"' in page and 'fetch("info")' in page
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "") and "https://" not in page  # nothing fetched from outside


async def test_the_page_and_its_vendored_csv_parser_are_served(client):
    page = await client.get("/")
    assert page.status_code == 200 and 'src="static/papaparse.min.js"' in page.text
    script = await client.get("/static/papaparse.min.js")
    assert script.status_code == 200 and "Papa Parse" in script.text and "javascript" in script.headers["content-type"]


async def test_every_metric_the_grafana_dashboard_queries_is_in_the_real_exposition(client):
    import re
    from pathlib import Path

    from prometheus_client.parser import text_string_to_metric_families

    await client.post("/describe", json={"series": SERIES})
    exposition = (await client.get("/metrics")).text
    exposed = set()
    for family in text_string_to_metric_families(exposition):
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"], "info": ["_info"]}
        exposed |= {family.name + s for s in suffixes.get(family.type, [""])} | {s.name for s in family.samples}
    dashboard = json.loads((Path(__file__).parents[2] / "deploy/grafana/dashboards/tsdescribe.json").read_text())
    queried = {m for panel in dashboard["panels"] for target in panel["targets"]
               for m in re.findall(r"\btsd_\w+", target["expr"])}
    assert queried and queried <= exposed, queried - exposed
