"""transformers reference backend: one request at a time, schema-constrained with xgrammar."""

from __future__ import annotations

import asyncio
import time

from service.backends.base import EngineUnavailable, Generation, GenerationParams
from service.cpu import cpu_dtype, torch_dtype_name
from service.settings import Settings


class TransformersBackend:
    """Plain `generate`, as the paper's notebook serves; a reference for correctness and speed."""

    name = "transformers"

    def __init__(self, settings: Settings):
        self.settings = settings
        self.model = None
        self.tokenizer = None
        self.compiler = None
        self.lock = asyncio.Lock()
        self.load_seconds: float | None = None
        self.dtype = settings.dtype

    async def start(self) -> None:
        await asyncio.to_thread(self._load)

    def _load(self) -> None:
        import torch
        import xgrammar
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

        started = time.monotonic()
        path = self.settings.model_path
        self.dtype = cpu_dtype(self.settings.dtype)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, torch_dtype_name(self.dtype)))
        if self.settings.adapter:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, self.settings.adapter).merge_and_unload()
        self.model = model.eval()
        vocab_size = AutoConfig.from_pretrained(path).vocab_size
        info = xgrammar.TokenizerInfo.from_huggingface(self.tokenizer, vocab_size=vocab_size)
        self.compiler = xgrammar.GrammarCompiler(info)
        self.load_seconds = time.monotonic() - started

    def _generate(self, messages: list[dict[str, str]], params: GenerationParams) -> Generation:
        import json

        import torch
        from xgrammar.contrib.hf import LogitsProcessor

        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        ids = self.tokenizer(text, add_special_tokens=False, return_tensors="pt").input_ids
        grammar = self.compiler.compile_json_schema(json.dumps(params.json_schema), any_whitespace=False)
        if params.seed is not None:
            torch.manual_seed(params.seed)
        sampling = {"do_sample": True, "temperature": params.temperature} if params.temperature > 0 else {"do_sample": False}
        with torch.inference_mode():
            out = self.model.generate(
                ids,
                max_new_tokens=params.max_tokens,
                logits_processor=[LogitsProcessor(grammar)],
                pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
                **sampling,
            )
        new = out[0, ids.shape[1] :]
        finished = new.numel() > 0 and int(new[-1]) == self.tokenizer.eos_token_id
        return Generation(
            text=self.tokenizer.decode(new, skip_special_tokens=True),
            prompt_tokens=int(ids.shape[1]),
            completion_tokens=int(new.numel()),
            finish_reason="stop" if finished else "length",
        )

    async def generate(self, messages: list[dict[str, str]], params: GenerationParams) -> Generation:
        if self.model is None:
            raise EngineUnavailable("model is still loading; retry shortly")
        async with self.lock:
            return await asyncio.to_thread(self._generate, messages, params)

    async def check_health(self) -> None:
        if self.model is None:
            raise EngineUnavailable("model is still loading")

    async def close(self) -> None:
        self.model = None

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def info(self) -> dict:
        import transformers

        return {"engine": "transformers", "engine_version": transformers.__version__, "device": "cpu",
                "dtype": self.dtype, "load_seconds": round(self.load_seconds, 1) if self.load_seconds else None}
