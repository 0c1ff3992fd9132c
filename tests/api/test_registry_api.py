"""The schema follows the deployed student: a student's manifest lists the fields it states; the engine is forced to
those, the checks cover those, /info lists them; the paper's three for students from before the registry."""

import json
import re
import threading
from datetime import date, timedelta

import pytest

from core import facts
from service.settings import Settings
from tests.api.conftest import ScriptedBackend

SERIES = [float(i % 17) + i * 0.1 for i in range(128)]
TWO_FIELDS = '{"trend":"The series shows an increasing trend.","noise":"The noise intensity is high."}'


def student(tmp_path, **manifest):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    (adapter / "adapter_model.safetensors").write_bytes(b"x")
    (adapter / "tsdescribe.json").write_text(json.dumps({"name": "s", "prompt_style": "compact", **manifest}))
    return Settings(preset="smollm2-135m", adapter=str(adapter))


async def test_a_student_of_two_fields_is_forced_to_two_and_checked_on_two(tmp_path, make_client):
    backend = ScriptedBackend(TWO_FIELDS)
    _, client = await make_client(backend, student(tmp_path, fields=["trend", "noise"]))
    info = (await client.get("/info")).json()["settings"]
    assert info["fields"] == ["trend", "noise"] and info["checked_fields"] == ["trend", "noise"]
    response = await client.post("/describe", json={"series": SERIES})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body["description"]) == {"trend", "noise"}
    assert body["checks"]["trend"]["computed"] and body["checks"]["max"] is None
    schema = backend.calls[-1][1].json_schema
    assert set(schema["required"]) == {"trend", "noise"} and "extrema" not in schema["properties"]


async def test_a_student_without_fields_in_its_manifest_keeps_the_papers_three(tmp_path, make_client):
    backend = ScriptedBackend()
    _, client = await make_client(backend, student(tmp_path))
    assert (await client.get("/info")).json()["settings"]["fields"] == ["trend", "noise", "extrema"]
    body = (await client.post("/describe", json={"series": SERIES})).json()
    assert set(body["description"]) == {"trend", "noise", "extrema"}
    assert all(body["checks"][name]["computed"] for name in ("trend", "noise", "max", "min"))
    assert set(backend.calls[-1][1].json_schema["required"]) == {"trend", "noise", "extrema"}


async def test_a_scratchpad_student_is_asked_for_its_reading_first_and_the_response_never_carries_it(
        tmp_path, make_client):
    reading = '{"reading":"highest 9, lowest 0, start 10, end 88, step 3",' + TWO_FIELDS[1:]
    backend = ScriptedBackend(reading)
    _, client = await make_client(backend, student(tmp_path, fields=["trend", "noise"], scratchpad=True))
    assert (await client.get("/info")).json()["settings"]["scratchpad"] is True
    response = await client.post("/describe", json={"series": SERIES})
    assert response.status_code == 200, response.text
    assert response.json()["description"] == json.loads(TWO_FIELDS)
    schema = backend.calls[-1][1].json_schema
    assert list(schema["properties"]) == ["reading", "trend", "noise"] and "reading" in schema["required"]


async def test_a_student_trained_extrema_first_is_asked_in_its_order_with_its_reading_right_before_the_trend(
        tmp_path, make_client):
    answer = ('{"extrema":"The global maximum is located at the end, while the global minimum is positioned at the '
              'beginning.","reading":"start 10, end 88, change +78",' + TWO_FIELDS[1:])
    backend = ScriptedBackend(answer)
    _, client = await make_client(backend, student(tmp_path, fields=["extrema", "trend", "noise"], scratchpad=True))
    assert (await client.get("/info")).json()["settings"]["fields"] == ["extrema", "trend", "noise"]
    response = await client.post("/describe", json={"series": SERIES})
    assert response.status_code == 200, response.text
    assert list(response.json()["description"]) == ["extrema", "trend", "noise"]
    assert "reading" not in response.json()["description"]
    schema = backend.calls[-1][1].json_schema
    assert list(schema["properties"]) == ["extrema", "reading", "trend", "noise"]
    assert "max/min" in backend.calls[-1][0][-1]["content"]  # the prompt names the fields as before


