"""The model being served, and swapping it for another adapter version without failing requests in flight."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from service.adapters import adapter_version, missing_files
from service.backends.base import Backend
from service.errors import DeploymentBusy, DeploymentError, EngineUnavailable, InsufficientMemory
from service.memory import GIB, headroom, process_tree_pss
from service.settings import STUDENT_SETTINGS, Settings

log = logging.getLogger(__name__)


def check_adapter_dir(adapter: str) -> None:
    """Refuse a directory that is not a saved peft adapter, with what is missing."""
    directory = Path(adapter)
    if not directory.is_dir():
        raise DeploymentError(f"adapter directory {adapter!r} does not exist on the server")
    missing = missing_files(directory)
    if missing:
        raise DeploymentError(f"adapter directory {adapter!r} lacks {', '.join(missing)}")


@dataclass
class Deployed:
    """One loaded model: its settings, its engine, and the requests using it now."""

    settings: Settings
    backend: Backend
    activated_at: float = field(default_factory=time.time)
    in_flight: int = 0
    idle: asyncio.Event = field(default_factory=asyncio.Event)
    version: dict | None = None  # of the files loaded, read once: /info never hashes on the event loop
    manifest: dict | None = None

    def __post_init__(self) -> None:
        self.idle.set()
        if self.version is None:
            self.version = adapter_version(self.settings.adapter)
        if self.manifest is None:
            self.manifest = self.settings.student_manifest()


class Deployments:
    """The active deployment, the one before it, and one activation at a time."""

    def __init__(self, active: Deployed, make_backend: Callable[[Settings], Backend]):
        self.active = active
        self.previous_adapter: str | None = None
        self.previous_version: dict | None = None
        self.has_previous = False
        self.make_backend = make_backend
        self.swapping = asyncio.Lock()
        self.history: list[dict] = []

    @asynccontextmanager
    async def lease(self) -> AsyncIterator[Deployed]:
        """The deployment a request runs on; it stays loaded until every lease on it ends."""
        deployed = self.active
        deployed.in_flight += 1
        deployed.idle.clear()
        try:
            yield deployed
        finally:
            deployed.in_flight -= 1
            if deployed.in_flight == 0:
                deployed.idle.set()

    async def activate(self, adapter: str | None) -> Deployed:
        """Load the base with this adapter (None: the bare base) beside the running one, switch, drain, close."""
        if adapter is not None:
            check_adapter_dir(adapter)
        if self.swapping.locked():
            raise DeploymentBusy("another adapter activation is in progress; retry when it finishes")
        async with self.swapping:
            current = self.active
            settings = settings_for(current.settings, adapter)
            version = await asyncio.to_thread(adapter_version, adapter)  # read before the engine loads the files
            in_place = getattr(current.backend, "can_swap_in_place", None)
            if in_place is not None and in_place(settings):
                backend = current.backend.with_adapter(settings)
            else:
                backend = self.make_backend(settings)
                await asyncio.to_thread(self.check_room_for, backend, settings)
            started = time.monotonic()
            try:
                await backend.start()
            except Exception as error:
                await backend.close()
                raise EngineUnavailable(f"the new version failed to load ({type(error).__name__}: {error}); "
                                        "the current version keeps serving") from error
            fresh = Deployed(settings, backend, version=version, manifest=settings.student_manifest())
            self.active = fresh
            self.previous_adapter, self.previous_version, self.has_previous = (current.settings.adapter,
                                                                               current.version, True)
            self.history.append({"version": fresh.version, "load_seconds": round(time.monotonic() - started, 1),
                                 "at": fresh.activated_at})
            log.info("activated adapter %s; draining %d request(s) on the previous version", adapter,
                     current.in_flight)
            await current.idle.wait()
            await current.backend.close()
            return fresh

    @staticmethod
    def check_room_for(backend: Backend, settings: Settings) -> None:
        """Refuse a second engine that the configured (or cgroup, or host) memory can't hold beside this one."""
        needed = getattr(backend, "memory_needed", None)
        if needed is None or not settings.swap_memory_check:
            return
        need = needed()
        room = headroom(settings.memory_limit_bytes, process_tree_pss())
        if room is not None and need > room:
            raise InsufficientMemory(
                f"the new version needs a second engine of about {need / GIB:.1f} GiB beside the running one, but only "
                f"{max(room, 0) / GIB:.1f} GiB are free under the memory limit; the current version keeps serving. Raise "
                "the limit (TSD_MEMORY_LIMIT_BYTES / the pod's), serve adapters in LoRA mode (swapped in place), or "
                "restart with the new adapter")

    async def rollback(self) -> Deployed:
        """Activate the version that was active before the last activation."""
        if not self.has_previous:
            raise DeploymentError("nothing to roll back to: no adapter was activated since the service started")
        return await self.activate(self.previous_adapter)


def settings_for(current: Settings, adapter: str | None) -> Settings:
    """The same deployment settings with another adapter; the prompt style and the trained length follow the new
    adapter's manifest unless the operator pinned them."""
    values = current.model_dump(exclude={*STUDENT_SETTINGS, "adapter"})
    pinned = {name: getattr(current, name) for name in current.pinned}
    return Settings(**values, **pinned, adapter=adapter)
