"""LoRA adapters folded into their base: vLLM's CPU engine decodes a merged model several times faster than LoRA."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from service.level_tokens import LevelTokensError, prepare_model_for_levels

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
STUDENT_MANIFEST = "tsdescribe.json"


def adapter_digest(base: str, adapter: str | Path) -> str:
    """Content key of (base, adapter weights and config): a new adapter version gets a new merged model."""
    digest = hashlib.sha256(base.encode())
    for name in ADAPTER_FILES:
        digest.update((Path(adapter) / name).read_bytes())
    return digest.hexdigest()[:16]


def merge_adapter(base: str, adapter: str | Path, out: Path, manifest: dict | None = None) -> Path:
    """Write base + adapter as one plain safetensors model (bf16) with the tokenizer and the student manifest."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    if manifest is None and (Path(adapter) / STUDENT_MANIFEST).is_file():
        manifest = json.loads((Path(adapter) / STUDENT_MANIFEST).read_text())
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.bfloat16)
    tokenizer = AutoTokenizer.from_pretrained(base)
    if manifest and manifest.get("prompt_style") == "levels":  # the base as it was trained: level rows added
        ids = prepare_model_for_levels(model, tokenizer)
        if manifest.get("level_token_ids") not in (None, ids):
            raise LevelTokensError(f"the adapter was trained with level token ids {manifest['level_token_ids'][:2]}… "
                                   f"but this base gives {ids[:2]}…: merge it onto the base it names ({manifest.get('base')})")
    merged = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    merged.save_pretrained(partial, safe_serialization=True)
    tokenizer.save_pretrained(partial)
    if manifest is not None:
        (partial / STUDENT_MANIFEST).write_text(json.dumps({**manifest, "merged": True}, indent=2))
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)
    return out


def merged_model_dir(base: str, adapter: str | Path, cache_root: str | Path) -> Path:
    """The merged model for this base and adapter, built once and reused from the cache afterwards."""
    out = Path(cache_root) / f"{Path(adapter).resolve().name}-{adapter_digest(base, adapter)}"
    if not (out / "config.json").is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        merge_adapter(base, adapter, out)
    return out