async def test_a_student_without_a_scratchpad_is_not_asked_for_one(tmp_path, make_client):
    backend = ScriptedBackend(TWO_FIELDS)
    _, client = await make_client(backend, student(tmp_path, fields=["trend", "noise"]))
    assert (await client.get("/info")).json()["settings"]["scratchpad"] is False
    assert (await client.post("/describe", json={"series": SERIES})).status_code == 200
    assert "reading" not in backend.calls[-1][1].json_schema["properties"]


def test_a_manifest_naming_a_field_the_registry_lacks_is_refused_by_name(tmp_path):
    settings = student(tmp_path, fields=["trend", "sparkle"])
    with pytest.raises(ValueError, match="sparkle"):
        _ = settings.description_fields


SIX_FIELDS = ('{"trend":"The series shows no clear trend; it stays flat.","noise":"The noise intensity is low.",'
              '"extrema":"The global maximum is in the middle and the global minimum is at the beginning.",'
              '"seasonality":"There is no clear seasonality in the series.","outliers":"There is one outlier, in the '
              'middle.","shift":"The level shifts up in the middle."}')
SPIKE = [float(i % 2) * 0.1 for i in range(200)]
SPIKE[90] = 50.0


async def test_a_six_field_student_is_checked_on_every_feature_with_its_evidence(tmp_path, make_client):
    backend = ScriptedBackend(SIX_FIELDS)
    _, client = await make_client(backend, student(tmp_path, fields=["trend", "noise", "extrema", "seasonality",
                                                                     "outliers", "shift"]))
    info = (await client.get("/info")).json()["settings"]
    assert info["checked_fields"] == ["trend", "noise", "max", "min", "seasonality", "outliers", "shift"]
    body = (await client.post("/describe", json={"series": SPIKE})).json()
    checks = body["checks"]
    assert checks["outliers"] == {**checks["outliers"], "stated": "one", "computed": "one", "agrees": True}
    assert checks["outliers"]["evidence"] == {"outlier_count": 1, "outlier_indices": [90]}
    assert checks["max"]["evidence"] == {"argmax": 90, "max_value": 50.0}
    assert checks["shift"]["stated"] == "up" and checks["shift"]["computed"] == "none" and not checks["shift"]["agrees"]
    assert set(checks["trend"]["evidence"]) == {"trend_delta", "trend_change"} and checks["max"]["times"] is None
    assert "seasonality" in backend.calls[-1][1].json_schema["required"]


async def test_timestamps_give_positions_as_times_and_uneven_ones_are_resampled(tmp_path, make_client):
    _, client = await make_client(ScriptedBackend())
    days = [f"2024-{1 + i // 28:02d}-{1 + i % 28:02d}" for i in range(200)]  # 28 days a month: uneven at month ends
    body = (await client.post("/describe", json={"series": SPIKE, "timestamps": days})).json()
    assert body["series"]["time_resampled"] is True
    even = [1_700_000_000 + 3600 * i for i in range(200)]
    body = (await client.post("/describe", json={"series": SPIKE, "timestamps": even})).json()
    assert body["series"]["time_resampled"] is False
    assert body["checks"]["max"]["times"] == {"argmax_time": 1_700_000_000 + 3600 * 90}
    iso = [f"2024-03-01T{h:02d}:00:00" for h in range(24)]
    body = (await client.post("/describe", json={"series": SPIKE[80:104], "timestamps": iso})).json()
    assert body["checks"]["max"]["times"] == {"argmax_time": "2024-03-01T10:00:00"}


@pytest.mark.parametrize("timestamps, message", [
    (list(range(199)), "timestamps has 199 entries but series has 200"),
    ([*range(199), 5], r"strictly increasing; timestamps\[199\]"),
    ([*range(199), "soon"], "mix ISO 8601 strings and numbers"),
    (["yesterday"] * 200, r"timestamps\[0\] = 'yesterday' is not an ISO 8601"),
])
async def test_bad_timestamps_are_a_422_that_says_what_to_fix(make_client, timestamps, message):
    _, client = await make_client(ScriptedBackend())
    response = await client.post("/describe", json={"series": SPIKE, "timestamps": timestamps})
    assert response.status_code == 422, response.text
    assert re.search(message, response.text), response.text


