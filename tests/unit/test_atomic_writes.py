"""Files later steps trust by their presence are written whole or not at all."""

import json
import multiprocessing

import pytest

from training.rundir import RunDir, atomic_directory, atomic_write


def record_many(path: str, worker: int) -> None:
    run = RunDir(path)
    for i in range(20):
        run.record(f"stage-{worker}-{i}", {"i": i})


def test_concurrent_stages_keep_each_others_manifest_updates(tmp_path):
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=record_many, args=(str(tmp_path), w)) for w in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    stages = json.loads((tmp_path / "manifest.json").read_text())["stages"]
    assert len(stages) == 80


def test_a_failed_write_leaves_the_old_file_and_no_partial(tmp_path, monkeypatch):
    target = tmp_path / "chart.png"
    atomic_write(target, b"old")

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr("os.fsync", broken_fsync)
    with pytest.raises(OSError):
        atomic_write(target, b"new and longer")
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["chart.png"]


def test_a_directory_appears_whole_or_not_at_all(tmp_path):
    out = tmp_path / "base"
    with pytest.raises(KeyboardInterrupt), atomic_directory(out) as partial:
        (partial / "config.json").write_text("{}")
        raise KeyboardInterrupt  # killed before the weights were written
    assert not out.exists() and list(tmp_path.iterdir()) == []
    with atomic_directory(out) as partial:
        (partial / "model.safetensors").write_bytes(b"w")
        (partial / "config.json").write_text("{}")
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors"]
