"""Service settings: environment variables with the TSD_ prefix."""

from __future__ import annotations

from functools import cached_property
from typing import Literal

from pydantic import Field, PrivateAttr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.prompt import PromptStyle
from core.schema import PAPER_FIELDS, description_model
from core.series import TRAINED_LENGTH
from service.adapters import read_manifest

# Model presets: production default on GPU, and the offline base that `make serve` prepares.
MODEL_PRESETS = {
    "qwen2.5-0.5b": "Qwen/Qwen2.5-0.5B-Instruct",
    "qwen2.5-1.5b": "Qwen/Qwen2.5-1.5B-Instruct",
    "smollm2-135m": "models/smollm2-135m-instruct",
}
STUDENT_SETTINGS = ("prompt_style", "trained_length")  # how a student was trained: from its manifest unless set


class Settings(BaseSettings):
    """Everything that changes between deployments."""

    model_config = SettingsConfigDict(env_prefix="TSD_", extra="ignore")

    preset: Literal["qwen2.5-0.5b", "qwen2.5-1.5b", "smollm2-135m"] = "qwen2.5-0.5b"
    model: str | None = Field(default=None, description="hub id or local directory; overrides the preset")
    adapter: str | None = Field(default=None, description="LoRA adapter directory served on top of the model")
    adapter_mode: Literal["auto", "merge", "lora"] = Field(
        default="auto", description="merge the adapter into the base at startup, or serve it as LoRA; auto merges on CPU"
    )
    merge_cache_dir: str = "models/.merged"
    merge_cache_keep: int = Field(default=3, ge=2, description="merged models kept (least recently used evicted)")
    adapters_dir: str = Field(default="models/adapters", description="versions the admin endpoint may activate")
    admin_key_hash: str | None = Field(default=None, description="SHA-256 of the X-Admin-Key for /admin; unset: off")
    served_model_name: str | None = None
    backend: Literal["vllm", "openai", "transformers"] = "vllm"

    # remote OpenAI-compatible backend
    openai_base_url: str = "http://127.0.0.1:8001/v1"
    openai_api_key: str | None = None
    openai_timeout_s: float = 60.0

    # engine
    device: Literal["auto", "cpu", "cuda"] = "auto"
    dtype: str = "auto"
    max_model_len: int = 2048
    max_num_seqs: int = 64
    max_num_batched_tokens: int | None = None  # tokens per engine step (prefill chunks); None: vLLM's default
    enforce_eager: bool = True
    enable_prefix_caching: bool = True
    gpu_memory_utilization: float = 0.85
    cpu_kv_cache_gib: int = 2
    # vLLM's CPU worker keeps a core for its frontend by default; on small machines the model needs it more
    # (2 cores: +56% throughput measured, docs/performance.md). None leaves vLLM's own choice.
    cpu_reserved_cores: int | None = 0
    max_lora_rank: int = 64
    memory_limit_bytes: int | None = Field(
        default=None, description="memory this instance may use (default: the cgroup's limit, else the host's free "
        "memory); a merge-mode swap that needs more is refused with 503")
    swap_memory_check: bool = True

    # domain
    prompt_style: PromptStyle | None = Field(
        default=None, description="default: what the adapter or merged student was trained with, else paper"
    )
    trained_length: int | None = Field(
        default=None, ge=8, description="points the series is resampled to; default: what the student was trained on "
        "(its manifest), else 128")
    min_length: int = 8
    max_length: int = 100_000
    max_abs_value: float = 1e100
    max_tokens: int = 320
    max_batch: int = 32

    # admission and access
    max_in_flight: int = Field(default=64, description="series running on the engine at once")
    max_queue: int = Field(default=256, description="series waiting for a place; beyond it 429 at once")
    max_points_held: int | None = Field(
        default=4_000_000, description="points of running and queued series held in memory (≈ 40 B each); beyond "
        "it 429 at once (a single request always fits); None: no bound")
    request_timeout_s: float = Field(default=120.0, description="per-request deadline; past it 504")
    api_key_hashes: list[str] = Field(default_factory=list, description="SHA-256 of accepted Bearer keys; empty: open")
    rate_limit_per_minute: int | None = Field(default=None, description="series per minute per API key (or client)")
    rate_limit_callers: int = Field(default=10_000, description="rate windows kept (least recently used dropped)")
    drain_seconds: int = Field(default=30, description="SIGTERM: time to finish running requests (queued ones get "
                               "503 at once); keep it below the orchestrator's grace period")
    engine_watch_s: float = Field(default=2.0, description="how often a watcher checks the engine is alive")

    # HTTP
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = 8 * 1024 * 1024
    max_connections: int | None = Field(default=1024, description="open connections and tasks; beyond it uvicorn "
                                        "answers 503 (its limit_concurrency)")
    forwarded_allow_ips: str | None = Field(
        default=None, description="proxies whose X-Forwarded-For is trusted for the client address (rate limits by "
        "address); unset: the peer address is the client")
    log_level: str = "info"
    event_loop: Literal["auto", "asyncio", "uvloop"] = "auto"  # uvicorn's loop; auto: uvloop when installed

    _pinned: frozenset[str] = PrivateAttr(default=frozenset())

    @model_validator(mode="after")
    def _as_the_student_was_trained(self) -> Settings:
        """A student is always prompted as it was trained: its manifest names the prompt style and the length."""
        self._pinned = frozenset(name for name in STUDENT_SETTINGS if getattr(self, name) is not None)
        manifest = self.student_manifest() or {}
        if self.prompt_style is None:
            self.prompt_style = manifest.get("prompt_style", "paper")
        if self.trained_length is None:
            self.trained_length = manifest.get("trained_length", TRAINED_LENGTH)
        return self

    def student_manifest(self) -> dict | None:
        """tsdescribe.json written by training.merge beside the adapter or the merged model, if any."""
        for directory in (self.adapter, self.model_path):
            manifest = read_manifest(directory)
            if manifest is not None:
                return manifest
        return None

    @cached_property
    def description_fields(self) -> tuple[str, ...]:
        """The fields the student states, as it was trained: its manifest's `fields`, or the paper's three (students
        from before the feature registry, and the bare base)."""
        manifest = self.student_manifest() or {}
        fields = tuple(manifest.get("fields") or PAPER_FIELDS)
        description_model(fields)  # refuses fields the registry doesn't have, naming them
        return fields

    @cached_property
    def scratchpad(self) -> bool:
        """True when the student writes its own reading of the series before its sentences (its manifest says so):
        the engine is asked for it, the response never carries it."""
        return bool((self.student_manifest() or {}).get("scratchpad"))

    @property
    def pinned(self) -> frozenset[str]:
        """The student settings the operator chose (STUDENT_SETTINGS); the others follow the adapter's manifest."""
        return self._pinned

    @cached_property
    def model_path(self) -> str:
        """The model actually served: TSD_MODEL, or the preset's."""
        return self.model or MODEL_PRESETS[self.preset]

    @property
    def model_name(self) -> str:
        return self.served_model_name or self.model_path.rstrip("/").split("/")[-1]