async def test_a_batch_takes_one_timestamps_list_or_null_per_series(make_client):
    _, client = await make_client(ScriptedBackend())
    body = {"series": [SPIKE, SPIKE], "timestamps": [None, list(range(200))]}
    results = (await client.post("/describe/batch", json=body)).json()["results"]
    assert results[0]["checks"]["max"]["times"] is None and results[1]["checks"]["max"]["times"] == {"argmax_time": 90.0}
    response = await client.post("/describe/batch", json={"series": [SPIKE, SPIKE], "timestamps": [None]})
    assert response.status_code == 422 and "one list (or null) per series" in response.text


async def test_all_features_reports_every_rule_for_a_three_field_student_without_checking_more(make_client):
    backend = ScriptedBackend()
    _, client = await make_client(backend)
    values = [10.0 * (i >= 120) + (i % 2) * 0.1 for i in range(200)]
    values[40] = 60.0
    body = (await client.post("/describe", json={"series": values, "all_features": True})).json()
    features = body["features"]
    assert list(features) == ["trend", "noise", "max", "min", "seasonality", "outliers", "shift"]
    assert features["outliers"]["computed"] == "one" and features["outliers"]["evidence"]["outlier_indices"] == [40]
    assert features["shift"]["computed"] == "up" and features["shift"]["evidence"]["shift_index"] == 120
    assert features["seasonality"] == {**features["seasonality"], "computed": "none"}
    assert body["checks"]["seasonality"] is None and set(body["description"]) == {"trend", "noise", "extrema"}
    assert (await client.post("/describe", json={"series": values})).json()["features"] is None


async def test_with_timestamps_a_repaired_field_and_the_features_name_the_callers_dates(make_client):
    _, client = await make_client(ScriptedBackend())  # states the max at the end; SPIKE's max is point 90
    days = [(date(2024, 1, 1) + timedelta(days=i)).isoformat() for i in range(200)]
    body = (await client.post("/describe", json={"series": SPIKE, "timestamps": days, "repair": True,
                                                 "all_features": True})).json()
    assert "extrema" in body["checks"]["repaired"]
    assert "(on 2024-03-31)" in body["description"]["extrema"] and "(on 2024-03-31)" in body["checks"]["max"]["fact"]
    assert body["checks"]["max"]["times"] == {"argmax_time": "2024-03-31T00:00:00"}
    assert "(on 2024-03-31)" in body["features"]["outliers"]["fact"]
    plain = (await client.post("/describe", json={"series": SPIKE, "repair": True})).json()
    assert "(on " not in plain["description"]["extrema"]


async def test_the_rules_run_off_the_event_loop_while_the_engine_generates(make_client, monkeypatch):
    seen = []
    compute = facts.compute_features

    def recording(values, fields=None):
        seen.append(threading.current_thread() is threading.main_thread())
        return compute(values, fields)

    monkeypatch.setattr(facts, "compute_features", recording)
    _, client = await make_client(ScriptedBackend())
    response = await client.post("/describe", json={"series": SPIKE})
    assert response.status_code == 200 and response.json()["checks"]["max"]["computed"] == "middle"
    assert seen == [False]


async def test_a_student_trained_on_64_points_is_sent_64_and_the_rules_still_read_every_point(tmp_path, make_client):
    backend = ScriptedBackend()
    _, client = await make_client(backend, student(tmp_path, trained_length=64))
    assert (await client.get("/info")).json()["settings"]["trained_length"] == 64
    series = [0.0] * 300
    series[150] = 5.0  # the max in the middle, beyond the 64 points a plain decimation would keep
    body = (await client.post("/describe", json={"series": series})).json()
    shown = backend.calls[-1][0][-1]["content"].split("Series: ")[1].split()
    assert len(shown) == 64 and shown.index("99") == round(150 * 63 / 299)
    assert body["checks"]["max"]["computed"] == "middle"
