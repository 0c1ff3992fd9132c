"""The Backend protocol every engine implements, and the errors it raises."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from service.errors import EngineDead, EngineUnavailable, UnsupportedRequest

__all__ = ["Backend", "EngineDead", "EngineUnavailable", "Generation", "GenerationParams", "UnsupportedRequest"]


@dataclass(frozen=True)
class GenerationParams:
    """Sampling settings for one prompt; json_schema forces the output's structure."""

    json_schema: dict
    max_tokens: int = 256
    temperature: float = 0.0
    seed: int | None = None


@dataclass(frozen=True)
class Generation:
    """What the engine produced for one prompt."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None = None
    engine_seconds: float | None = None  # inside the engine alone (no tokenization), when the backend can tell


class Backend(Protocol):
    """An engine that turns chat messages into schema-constrained text."""

    name: str

    async def start(self) -> None:
        """Load the model; called once from the app's lifespan."""

    async def generate(self, messages: list[dict[str, str]], params: GenerationParams) -> Generation:
        """Generate one completion for one conversation."""

    async def check_health(self) -> None:
        """Raise EngineUnavailable if the engine can't serve."""

    async def close(self) -> None:
        """Release the engine."""

    def info(self) -> dict:
        """Model, adapter and engine facts for /info."""

    def count_tokens(self, text: str) -> int:
        """Tokens the served tokenizer spends on a text."""
