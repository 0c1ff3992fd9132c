"""A realistic mix for /describe: lengths 64–2,000, several families, raw floats, some batch calls.

    make loadtest USERS=16 DURATION=2m HOST=http://127.0.0.1:8000
"""

from __future__ import annotations

import random

import numpy as np
from locust import HttpUser, between, task

from training.generate import OOD_FAMILIES, generate_ou, ood_series

LENGTHS = (64, 128, 128, 128, 256, 500, 1000, 2000)


def make_pool(size: int = 200, seed: int = 7) -> list[list[float]]:
    """Pre-built series so the load generator spends its time on HTTP, not numpy."""
    rng = np.random.default_rng(seed)
    pool = [r["values"] for r in generate_ou(size // 2, seed)]
    for i in range(size - len(pool)):
        family = OOD_FAMILIES[i % len(OOD_FAMILIES)]
        pool.append(ood_series(family, rng, int(LENGTHS[i % len(LENGTHS)])).tolist())
    return pool


POOL = make_pool()


class DescribeUser(HttpUser):
    wait_time = between(0.0, 0.5)

    @task(10)
    def describe(self):
        with self.client.post("/describe", json={"series": random.choice(POOL)}, name="/describe",
                              catch_response=True) as response:
            if response.status_code == 429:
                response.success()  # admission control said "later": expected under overload
            elif response.status_code != 200:
                response.failure(f"{response.status_code}: {response.text[:200]}")

    @task(1)
    def describe_batch(self):
        batch = random.sample(POOL, 4)
        with self.client.post("/describe/batch", json={"series": batch}, name="/describe/batch",
                              catch_response=True) as response:
            if response.status_code not in (200, 429):
                response.failure(f"{response.status_code}: {response.text[:200]}")
