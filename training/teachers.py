"""Teachers that describe encoded series: a rule teacher (offline) and an OpenAI-compatible multimodal model."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import random
from dataclasses import dataclass
from pathlib import Path

import httpx

from core import facts, prompt
from core.schema import (
    PAPER_FIELDS,
    Description,
    DescriptionBase,
    description_json_schema,
    description_model,
    parse_description,
)
from core.series import format_levels

# --- rule teacher: the facts, phrased the way a teacher model phrases them (each feature's own phrasings) ----------


def rule_description(f: facts.Features, rng: random.Random, fields: tuple[str, ...] = PAPER_FIELDS,
                     added_rng: random.Random | None = None) -> DescriptionBase:
    """A teacher-like description of these fields whose every label is the computed one; the fields beyond the
    paper's draw from `added_rng` (when given), so the paper's sentences stay those of a three-field run."""
    flat = f.flat()
    sentences = {feature.field: feature.phrase(flat, rng if feature.field in PAPER_FIELDS or added_rng is None
                                               else added_rng)
                 for feature in facts.active_features(fields)}
    return description_model(tuple(fields))(**sentences)


# --- OpenAI-compatible multimodal teacher -----------------------------------------------------


@dataclass(frozen=True)
class TeacherConfig:
    base_url: str = "http://127.0.0.1:8001/v1"
    model: str = "pixtral-large-latest"
    api_key_env: str = "TEACHER_API_KEY"
    concurrency: int = 4
    timeout_s: float = 60.0
    max_retries: int = 5
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    temperature: float = 0.0
    max_tokens: int = 300


@dataclass
class TeacherUsage:
    requests: int = 0
    cached: int = 0
    retries: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


class TeacherError(RuntimeError):
    """The teacher could not answer after all retries."""


def cache_key(model: str, user_text: str, image: bytes | None) -> str:
    """Content key: same model, prompt and chart → same answer, no new request."""
    digest = hashlib.sha256(model.encode() + b"\0" + user_text.encode())
    if image:
        digest.update(image)
    return digest.hexdigest()


def reply_content(body: object) -> str:
    """The message text of a chat completion; TeacherError (naming what was wrong) for anything else, such as a 200
    that carries an error object or a null content."""
    if isinstance(body, dict) and "error" in body and "choices" not in body:
        raise TeacherError(f"the teacher answered 200 with an error: {str(body['error'])[:200]}")
    try:
        content = body["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise TeacherError(f"the reply is not a chat completion: {json.dumps(body)[:200]}") from None
    if not isinstance(content, str) or not content.strip():
        raise TeacherError(f"the reply's message content is {content!r}, not text")
    return content


class OpenAITeacher:
    """Chart image + numbers + the paper's prompt to any OpenAI-compatible chat endpoint, JSON response format."""

    def __init__(self, config: TeacherConfig, cache_dir: Path, transport: httpx.AsyncBaseTransport | None = None):
        self.config = config
        self.cache_dir = cache_dir
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.usage = TeacherUsage()
        api_key = os.environ.get(config.api_key_env)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.AsyncClient(
            base_url=config.base_url.rstrip("/"), headers=headers, timeout=config.timeout_s, transport=transport
        )
        self.semaphore = asyncio.Semaphore(config.concurrency)

    def payload(self, user_text: str, image: bytes | None) -> dict:
        content: list[dict] = [{"type": "text", "text": user_text}]
        if image:
            content.insert(0, {"type": "image_url",
                               "image_url": {"url": "data:image/png;base64," + base64.b64encode(image).decode()}})
        return {
            "model": self.config.model,
            "messages": [{"role": "user", "content": content}],
            "temperature": self.config.temperature,
            "max_tokens": self.config.max_tokens,
            "response_format": {"type": "json_schema",
                                "json_schema": {"name": "description", "schema": description_json_schema()}},
        }

    async def describe(self, levels: list[int], image: bytes | None) -> Description:
        """One annotation: from the cache if this content was answered before, else from the teacher."""
        user_text = prompt.user_prompt(format_levels(levels), "paper")
        key = cache_key(self.config.model, user_text, image)
        cached = self.cache_dir / f"{key}.json"
        if cached.exists():
            self.usage.cached += 1
            return parse_description(json.loads(cached.read_text())["content"])
        async with self.semaphore:
            body = await self._post_with_retries(self.payload(user_text, image))
        description = parse_description(extract_json(reply_content(body)))
        usage = body.get("usage") or {}
        self.usage.prompt_tokens += int(usage.get("prompt_tokens", 0))
        self.usage.completion_tokens += int(usage.get("completion_tokens", 0))
        partial = cached.with_suffix(".partial")
        partial.write_text(json.dumps({"content": description.model_dump_json(), "usage": usage}))
        partial.replace(cached)
        return description

    async def _post_with_retries(self, payload: dict) -> dict:
        """POST with exponential backoff on 429, 5xx, timeouts and connection errors; honours Retry-After."""
        delay = self.config.backoff_s
        last = "no attempt"
        for attempt in range(self.config.max_retries + 1):
            if attempt:
                self.usage.retries += 1
            self.usage.requests += 1
            try:
                response = await self.client.post("/chat/completions", json=payload)
            except (httpx.TimeoutException, httpx.TransportError) as error:
                last = f"{type(error).__name__}: {error}"
            else:
                if response.status_code == 200:
                    return response.json()
                last = f"HTTP {response.status_code}: {response.text[:200]}"
                if response.status_code != 429 and response.status_code < 500:
                    break
                retry_after = response.headers.get("retry-after")
                if retry_after and retry_after.replace(".", "", 1).isdigit():
                    delay = max(delay, float(retry_after))
            if attempt < self.config.max_retries:
                await asyncio.sleep(min(delay, self.config.max_backoff_s))
                delay *= 2
        self.usage.failures += 1
        raise TeacherError(f"teacher failed after {self.config.max_retries + 1} attempts: {last}")

    async def close(self) -> None:
        await self.client.aclose()


def extract_json(content: str) -> str:
    """The JSON object inside a reply (teachers sometimes wrap it in a code fence or prose)."""
    start, end = content.find("{"), content.rfind("}")
    if start < 0 or end < start:
        raise ValueError("teacher reply holds no JSON object")
    return content[start : end + 1]
