"""Progress bars with rate and ETA for long-running stages."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def progress(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """tqdm on stderr (rate and ETA), quiet when not a terminal and no total is known."""
    from tqdm.auto import tqdm

    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    yield from tqdm(items, desc=description, total=total, file=sys.stderr, mininterval=2.0, dynamic_ncols=True)


async def gather_with_progress(coroutines: list[Awaitable[T]], description: str) -> list[T]:
    """asyncio.gather with a progress bar that advances as each coroutine finishes (results in input order)."""
    from tqdm.auto import tqdm

    bar = tqdm(total=len(coroutines), desc=description, file=sys.stderr, mininterval=2.0, dynamic_ncols=True)

    async def tracked(coroutine: Awaitable[T]) -> T:
        try:
            return await coroutine
        finally:
            bar.update(1)

    try:
        return list(await asyncio.gather(*(tracked(c) for c in coroutines)))
    finally:
        bar.close()
