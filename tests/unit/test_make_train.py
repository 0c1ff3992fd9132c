"""`make train`'s stages as make would run them (dry run): the hour is not spent on the untrained base."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def dry_run(*args: str) -> list[str]:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    done = subprocess.run(["make", "-n", "train", "RUN=runs/dry", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return [line for line in done.stdout.splitlines() if "-m training.evaluate" in line]


def test_make_train_evaluates_the_student_only_unless_asked_for_the_base():
    (default,) = dry_run()
    assert default.endswith("--no-base") and "--run runs/dry" in default
    (with_base,) = dry_run("EVAL_BASE=1")
    assert "--no-base" not in with_base
