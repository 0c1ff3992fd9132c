"""vLLM in-process backend (AsyncLLM): structured outputs, prefix caching, optional LoRA; GPU or CPU."""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid

from core.level_tokens import uses_added_tokens
from service.backends.base import EngineDead, EngineUnavailable, Generation, GenerationParams, UnsupportedRequest
from service.backends.prompt_ids import PromptIds
from service.cpu import cpu_dtype
from service.settings import Settings

log = logging.getLogger(__name__)


def merges_adapter(adapter_mode: str, is_cpu: bool, prompt_style: str | None) -> bool:
    """Whether the adapter is merged into the weights: asked for, or 'auto' on CPU and for students of added tokens
    (vLLM's LoRA cannot carry their embedding rows)."""
    return adapter_mode == "merge" or (adapter_mode == "auto" and (is_cpu or uses_added_tokens(prompt_style)))


class VLLMBackend:
    """The default engine: vLLM's AsyncLLM in this process, its engine core in a child process."""

    name = "vllm"

    def __init__(self, settings: Settings):
        self.settings = settings
        self.engine = None
        self.tokenizer = None
        self.lora_request = None
        self.is_cpu = False
        self.load_seconds: float | None = None
        self.version: str | None = None
        self.model_path = settings.model_path
        self.adapter_mode: str | None = None  # "merged" or "lora" once started with an adapter
        self.prompt_ids: PromptIds | None = None
        self.dtype = settings.dtype
        self.shared: dict | None = None  # the engine's users and LoRA ids, shared by in-place adapter swaps
        self.in_place = False

    def engine_args(self):
        """AsyncEngineArgs from settings; on CPU the KV cache is sized by VLLM_CPU_KVCACHE_SPACE."""
        from vllm.config import StructuredOutputsConfig
        from vllm.engine.arg_utils import AsyncEngineArgs

        s = self.settings
        return AsyncEngineArgs(
            model=self.model_path,
            served_model_name=[s.model_name],
            dtype=self.dtype,
            max_model_len=s.max_model_len,
            max_num_seqs=s.max_num_seqs,
            max_num_batched_tokens=s.max_num_batched_tokens,
            enforce_eager=s.enforce_eager,
            enable_prefix_caching=s.enable_prefix_caching,
            gpu_memory_utilization=s.gpu_memory_utilization,
            enable_lora=self.adapter_mode == "lora",
            max_lora_rank=s.max_lora_rank,
            max_loras=2,  # during an in-place swap the old adapter's requests finish beside the new one's
            disable_log_stats=True,
            # Compact JSON, as the student is trained to write it; per-request flags are ignored by vLLM.
            structured_outputs_config=StructuredOutputsConfig(backend="xgrammar", disable_any_whitespace=True),
        )

    async def start(self) -> None:
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(self.settings.cpu_kv_cache_gib))
        if self.settings.cpu_reserved_cores is not None:
            os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", str(self.settings.cpu_reserved_cores))
        import vllm
        from vllm.lora.request import LoRARequest
        from vllm.platforms import current_platform
        from vllm.v1.engine.async_llm import AsyncLLM

        started = time.monotonic()
        if self.in_place:
            await self._start_in_place(LoRARequest)
            self.load_seconds = time.monotonic() - started
            return
        self.is_cpu = current_platform.is_cpu()
        self.dtype = cpu_dtype(self.settings.dtype, self.is_cpu)
        self.version = vllm.__version__
        s = self.settings
        if s.adapter:
            self.adapter_mode = "merged" if merges_adapter(s.adapter_mode, self.is_cpu, s.prompt_style) else "lora"
        if self.adapter_mode == "merged":
            from service.adapters import merged_model_dir

            self.model_path = str(await asyncio.to_thread(merged_model_dir, s.model_path, s.adapter, s.merge_cache_dir,
                                                        s.merge_cache_keep))
            log.info("adapter %s merged into %s", s.adapter, self.model_path)
        if uses_added_tokens(s.prompt_style):
            await asyncio.to_thread(self.check_level_tokens)
        # Built off the event loop so /health and /ready answer while the weights load.
        self.engine = await asyncio.to_thread(AsyncLLM.from_engine_args, self.engine_args())
        self.tokenizer = self.engine.get_tokenizer()
        self.shared = {"users": 1, "next_lora_id": 2}
        if self.adapter_mode == "lora":
            self.lora_request = LoRARequest("adapter-1", 1, s.adapter)
            await self.engine.add_lora(self.lora_request)
        self.load_seconds = time.monotonic() - started
        log.info("vLLM engine ready in %.1f s (cpu=%s, dtype=%s)", self.load_seconds, self.is_cpu, self.dtype)

    def can_swap_in_place(self, settings: Settings) -> bool:
        """A LoRA-mode engine takes another adapter of the same base (or none) without a second engine."""
        return (self.engine is not None and self.adapter_mode == "lora" and settings.model_path == self.model_path
                and not uses_added_tokens(settings.prompt_style) and settings.adapter_mode != "merge")

    def with_adapter(self, settings: Settings) -> VLLMBackend:
        """Another adapter on this same engine; its start() adds the LoRA, its close() removes it (the engine shuts
        down when its last user closes)."""
        view = VLLMBackend(settings)
        view.engine, view.tokenizer, view.prompt_ids = self.engine, self.tokenizer, self.prompt_ids
        view.is_cpu, view.dtype, view.version, view.model_path = self.is_cpu, self.dtype, self.version, self.model_path
        view.adapter_mode, view.shared, view.in_place = "lora", self.shared, True
        self.shared["users"] += 1
        return view

    async def _start_in_place(self, lora_request_type) -> None:
        if self.settings.adapter is None:
            return  # the bare base, served by the same engine with no LoRA
        lora_id = self.shared["next_lora_id"]
        self.shared["next_lora_id"] += 1
        self.lora_request = lora_request_type(f"adapter-{lora_id}", lora_id, self.settings.adapter)
        await self.engine.add_lora(self.lora_request)
        log.info("adapter %s added to the running engine as LoRA %d", self.settings.adapter, lora_id)

    def memory_needed(self) -> int:
        """Bytes a second engine of this model takes (merge-mode swaps load one beside the running one)."""
        from vllm.platforms import current_platform

        from service.errors import InsufficientMemory
        from service.memory import engine_bytes

        if not current_platform.is_cpu() and self.settings.gpu_memory_utilization > 0.45:
            raise InsufficientMemory(
                f"a second engine cannot share the GPU at gpu_memory_utilization {self.settings.gpu_memory_utilization}"
                "; serve adapters with TSD_ADAPTER_MODE=lora (swapped in the running engine) or restart with the new "
                "adapter")
        model_dir = self.settings.model_path
        return engine_bytes(model_dir, cpu_dtype(self.settings.dtype, True), self.settings.cpu_kv_cache_gib)

    def check_level_tokens(self) -> None:
        """A student of added tokens ('levels', 'zones') needs them in the served tokenizer, and a merged model: vLLM's
        LoRA cannot carry the embedding rows they were trained in."""
        from transformers import AutoTokenizer

        from core.level_tokens import LevelTokensError, check_student, level_token_ids
        from service.adapters import read_manifest

        if self.adapter_mode == "lora":
            raise LevelTokensError(f"a student of prompt style {self.settings.prompt_style!r} carries trained embedding "
                                   "rows that vLLM's LoRA mode cannot load; serve it with TSD_ADAPTER_MODE=merge "
                                   "(or auto on CPU)")
        tokenizer = AutoTokenizer.from_pretrained(self.model_path)
        level_token_ids(tokenizer, self.settings.prompt_style)
        check_student(self.settings.student_manifest() if self.adapter_mode != "merged" else
                      read_manifest(self.model_path), tokenizer)

    def sampling_params(self, params: GenerationParams):
        """vLLM SamplingParams; never a per-request seed on the CPU engine (it kills the engine core)."""
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        seed = params.seed if params.temperature > 0 else None
        if seed is not None and self.is_cpu:
            raise UnsupportedRequest(
                "seed is not supported with temperature > 0 on the CPU engine; omit seed or use temperature 0"
            )
        return SamplingParams(
            temperature=params.temperature,
            max_tokens=params.max_tokens,
            seed=seed,
            structured_outputs=StructuredOutputsParams(json=params.json_schema),
        )

    def prompt_token_ids(self, messages: list[dict[str, str]]) -> list[int]:
        """The model's own chat template, rendered and tokenized once (what training does too)."""
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        if self.prompt_ids is None:
            self.prompt_ids = PromptIds(self.encode_text)
        return self.prompt_ids(text)

    def encode_text(self, text: str) -> list[int]:
        """Ids of rendered text, no special tokens added."""
        backend = getattr(self.tokenizer, "backend_tokenizer", None)
        if backend is not None:  # a fast tokenizer's Rust encoder directly: the same ids, half the time
            return backend.encode(text, add_special_tokens=False).ids
        return self.tokenizer.encode(text, add_special_tokens=False)

    async def generate(self, messages: list[dict[str, str]], params: GenerationParams) -> Generation:
        from vllm.v1.engine.exceptions import EngineDeadError

        if self.engine is None:
            raise EngineUnavailable("model is still loading; retry shortly")
        await self.check_health()
        sampling = self.sampling_params(params)
        ids = self.prompt_token_ids(messages)
        final = None
        started = time.perf_counter()
        try:
            async for output in self.engine.generate(
                {"prompt_token_ids": ids}, sampling, request_id=uuid.uuid4().hex, lora_request=self.lora_request
            ):
                final = output
        except EngineDeadError as error:
            raise EngineDead("the vLLM engine died; this instance is shutting down to be restarted") from error
        completion = final.outputs[0]
        return Generation(
            text=completion.text,
            prompt_tokens=len(ids),
            completion_tokens=len(completion.token_ids),
            finish_reason=completion.finish_reason,
            engine_seconds=time.perf_counter() - started,
        )

    async def check_health(self) -> None:
        if self.engine is None:
            raise EngineUnavailable("model is still loading")
        if self.engine.errored:
            raise EngineDead("the vLLM engine died; this instance is shutting down to be restarted")

    async def close(self) -> None:
        if self.engine is None:
            return
        engine, self.engine = self.engine, None
        shared = self.shared or {"users": 1}
        shared["users"] -= 1
        if shared["users"] > 0:  # another adapter still serves on this engine: only this one's LoRA goes
            if self.lora_request is not None:
                try:
                    await engine.remove_lora(self.lora_request.lora_int_id)
                except Exception:
                    log.exception("removing LoRA %d failed", self.lora_request.lora_int_id)
            return
        try:
            engine.shutdown()
        except Exception:
            log.exception("engine shutdown failed")
        await reap_engine_processes()

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def info(self) -> dict:
        return {
            "engine": "vllm",
            "engine_version": self.version,
            "device": "cpu" if self.is_cpu else "gpu",
            "dtype": self.dtype,
            "served_path": self.model_path,
            "adapter_mode": self.adapter_mode,
            "lora_id": self.lora_request.lora_int_id if self.lora_request is not None else None,
            "load_seconds": round(self.load_seconds, 1) if self.load_seconds else None,
            "prefix_caching": self.settings.enable_prefix_caching,
            "enforce_eager": self.settings.enforce_eager,
            "max_num_seqs": self.settings.max_num_seqs,
            "max_num_batched_tokens": self.settings.max_num_batched_tokens,
        }


_REAPERS: set[asyncio.Task] = set()


async def reap_engine_processes(delays: tuple[float, ...] = (0.5, 1, 2, 4, 8, 16)) -> None:
    """Collect the exit status of engine processes as they end: vLLM's shutdown leaves a swapped-out engine's core
    as a zombie otherwise (one per merge-mode swap, measured). Runs in the background; close() doesn't wait."""
    import multiprocessing

    async def reap() -> None:
        for delay in delays:
            await asyncio.sleep(delay)
            multiprocessing.active_children()  # joins every child process that has ended

    task = asyncio.create_task(reap())
    _REAPERS.add(task)
    task.add_done_callback(_REAPERS.discard)

