"""Admission control: a bound on series running on the engine, and on series and points waiting; a first-come,
first-served queue; beyond the bounds, 429 at once."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from service.errors import DeadlineExceeded, Overloaded, RateLimited, ShuttingDown, TooLarge

__all__ = ["Admission", "DeadlineExceeded", "Overloaded", "RateLimited", "RateLimiter", "ShuttingDown", "TooLarge"]


@dataclass(eq=False)
class _Waiter:
    weight: int
    points: int
    granted: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class Admission:
    """Up to `max_running` series on the engine and `max_waiting` more queued, in arrival order; a request weighs its
    series count, and the points it holds (running or waiting) count against `max_points`."""

    def __init__(self, max_running: int, max_waiting: int, max_points: int | None = None):
        self.max_running = max_running
        self.max_waiting = max_waiting
        self.max_points = max_points
        self.running = 0
        self.waiting = 0
        self.points = 0
        self.closed: str | None = None
        self._queue: deque[_Waiter] = deque()

    @asynccontextmanager
    async def slot(self, weight: int = 1, points: int = 0) -> AsyncIterator[None]:
        """Hold `weight` running places for the duration; raises Overloaded when the queue is full too."""
        self._admissible(weight, points)
        self.points += points
        try:
            if not self._queue and self.running + weight <= self.max_running:
                self.running += weight
            else:
                await self._wait_in_line(weight, points)
            try:
                yield
            finally:
                self.running -= weight  # nothing awaited from here on: a deadline can't skip the release
                self._grant()
        finally:
            self.points -= points

    def _admissible(self, weight: int, points: int) -> None:
        if self.closed:
            raise ShuttingDown(self.closed)
        if weight > self.max_running:
            raise TooLarge(f"{weight} series in one call, but the engine runs at most {self.max_running} at once; "
                           f"send at most {self.max_running} per call")
        full = self.running + weight > self.max_running or self._queue
        if full and self.waiting + weight > self.max_waiting:
            raise Overloaded(f"the service is at capacity ({self.running} series running, {self.waiting} waiting); "
                             "retry after the Retry-After delay")
        if self.max_points is not None and self.points and self.points + points > self.max_points:
            raise Overloaded(f"the service holds {self.points} points of queued and running series; retry after the "
                             "Retry-After delay, or send shorter series")

    async def _wait_in_line(self, weight: int, points: int) -> None:
        waiter = _Waiter(weight, points)
        self._queue.append(waiter)
        self.waiting += weight
        try:
            await waiter.granted
        except BaseException:
            if waiter.granted.done() and not waiter.granted.cancelled() and waiter.granted.exception() is None:
                self.running -= weight  # granted just as the deadline fired: give the places back
                self._grant()
            elif waiter in self._queue:
                self._queue.remove(waiter)
                self.waiting -= weight
                self._grant()  # the head may have been the one blocking the others
            raise

    def _grant(self) -> None:
        """Let waiters in, in arrival order, while the head fits."""
        while self._queue and self.running + self._queue[0].weight <= self.max_running:
            waiter = self._queue.popleft()
            self.waiting -= waiter.weight
            if waiter.granted.cancelled():  # its deadline fired; its task hasn't run yet to leave the line
                continue
            self.running += waiter.weight
            waiter.granted.set_result(None)

    def close(self, reason: str) -> None:
        """Stop admitting: queued requests are answered at once with ShuttingDown; running ones go on."""
        self.closed = reason
        while self._queue:
            waiter = self._queue.popleft()
            self.waiting -= waiter.weight
            if not waiter.granted.done():
                waiter.granted.set_exception(ShuttingDown(reason))


class RateLimiter:
    """A fixed-window budget of series per caller per minute (None: unlimited); at most `max_callers` windows are kept
    (least recently used dropped), so spoofed identities can't grow the table without bound."""

    def __init__(self, per_minute: int | None, clock=time.monotonic, max_callers: int = 10_000):
        self.per_minute = per_minute
        self.clock = clock
        self.max_callers = max_callers
        self.windows: OrderedDict[str, tuple[int, int]] = OrderedDict()

    def spend(self, key: str, weight: int = 1) -> None:
        """Charge `weight` series to this caller's window, or raise RateLimited."""
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
        self.windows.move_to_end(key)
        while len(self.windows) > self.max_callers:
            self.windows.popitem(last=False)

    def refund(self, key: str, weight: int = 1) -> None:
        """Give back series that never reached the engine (refused, timed out in the queue, invalid)."""
        if self.per_minute is None or key not in self.windows:
            return
        start, used = self.windows[key]
        self.windows[key] = (start, max(0, used - weight))
