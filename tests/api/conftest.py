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


@pytest.fixture
def backend():
    return ScriptedBackend()


@pytest.fixture
def settings():
    return Settings(preset="smollm2-135m", max_body_bytes=200_000, max_batch=4, max_length=5000)


@pytest.fixture
async def client(backend, settings):
    app = create_app(settings, backend=backend)
    async with LifespanManager(app) as manager:
        await app.state.loading
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            yield c
