"""Writes that are whole or absent: a file or a directory is built aside and renamed into place (the service's
adapter merges and training's stages use the same two helpers)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def atomic_write(path: Path, data: str | bytes) -> None:
    """Write a file whole or not at all: a temporary file beside it, fsynced (a power loss must not leave an empty
    file that a later step trusts), then renamed over it."""
    path = Path(path)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        with partial.open("wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_directory(final: Path) -> Iterator[Path]:
    """Yield a temporary directory beside `final`; when the block ends without error it becomes `final` (replacing
    it), else it is removed: whoever checks for a file inside `final` sees a whole directory or none."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".partial", dir=final.parent))
    try:
        yield partial
        partial.chmod(0o755)
        shutil.rmtree(final, ignore_errors=True)
        partial.rename(final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
