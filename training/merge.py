"""Stage 7 — merge the LoRA adapter into the base, write manifests, and ship the adapter.

    python -m training.merge --run runs/smollm2 [--ship models/adapters/smollm2-135m]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from service.adapters import ADAPTER_CONFIG, ADAPTER_WEIGHTS, STUDENT_MANIFEST, adapter_digest, merge_adapter
from training.dataset import SCRATCHPAD_KINDS, trained_length
from training.rundir import RunDir, git_revision

RECIPE = ("draw", "strata", "train_size", "reading", "reading_share", "ou_share", "seed", "view_agrees")  # the dataset stage's
WORLD = ("world_count", "world_families")  # the generate stage's


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
        "fields": stages.get("dataset", {}).get("fields"),  # what it states; None: the paper's three (older runs)
        "scratchpad": stages.get("dataset", {}).get("reading") in SCRATCHPAD_KINDS,  # writes its reading first
        "trained_length": trained_length(run),  # points the service resamples to
        "level_token_ids": finetune.get("level_token_ids"),
        "data_hash": stages.get("dataset", {}).get("hash"),
        "data_counts": stages.get("dataset", {}).get("counts"),
        "recipe": {**{k: stages.get("dataset", {}).get(k) for k in RECIPE},  # the world and draw `make train` reproduces
                   **{k: stages.get("generate", {}).get(k) for k in WORLD}},
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
    """Ship the adapter (weights in bf16: half the bytes, the dtype it is served in) and its manifest as a new version
    directory, built aside and renamed into place: never written into a directory that may be being served. An
    existing TARGET stays as it is and the version goes beside it as TARGET-<content hash>; activate it with
    `make redeploy ADAPTER=<that name>`."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(run.path / "adapter" / ADAPTER_WEIGHTS, framework="pt") as weights:
        tensors = {k: weights.get_tensor(k) for k in weights.keys()}  # noqa: SIM118 - safe_open has no iterator
        metadata = weights.metadata()
    tensors = {k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in tensors.items()}
    manifest = json.dumps(student_manifest(run), indent=2)
    config = (run.path / "adapter" / ADAPTER_CONFIG).read_bytes()
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    try:
        (partial / ADAPTER_CONFIG).write_bytes(config)
        save_file(tensors, partial / ADAPTER_WEIGHTS, metadata=metadata)
        (partial / STUDENT_MANIFEST).write_text(manifest)
        digest = adapter_digest("", partial)
        final = target if not target.exists() else target.with_name(f"{target.name}-{digest[:8]}")
        if final.exists():  # this very version was shipped before
            shutil.rmtree(partial)
            return final
        for path in partial.iterdir():
            path.chmod(0o644)  # safetensors writes 0600: the image's user (uid 1000) must read a mounted version
        partial.chmod(0o755)
        partial.rename(final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return final


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
        shipped = ship(run, args.ship)
        details["shipped"] = str(shipped)
        print(f"shipped as {shipped}; serve it in a running service with: make redeploy ADAPTER={shipped.name}",
              file=sys.stderr)
    run.record("merge", details)
    print(json.dumps(details))
    return 0


if __name__ == "__main__":
    sys.exit(main())
