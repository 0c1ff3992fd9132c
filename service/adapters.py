"""LoRA adapters folded into their base: vLLM's CPU engine decodes a merged model several times faster than LoRA."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from core.level_tokens import LevelTokensError, prepare_model_for_levels, uses_added_tokens

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
STUDENT_MANIFEST = "tsdescribe.json"


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

    out.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))  # one per merge
    if manifest is None and (Path(adapter) / STUDENT_MANIFEST).is_file():
        manifest = json.loads((Path(adapter) / STUDENT_MANIFEST).read_text())
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.bfloat16)
    tokenizer = AutoTokenizer.from_pretrained(base)
    if manifest and uses_added_tokens(manifest.get("prompt_style")):  # the base as it was trained: level rows added
        ids = prepare_model_for_levels(model, tokenizer, manifest["prompt_style"])
        if manifest.get("level_token_ids") not in (None, ids):
            raise LevelTokensError(f"the adapter was trained with level token ids {manifest['level_token_ids'][:2]}… "
                                   f"but this base gives {ids[:2]}…: merge it onto the base it names ({manifest.get('base')})")
    try:
        merged = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
        merged.save_pretrained(partial, safe_serialization=True)
        tokenizer.save_pretrained(partial)
        if manifest is not None:
            (partial / STUDENT_MANIFEST).write_text(json.dumps({**manifest, "merged": True}, indent=2))
        partial.chmod(0o755)
        shutil.rmtree(out, ignore_errors=True)
        partial.rename(out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
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
