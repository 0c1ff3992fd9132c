"""The running service's state, one typed object (obtained in routes through the `service_state` dependency)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import Request

from service.admission import Admission, RateLimiter
from service.deployment import Deployments
from service.metrics import Metrics
from service.settings import Settings

log = logging.getLogger("service")


@dataclass
class ServiceState:
    settings: Settings
    deployments: Deployments
    metrics: Metrics
    admission: Admission
    rate_limiter: RateLimiter
    version: str
    on_load_failure: Callable[[], None] | None = None
    on_engine_death: Callable[[], None] | None = None
    ready: bool = False
    load_error: str | None = None
    engine_death: str | None = None
    tokens_per_digit: float | None = None
    loading: asyncio.Task | None = None
    draining: bool = False
    deadlines: set[asyncio.Timeout] = field(default_factory=set)  # of requests holding a place or waiting for one

    def engine_died(self, reason: str) -> None:
        """Record the engine's death once and ask the server to exit, so that the orchestrator restarts it."""
        if self.engine_death is not None:
            return
        self.engine_death = reason
        log.error("engine died: %s; stopping so that the orchestrator restarts this instance", reason)
        if self.on_engine_death:
            self.on_engine_death()

    def drain(self, grace_s: float) -> None:
        """SIGTERM: refuse new work and answer the queue at once (503); running requests get `grace_s` to finish."""
        if self.draining:
            return
        self.draining = True
        self.admission.close("this instance is shutting down; retry (another instance, or this one restarted, "
                             "will answer)")
        deadline = asyncio.get_running_loop().time() + grace_s
        for timeout in list(self.deadlines):
            if timeout.when() is None or timeout.when() > deadline:
                timeout.reschedule(deadline)
        log.info("draining: %d series running, queue answered 503, %.0f s to finish", self.admission.running, grace_s)


def service_state(request: Request) -> ServiceState:
    return request.app.state.service
