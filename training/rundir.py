"""Run directories: each stage reads and writes files here and records what it did in manifest.json."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from service.atomic import atomic_directory, atomic_write  # noqa: F401 - the stages import them from here


class RunDir:
    """runs/<name>/ with a manifest of the stages that ran, their settings and outputs."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)

    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    def manifest(self) -> dict:
        if self.manifest_path.exists():
            return json.loads(self.manifest_path.read_text())
        return {"stages": {}}

    def record(self, stage: str, details: dict) -> None:
        """Store a stage's settings and results, with when it ran and at which git revision: under a lock (stages
        running at once keep each other's updates) and written whole (a kill leaves the old manifest, never half)."""
        with (self.path / ".manifest.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            manifest = self.manifest()
            manifest["stages"][stage] = {**details, "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
                                         "git": git_revision()}
            atomic_write(self.manifest_path, json.dumps(manifest, indent=2))

    def write_jsonl(self, name: str, records: Iterable[dict]) -> int:
        """Write records atomically (a crash leaves the old file, never half a new one)."""
        target = self.path / name
        partial = target.with_suffix(target.suffix + ".partial")
        count = 0
        with partial.open("w") as f:
            for record in records:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
                count += 1
            f.flush()
            os.fsync(f.fileno())
        partial.replace(target)
        return count

    def read_jsonl(self, name: str) -> Iterator[dict]:
        with (self.path / name).open() as f:
            for line in f:
                if line.strip():
                    yield json.loads(line)

    def file_hash(self, name: str) -> str:
        return hashlib.sha256((self.path / name).read_bytes()).hexdigest()[:16]


def git_revision() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
