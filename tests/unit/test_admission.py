"""Admission bounds, the rate limiter's window and key hashing, as pure logic."""

import asyncio
import random

import pytest

from service.admission import Admission, Overloaded, RateLimited, RateLimiter, ShuttingDown, TooLarge
from service.security import hash_key, matches


async def test_admission_runs_then_queues_then_refuses():
    gate = Admission(max_running=1, max_waiting=1)
    release = asyncio.Event()

    async def hold():
        async with gate.slot():
            await release.wait()

    first = asyncio.create_task(hold())
    await asyncio.sleep(0)
    second = asyncio.create_task(hold())
    await asyncio.sleep(0)
    assert (gate.running, gate.waiting) == (1, 1)
    with pytest.raises(Overloaded):
        async with gate.slot():
            pass
    release.set()
    await asyncio.gather(first, second)
    assert (gate.running, gate.waiting) == (0, 0)


def test_rate_limiter_resets_each_minute():
    now = [120.0]
    limiter = RateLimiter(2, clock=lambda: now[0])
    limiter.spend("k")
    limiter.spend("k")
    with pytest.raises(RateLimited) as error:
        limiter.spend("k")
    assert error.value.retry_after == 60
    limiter.spend("other")
    now[0] = 181.0
    limiter.spend("k")
    assert RateLimiter(None).spend("k", 10_000) is None


def test_keys_are_matched_by_hash_only():
    stored = [hash_key("a"), hash_key("b").upper()]
    assert matches("b", stored) and not matches("c", stored) and not matches("", stored)
    assert len(hash_key("x")) == 64


async def test_deadlines_firing_at_every_stage_leave_no_capacity_taken():
    gate = Admission(max_running=8, max_waiting=10_000)
    rng = random.Random(0)

    async def request(deadline: float, work: float) -> None:
        try:
            async with asyncio.timeout(deadline):
                async with gate.slot(rng.choice([1, 1, 2, 3]), points=100):
                    await asyncio.sleep(work)
        except TimeoutError:
            pass

    for _ in range(10):  # every request's work ends at one instant; deadlines fall before, at and after it
        await asyncio.gather(*(request(0.01 + rng.choice([-0.002, 0, 0.0001, 0.002, 0.05]), 0.01)
                               for _ in range(200)))
    assert (gate.running, gate.waiting, gate.points, len(gate._queue)) == (0, 0, 0, 0)


async def test_a_deadline_at_the_moment_of_the_grant_gives_the_places_back():
    gate = Admission(max_running=1, max_waiting=4)
    release = asyncio.Event()

    async def hold():
        async with gate.slot():
            await release.wait()

    async def hold_then_cancel_the_next():
        async with gate.slot():
            await release.wait()
        assert gate.running == 1  # the release granted the waiter its place ...
        waiter.cancel()  # ... and its deadline fires before it runs

    holder = asyncio.create_task(hold_then_cancel_the_next())
    await asyncio.sleep(0)
    waiter = asyncio.create_task(hold())
    await asyncio.sleep(0)
    release.set()
    await holder
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert (gate.running, gate.waiting) == (0, 0)


async def test_the_queue_is_first_come_first_served_by_weight():
    gate = Admission(max_running=4, max_waiting=100)
    order: list[str] = []
    release = asyncio.Event()

    async def request(name: str, weight: int, hold: asyncio.Event | None = None):
        async with gate.slot(weight):
            order.append(name)
            if hold is not None:
                await hold.wait()

    running = [asyncio.create_task(request(f"r{i}", 1, release)) for i in range(3)]
    await asyncio.sleep(0)
    batch = asyncio.create_task(request("batch", 4))
    await asyncio.sleep(0)
    small = [asyncio.create_task(request(f"s{i}", 1)) for i in range(3)]  # one place is free, but the batch is first
    await asyncio.sleep(0)
    assert order == ["r0", "r1", "r2"] and gate.waiting == 7
    release.set()
    await asyncio.gather(*running, batch, *small)
    assert order == ["r0", "r1", "r2", "batch", "s0", "s1", "s2"]


async def test_a_call_larger_than_the_engine_bound_is_refused_not_squeezed_in():
    gate = Admission(max_running=4, max_waiting=100)
    with pytest.raises(TooLarge, match="at most 4 per call") as error:
        async with gate.slot(5):
            pass
    assert error.value.status == 422 and gate.running == 0


async def test_held_points_are_bounded_but_one_request_always_fits():
    gate = Admission(max_running=1, max_waiting=10, max_points=1000)
    release = asyncio.Event()

    async def hold(points):
        async with gate.slot(points=points):
            await release.wait()

    first = asyncio.create_task(hold(5000))  # alone: admitted although over the bound
    await asyncio.sleep(0)
    with pytest.raises(Overloaded, match="points"):
        async with gate.slot(points=10):
            pass
    release.set()
    await first
    assert gate.points == 0


async def test_close_answers_the_queue_at_once_and_lets_running_work_finish():
    gate = Admission(max_running=1, max_waiting=10)
    release = asyncio.Event()
    done = []

    async def hold():
        async with gate.slot():
            await release.wait()
            done.append(1)

    running = asyncio.create_task(hold())
    await asyncio.sleep(0)
    queued = [asyncio.create_task(hold()) for _ in range(3)]
    await asyncio.sleep(0)
    gate.close("draining")
    results = await asyncio.gather(*queued, return_exceptions=True)
    assert all(isinstance(r, ShuttingDown) and r.status == 503 for r in results)
    with pytest.raises(ShuttingDown):
        async with gate.slot():
            pass
    release.set()
    await running
    assert done == [1] and (gate.running, gate.waiting) == (0, 0)


def test_rate_limiter_keeps_a_bounded_table_and_refunds():
    limiter = RateLimiter(3, clock=lambda: 10.0, max_callers=100)
    for i in range(10_000):
        limiter.spend(f"spoofed-{i}")
    assert len(limiter.windows) == 100
    limiter.spend("k", 3)
    limiter.refund("k", 2)
    limiter.spend("k", 2)
    with pytest.raises(RateLimited):
        limiter.spend("k")
