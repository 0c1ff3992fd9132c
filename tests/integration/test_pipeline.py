"""The whole training pipeline, stage by stage from the command line, on a tiny Qwen2 in a few minutes."""

import json
import subprocess
import sys

import pytest

from tests.integration.conftest import ROOT
from training.prepare_base import prepare_tiny_qwen2

pytestmark = pytest.mark.integration


def stage(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{args[0]} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return done.stdout


def test_pipeline_end_to_end_on_a_tiny_model(tmp_path):
    base = prepare_tiny_qwen2(tmp_path / "base")
    run = str(tmp_path / "run")
    companion = tmp_path / "companion.jsonl"
    levels = [min(99, i * 99 // 127) for i in range(128)]
    companion.write_text(json.dumps({"index": 1, "input": "Series: [" + ", ".join(f"{v:02d}" for v in levels) + "]",
                                     "output": json.dumps({"trend": "The series shows an increasing trend.",
                                                           "noise": "The noise intensity is high.",
                                                           "extrema": "The maximum is at the end."})}) + "\n")
    stage("training.generate", "--run", run, "--count", "40", "--world-count", "34", "--ood-count", "6")
    stage("training.realworld", "--run", run, "--count", "8")
    stage("training.render", "--run", run, "--limit", "3")
    stage("training.annotate", "--run", run, "--teacher", "rules")
    stage("training.annotate", "--run", run, "--teacher", "import", "--file", str(companion), "--out", "teacher.jsonl")
    report = json.loads(stage("training.factcheck", "--run", run, "--source", "teacher.jsonl", "--out", "checked_teacher.jsonl"))
    assert report["agreement"]["noise"] == 0.0 and report["actions"] == {"corrected": 1}
    stage("training.factcheck", "--run", run)
    stage("training.dataset", "--run", run, "--sources", "checked_teacher.jsonl", "checked.jsonl", "--test", "0.2",
          "--train-size", "40", "--draw", "cells")
    stage("training.finetune", "--run", run, "--set", f"base={base}", "max_steps=3", "batch_size=2",
          "target_modules=[q_proj,v_proj]", "checkpoint_every=2", "compile=false")
    stage("training.evaluate", "--run", run, "--limit", "4")
    stage("training.merge", "--run", run, "--ship", str(tmp_path / "shipped"))

    run_dir = tmp_path / "run"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert {"generate", "render", "dataset", "finetune", "evaluate", "merge"} <= set(manifest["stages"])
    assert manifest["stages"]["finetune"]["steps"] == 3
    assert len(list((run_dir / "charts").glob("*.png"))) == 3
    results = json.loads((run_dir / "eval" / "results.json").read_text())
    assert set(results["models"]) == {"base (paper prompt)", "student (compact prompt)"}
    report = (run_dir / "eval" / "report.md").read_text()
    assert "| student (compact prompt) | in_distribution |" in report
    assert "| student (compact prompt) | real_world | 8 |" in report and "trend flat" in report
    classes = manifest["stages"]["dataset"]["classes"]["train"]
    assert manifest["stages"]["dataset"]["draw"] == "cells" and manifest["stages"]["dataset"]["teachers"]["train"]["rules"] == 40
    assert sum(classes["cells"].values()) == sum(manifest["stages"]["dataset"]["teachers"]["train"].values())
    assert manifest["stages"]["realworld"]["count"] == 8
    for plot in ("loss.png", "accuracy.png", "confusion.png", "ood_by_family.png", "examples.png"):
        assert (run_dir / "eval" / plot).read_bytes()[:4] == b"\x89PNG", plot
    shipped = json.loads((tmp_path / "shipped" / "tsdescribe.json").read_text())
    assert shipped["prompt_style"] == "compact" and shipped["base"] == str(base)
    assert (tmp_path / "shipped" / "adapter_model.safetensors").exists()
    assert (run_dir / "merged" / "model.safetensors").exists()
