"""The schema follows the deployed student: a student's manifest lists the fields it states; the engine is forced to
those, the checks cover those, /info lists them; the paper's three for students from before the registry."""

import json

import pytest

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


def test_a_manifest_naming_a_field_the_registry_lacks_is_refused_by_name(tmp_path):
    settings = student(tmp_path, fields=["trend", "sparkle"])
    with pytest.raises(ValueError, match="sparkle"):
        settings.description_fields
