"""Engines behind one protocol; `make_backend` picks the one the settings name."""

from service.backends.base import (
    Backend,
    EngineDead,
    EngineUnavailable,
    Generation,
    GenerationParams,
    UnsupportedRequest,
)
from service.settings import Settings


def make_backend(settings: Settings) -> Backend:
    """The backend the settings ask for (imports stay lazy: each engine is heavy)."""
    if settings.backend == "vllm":
        from service.backends.vllm_engine import VLLMBackend

        return VLLMBackend(settings)
    if settings.backend == "openai":
        from service.backends.openai_remote import OpenAIBackend

        return OpenAIBackend(settings)
    from service.backends.transformers_reference import TransformersBackend

    return TransformersBackend(settings)


__all__ = ["Backend", "EngineDead", "EngineUnavailable", "Generation", "GenerationParams", "UnsupportedRequest", "make_backend"]
