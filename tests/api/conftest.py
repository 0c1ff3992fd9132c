import asyncio

import httpx
import pytest
from asgi_lifespan import LifespanManager

from service.app import create_app
from service.backends.base import EngineUnavailable, Generation, UnsupportedRequest
from service.settings import Settings

GOOD = (
    '{"trend":"The series shows an increasing trend.","noise":"The noise intensity is high.",'
    '"extrema":"The global maximum is at the end and the global minimum is at the beginning."}'
)


class ScriptedBackend:
    """Test double: answers with a fixed text; can be held in loading, fail, or refuse seeds."""

    name = "scripted"

    def __init__(self, text: str = GOOD):
        self.text = text
        self.loaded = asyncio.Event()
        self.loaded.set()
        self.dead = False
        self.calls = []

    async def start(self):
        await self.loaded.wait()

    async def generate(self, messages, params):
        if self.dead:
            raise EngineUnavailable("engine died")
        if params.seed is not None and params.temperature > 0:
            raise UnsupportedRequest("seed is not supported with temperature > 0 on the CPU engine")
        self.calls.append((messages, params))
        return Generation(self.text, prompt_tokens=600, completion_tokens=40, finish_reason="stop")

    async def check_health(self):
        if self.dead:
            raise EngineUnavailable("engine died")

    async def close(self):
        pass

    def info(self):
        return {"engine": "scripted"}

    def count_tokens(self, text):
        return len(text)


class SlowBackend(ScriptedBackend):
    """Takes `seconds` to answer (and `load_seconds` to load); counts cancellations, and remembers whether it was
    closed while still answering."""

    def __init__(self, settings=None, seconds: float = 0.05, load_seconds: float = 0.0):
        super().__init__()
        self.settings = settings
        self.seconds = seconds
        self.load_seconds = load_seconds
        self.active = 0
        self.cancelled = 0
        self.closed = False
        self.closed_while_busy = False

    async def start(self):
        await asyncio.sleep(self.load_seconds)

    async def generate(self, messages, params):
        assert not self.closed, "request reached a closed engine"
        self.active += 1
        try:
            await asyncio.sleep(self.seconds)
            return await super().generate(messages, params)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.active -= 1

    async def close(self):
        self.closed_while_busy |= self.active > 0
        self.closed = True


@pytest.fixture
def backend():
    return ScriptedBackend()


@pytest.fixture
def settings():
    return Settings(preset="smollm2-135m", max_body_bytes=200_000, max_batch=4, max_length=5000)


@pytest.fixture
async def make_client():
    """The one app-client factory: `app, client = await make_client(backend, settings or **overrides)`; the app is
    built by create_app, started through its lifespan, and (unless wait=False) loaded before the client returns."""
    opened = []

    async def make(backend=None, settings: Settings | None = None, *, wait: bool = True, backend_factory=None,
                   on_engine_death=None, on_load_failure=None, **overrides):
        settings = settings or Settings(preset="smollm2-135m", **overrides)
        extra = {"backend_factory": backend_factory} if backend_factory else {}
        backend = backend if backend is not None or backend_factory else ScriptedBackend()
        app = create_app(settings, backend=backend,
                         on_engine_death=on_engine_death, on_load_failure=on_load_failure, **extra)
        manager = LifespanManager(app)
        await manager.__aenter__()
        if wait:
            await app.state.service.loading
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://test", timeout=30)
        opened.append((manager, client))
        return app, client

    yield make
    for manager, client in reversed(opened):
        await client.aclose()
        await manager.__aexit__(None, None, None)


@pytest.fixture
async def client(make_client, backend, settings):
    _, c = await make_client(backend, settings)
    return c
