"""LoRA adapters folded into their base: vLLM's CPU engine decodes a merged model several times faster than LoRA."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from core.level_tokens import LevelTokensError, prepare_model_for_levels, uses_added_tokens
from service.atomic import atomic_directory

# The layout of an adapter version directory (models/adapters/<name>), known here only: peft's config and weights,
# and the student manifest training.merge writes (base, prompt style, fields, level token ids, metrics).
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_FILES = (ADAPTER_CONFIG, ADAPTER_WEIGHTS)
STUDENT_MANIFEST = "tsdescribe.json"


def read_manifest(directory: str | Path | None) -> dict | None:
    """The student manifest in an adapter or merged-model directory, if there is one."""
    path = Path(directory) / STUDENT_MANIFEST if directory else None
    return json.loads(path.read_text()) if path and path.is_file() else None


def missing_files(directory: str | Path) -> list[str]:
    """The files of a saved peft adapter that a directory lacks."""
    return [name for name in ADAPTER_FILES if not (Path(directory) / name).is_file()]


def adapter_version(adapter: str | None) -> dict | None:
    """What identifies a deployed adapter: its directory, manifest name and a content hash."""
    if adapter is None:
        return None
    directory = Path(adapter)
    digest = hashlib.sha256()
    for name in (*ADAPTER_FILES, STUDENT_MANIFEST):
        if (directory / name).is_file():
            digest.update((directory / name).read_bytes())
    manifest = read_manifest(directory) or {}
    return {"path": str(directory), "name": manifest.get("name", directory.name), "sha256": digest.hexdigest()[:16]}


def base_fingerprint(base: str) -> str:
    """What identifies a base's content: its config and weights for a local directory (a re-prepared base gets a new
    key), else the hub id with the snapshot revision it resolves to."""
    directory = Path(base)
    digest = hashlib.sha256()
    if directory.is_dir():
        for path in sorted(directory.glob("*.json")) + sorted(directory.glob("*.safetensors")):
            digest.update(path.name.encode())
            with path.open("rb") as file:
                for block in iter(lambda: file.read(1 << 20), b""):
                    digest.update(block)
        return digest.hexdigest()
    from huggingface_hub import snapshot_download

    return hashlib.sha256(f"{base}@{Path(snapshot_download(base)).name}".encode()).hexdigest()


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

    if manifest is None:
        manifest = read_manifest(adapter)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.bfloat16)
    tokenizer = AutoTokenizer.from_pretrained(base)
    if manifest and uses_added_tokens(manifest.get("prompt_style")):  # the base as it was trained: level rows added
        ids = prepare_model_for_levels(model, tokenizer, manifest["prompt_style"])
        if manifest.get("level_token_ids") not in (None, ids):
            raise LevelTokensError(f"the adapter was trained with level token ids {manifest['level_token_ids'][:2]}… "
                                   f"but this base gives {ids[:2]}…: merge it onto the base it names ({manifest.get('base')})")
    merged = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    with atomic_directory(out) as partial:  # one partial directory per merge; config.json appears with the weights
        merged.save_pretrained(partial, safe_serialization=True)
        tokenizer.save_pretrained(partial)
        if manifest is not None:
            (partial / STUDENT_MANIFEST).write_text(json.dumps({**manifest, "merged": True}, indent=2))
    return out


def merged_model_dir(base: str, adapter: str | Path, cache_root: str | Path, keep: int = 3) -> Path:
    """The merged model for this base's content and this adapter, built once and reused; beyond `keep` merges the
    least recently used are evicted."""
    key = adapter_digest(base_fingerprint(base), adapter)
    out = Path(cache_root) / f"{Path(adapter).resolve().name}-{key}"
    if not (out / "config.json").is_file():
        merge_adapter(base, adapter, out)
    os.utime(out)  # last use, for the eviction order
    evict_merges(Path(cache_root), keep, spare=out)
    return out


def evict_merges(cache_root: Path, keep: int, spare: Path) -> list[Path]:
    """Delete the least recently used merged models beyond `keep` (never `spare`, the one just used)."""
    merges = sorted((p for p in cache_root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                    key=lambda p: p.stat().st_mtime, reverse=True)
    evicted = [p for p in merges if p != spare][max(0, keep - 1):]
    for path in evicted:
        shutil.rmtree(path, ignore_errors=True)
    return evicted
