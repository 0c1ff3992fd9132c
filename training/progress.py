"""Progress bars with rate and ETA for long-running stages."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def progress(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """tqdm on stderr (rate and ETA), quiet when not a terminal and no total is known."""
    from tqdm.auto import tqdm

    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    yield from tqdm(items, desc=description, total=total, file=sys.stderr, mininterval=2.0, dynamic_ncols=True)
