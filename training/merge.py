"""Stage 7 — merge the LoRA adapter into the base, write manifests, and ship the adapter.

    python -m training.merge --run runs/smollm2 [--ship models/adapters/smollm2-135m]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from service.adapters import STUDENT_MANIFEST as MANIFEST
from service.adapters import merge_adapter
from training.rundir import RunDir, git_revision


def student_manifest(run: RunDir) -> dict:
    """What the service shows in /info: base, adapter, data hash, config, metrics, git revision."""
    stages = run.manifest()["stages"]
    finetune = stages.get("finetune", {})
    config = finetune.get("config", {})
    evaluation = run.path / "eval" / "results.json"
    return {
        "name": run.path.name,
        "base": config.get("base"),
        "prompt_style": config.get("prompt_style", "paper"),
        "trained_length": 128,
        "level_token_ids": finetune.get("level_token_ids"),
        "data_hash": stages.get("dataset", {}).get("hash"),
        "data_counts": stages.get("dataset", {}).get("counts"),
        "finetune": {k: finetune.get(k) for k in ("steps", "train_examples", "final_loss", "validation_loss", "seconds")},
        "config": config,
        "metrics": json.loads(evaluation.read_text()).get("summary") if evaluation.exists() else None,
        "git": git_revision(),
    }


def merge(run: RunDir, out: Path) -> Path:
    """A plain safetensors model with the adapter folded in (vLLM serves it without LoRA)."""
    manifest = student_manifest(run)
    return merge_adapter(manifest["base"], run.path / "adapter", out, manifest)


def ship(run: RunDir, target: Path) -> Path:
    """Copy the adapter (weights in bf16: half the bytes, the dtype it is served in) and its manifest."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(run.path / "adapter" / "adapter_config.json", target / "adapter_config.json")
    with safe_open(run.path / "adapter" / "adapter_model.safetensors", framework="pt") as weights:
        tensors = {k: weights.get_tensor(k) for k in weights.keys()}  # noqa: SIM118 - safe_open has no iterator
        metadata = weights.metadata()
    tensors = {k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in tensors.items()}
    save_file(tensors, target / "adapter_model.safetensors", metadata=metadata)
    (target / MANIFEST).write_text(json.dumps(student_manifest(run), indent=2))
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True)
    parser.add_argument("--out", type=Path, default=None, help="merged model directory (default: RUN/merged)")
    parser.add_argument("--ship", type=Path, default=None, help="copy the adapter + manifest here")
    parser.add_argument("--no-merge", action="store_true")
    args = parser.parse_args(argv)
    run = RunDir(args.run)
    details: dict = {}
    if not args.no_merge:
        details["merged"] = str(merge(run, args.out or run.path / "merged"))
    if args.ship:
        details["shipped"] = str(ship(run, args.ship))
    run.record("merge", details)
    print(json.dumps(details))
    return 0


if __name__ == "__main__":
    sys.exit(main())
