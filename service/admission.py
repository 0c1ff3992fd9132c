"""Admission control: a bound on series running on the engine and on series waiting; beyond it, 429 at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class Overloaded(RuntimeError):
    """Both the running and the waiting places are taken: the client should retry after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class DeadlineExceeded(RuntimeError):
    """The request did not finish within TSD_REQUEST_TIMEOUT_S (queue wait included)."""


class RateLimited(RuntimeError):
    """This API key spent its budget for the current window."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class Admission:
    """Up to `max_running` series on the engine and `max_waiting` more queued; a request weighs its series count."""

    def __init__(self, max_running: int, max_waiting: int):
        self.max_running = max_running
        self.max_waiting = max_waiting
        self.running = 0
        self.waiting = 0
        self._freed = asyncio.Condition()

    @asynccontextmanager
    async def slot(self, weight: int = 1) -> AsyncIterator[None]:
        """Hold `weight` running places for the duration; raises Overloaded when the queue is full too."""
        weight = min(weight, self.max_running)
        if self.running + weight > self.max_running and self.waiting + weight > self.max_waiting:
            raise Overloaded(f"the service is at capacity ({self.running} series running, {self.waiting} waiting); "
                             "retry after the Retry-After delay", retry_after=1)
        async with self._freed:
            if self.running + weight > self.max_running:
                self.waiting += weight
                try:
                    await self._freed.wait_for(lambda: self.running + weight <= self.max_running)
                finally:
                    self.waiting -= weight
            self.running += weight
        try:
            yield
        finally:
            async with self._freed:
                self.running -= weight
                self._freed.notify_all()


class RateLimiter:
    """A fixed-window budget of series per API key per minute (None: unlimited)."""

    def __init__(self, per_minute: int | None, clock=time.monotonic):
        self.per_minute = per_minute
        self.clock = clock
        self.windows: dict[str, tuple[int, int]] = {}

    def spend(self, key: str, weight: int = 1) -> None:
        if self.per_minute is None:
            return
        now = self.clock()
        window = int(now // 60)
        start, used = self.windows.get(key, (window, 0))
        if start != window:
            used = 0
        if used + weight > self.per_minute:
            raise RateLimited(f"rate limit of {self.per_minute} series per minute reached for this API key",
                              retry_after=max(1, int(60 - now % 60)))
        self.windows[key] = (window, used + weight)
