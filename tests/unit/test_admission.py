"""Admission bounds, the rate limiter's window and key hashing, as pure logic."""

import asyncio

import pytest

from service.admission import Admission, Overloaded, RateLimited, RateLimiter
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
