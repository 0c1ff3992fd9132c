"""What `make serve` serves on a fresh machine: the shipped adapter on the prepared base, prompted as trained."""

import json

import httpx
import numpy as np
import pytest

from tests.integration.conftest import ROOT, SMOLLM2_DIR

pytestmark = pytest.mark.integration
SHIPPED = ROOT / "models" / "adapters" / "smollm2-135m"


@pytest.fixture(scope="module")
def student(start_server):
    if not (SHIPPED / "adapter_config.json").exists():
        pytest.skip("no shipped adapter yet (make train ships one)")
    return start_server(TSD_PRESET="smollm2-135m", TSD_MODEL=str(SMOLLM2_DIR), TSD_ADAPTER=str(SHIPPED))


def test_shipped_adapter_is_small_and_has_a_manifest():
    if not SHIPPED.exists():
        pytest.skip("no shipped adapter yet")
    size = sum(p.stat().st_size for p in SHIPPED.iterdir())
    assert size <= 20 * 1024 * 1024
    manifest = json.loads((SHIPPED / "tsdescribe.json").read_text())
    assert {"base", "prompt_style", "data_hash", "config", "metrics", "git"} <= set(manifest)


def test_student_states_the_right_facts_on_clear_series(student):
    info = httpx.get(f"{student.url}/info").json()
    assert info["model"]["student"]["prompt_style"] == info["settings"]["prompt_style"]
    assert info["backend"]["adapter_mode"] == "merged"  # the CPU engine serves the adapter folded into the base
    t = np.linspace(0, 1, 300)
    rng = np.random.default_rng(5)
    cases = [2 + 5 * t + 0.05 * rng.normal(size=t.size), 40 - 9 * t**2 + 0.1 * rng.normal(size=t.size)]
    for values in cases:
        r = httpx.post(f"{student.url}/describe", json={"series": values.tolist(), "repair": False}, timeout=120)
        assert r.status_code == 200, r.text
        checks = r.json()["checks"]
        assert checks["trend"]["agrees"] and checks["max"]["agrees"] and checks["min"]["agrees"], checks
