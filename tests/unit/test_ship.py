"""Shipping a student never writes into a directory that may be being served."""

import json

import pytest

torch = pytest.importorskip("torch")

from safetensors.torch import save_file  # noqa: E402

from training.merge import ship  # noqa: E402
from training.rundir import RunDir  # noqa: E402


def make_run(tmp_path, scale: float) -> RunDir:
    run = RunDir(tmp_path / f"run{scale}")
    (run.path / "adapter").mkdir()
    (run.path / "adapter" / "adapter_config.json").write_text(json.dumps({"r": 4}))
    save_file({"lora_A": torch.ones(2, 2) * scale}, run.path / "adapter" / "adapter_model.safetensors")
    return run


def test_ship_goes_beside_an_existing_version_and_is_idempotent(tmp_path):
    target = tmp_path / "adapters" / "student"
    first = ship(make_run(tmp_path, 1.0), target)
    assert first == target and json.loads((target / "tsdescribe.json").read_text())["name"] == "run1.0"
    served = {p.name: p.read_bytes() for p in target.iterdir()}
    retrained = make_run(tmp_path, 2.0)
    second = ship(retrained, target)
    assert second != target and second.name.startswith("student-")
    assert {p.name: p.read_bytes() for p in target.iterdir()} == served  # the served version is untouched
    assert ship(retrained, target) == second  # the same weights: the same version
    assert sorted(p.name for p in target.parent.iterdir()) == sorted(["student", second.name])  # no partials left


def test_a_shipped_version_is_readable_by_the_images_user(tmp_path):
    """safetensors writes its file 0600: the image's user (uid 1000) could not read a root-shipped adapter mounted
    into compose (PermissionError at start, a restart loop)."""
    shipped = ship(make_run(tmp_path, 1.0), tmp_path / "adapters" / "student")
    modes = {p.name: p.stat().st_mode & 0o777 for p in shipped.iterdir()}
    assert all(mode & 0o444 == 0o444 for mode in modes.values()), modes
    assert shipped.stat().st_mode & 0o555 == 0o555
