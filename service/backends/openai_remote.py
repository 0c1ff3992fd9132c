"""Remote OpenAI-compatible backend, e.g. a vLLM OpenAI server sidecar, with json_schema response format."""

from __future__ import annotations

import time

import httpx

from service.backends.base import EngineUnavailable, Generation, GenerationParams
from service.settings import Settings


class OpenAIBackend:
    """Chat completions against any OpenAI-compatible server; the server applies the chat template."""

    name = "openai"

    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None):
        self.settings = settings
        self.transport = transport
        self.client: httpx.AsyncClient | None = None
        self.remote_model: str | None = None
        self.load_seconds: float | None = None

    async def start(self) -> None:
        headers = {"Authorization": f"Bearer {self.settings.openai_api_key}"} if self.settings.openai_api_key else {}
        self.client = httpx.AsyncClient(
            base_url=self.settings.openai_base_url.rstrip("/"),
            headers=headers,
            timeout=self.settings.openai_timeout_s,
            transport=self.transport,
        )
        started = time.monotonic()
        models = await self._get("/models")
        served = [m["id"] for m in models.get("data", [])]
        wanted = self.settings.served_model_name or self.settings.model_path
        self.remote_model = wanted if wanted in served or not served else served[0]
        self.load_seconds = time.monotonic() - started

    async def _get(self, path: str) -> dict:
        try:
            response = await self.client.get(path)
        except httpx.HTTPError as error:
            raise EngineUnavailable(f"remote engine unreachable at {self.settings.openai_base_url}: {error}") from error
        if response.status_code != 200:
            raise EngineUnavailable(f"remote engine answered {response.status_code} on {path}")
        return response.json()

    def payload(self, messages: list[dict[str, str]], params: GenerationParams) -> dict:
        body = {
            "model": self.remote_model,
            "messages": messages,
            "temperature": params.temperature,
            "max_tokens": params.max_tokens,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "description", "schema": params.json_schema, "strict": True},
            },
        }
        if params.seed is not None:
            body["seed"] = params.seed
        return body

    async def generate(self, messages: list[dict[str, str]], params: GenerationParams) -> Generation:
        if self.client is None:
            raise EngineUnavailable("remote backend not started")
        try:
            response = await self.client.post("/chat/completions", json=self.payload(messages, params))
        except httpx.HTTPError as error:
            raise EngineUnavailable(f"remote engine unreachable: {error}") from error
        if response.status_code >= 500 or response.status_code == 429:
            raise EngineUnavailable(f"remote engine answered {response.status_code}")
        if response.status_code != 200:
            raise EngineUnavailable(f"remote engine rejected the request ({response.status_code}): {response.text[:200]}")
        body = response.json()
        choice = body["choices"][0]
        usage = body.get("usage") or {}
        return Generation(
            text=choice["message"]["content"] or "",
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            finish_reason=choice.get("finish_reason"),
        )

    async def check_health(self) -> None:
        await self._get("/models")

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()
            self.client = None

    def count_tokens(self, text: str) -> int:
        raise NotImplementedError("the remote backend has no local tokenizer")

    def info(self) -> dict:
        return {"engine": "openai", "base_url": self.settings.openai_base_url, "remote_model": self.remote_model}
