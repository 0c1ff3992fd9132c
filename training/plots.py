"""PNG plots for the training report: loss, accuracy before/after, confusion, OOD by family, examples."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

FIELDS = ("trend", "noise", "max", "min")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def loss_curve(losses: list[float], out: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(range(1, len(losses) + 1), losses, linewidth=0.8, alpha=0.5, label="step loss")
    if len(losses) >= 10:
        window = max(5, len(losses) // 25)
        smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
        ax.plot(range(window, len(losses) + 1), smooth, linewidth=2, label=f"mean of {window}")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (answer tokens)")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def accuracy_bars(results: dict, split: str, out: Path, title: str) -> Path:
    """Per-field accuracy of each model on one split."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    width = 0.8 / max(1, len(results))
    for i, (model, summary) in enumerate(results.items()):
        values = [summary[split][f] for f in FIELDS]
        bars = ax.bar(np.arange(len(FIELDS)) + i * width, values, width, label=model)
        ax.bar_label(bars, fmt="%.2f", fontsize=8)
    ax.set_xticks(np.arange(len(FIELDS)) + width * (len(results) - 1) / 2, FIELDS)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("accuracy")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def confusion_matrices(summary: dict, out: Path) -> Path:
    """Computed (rows) vs stated (columns) for trend and noise."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
    for ax, name, labels in ((axes[0], "trend", ["increasing", "decreasing", "flat"]),
                             (axes[1], "noise", ["low", "medium", "high"])):
        table = summary["confusion"][name]
        columns = labels + ["None", "invalid"]
        matrix = np.array([[table.get(r, {}).get(c, 0) for c in columns] for r in labels])
        ax.imshow(matrix, cmap="Blues")
        ax.set_xticks(range(len(columns)), columns, rotation=30, fontsize=8)
        ax.set_yticks(range(len(labels)), labels, fontsize=8)
        for (r, c), v in np.ndenumerate(matrix):
            ax.text(c, r, str(v), ha="center", va="center", fontsize=8)
        ax.set_xlabel("stated by the model")
        ax.set_ylabel("computed by the rules")
        ax.set_title(name)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def ood_by_family(results: dict, out: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.5))
    families = sorted(next(iter(results.values()))["ood_by_family"])
    width = 0.8 / max(1, len(results))
    for i, (model, summary) in enumerate(results.items()):
        bars = ax.bar(np.arange(len(families)) + i * width, [summary["ood_by_family"][f]["trend"] for f in families],
                      width, label=model)
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks(np.arange(len(families)) + width * (len(results) - 1) / 2, families, fontsize=8)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("trend accuracy")
    ax.set_title("out of distribution: trend accuracy by family (raw floats through the service's resampling)")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def example_grid(samples: list[dict], levels_by_id: dict[str, list[int]], out: Path, count: int = 6) -> Path:
    """Series with the global max/min marked and the student's description; wrong fields in red."""
    plt = _pyplot()
    samples = [s for s in samples if s["valid"] and s["id"] in levels_by_id][:count]
    fig, axes = plt.subplots(len(samples), 1, figsize=(10, 2.3 * max(1, len(samples))), squeeze=False)
    for ax, sample in zip(axes[:, 0], samples):
        levels = levels_by_id[sample["id"]]
        ax.plot(levels, linewidth=1)
        ax.scatter([int(np.argmax(levels))], [max(levels)], color="green", zorder=3, label="max")
        ax.scatter([int(np.argmin(levels))], [min(levels)], color="purple", zorder=3, label="min")
        wrong = [f for f in FIELDS if sample["stated"].get(f) != sample["computed"].get(f)]
        verdict = "all fields right" if not wrong else "wrong: " + ", ".join(wrong)
        ax.set_title(f"{sample['id']} — {verdict}", fontsize=8, color="red" if wrong else "darkgreen", loc="left")
        ax.text(1.01, 0.5, _wrap(sample["text"], 60), transform=ax.transAxes, fontsize=7, va="center")
        ax.set_xticks([])
    fig.tight_layout()
    fig.savefig(out, bbox_inches="tight")
    plt.close(fig)
    return out


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text or "", width))


def write_report_plots(run_path: Path, results: dict, samples: list[dict], levels_by_id: dict) -> list[Path]:
    """Every plot of the report into RUN/eval/."""
    out = run_path / "eval"
    out.mkdir(exist_ok=True)
    written = []
    log = run_path / "train_log.json"
    if log.exists():
        written.append(loss_curve(json.loads(log.read_text())["losses"], out / "loss.png"))
    written.append(accuracy_bars(results, "in_distribution", out / "accuracy.png", "in distribution: before vs after"))
    written.append(confusion_matrices(list(results.values())[-1], out / "confusion.png"))
    written.append(ood_by_family(results, out / "ood_by_family.png"))
    if samples:
        written.append(example_grid(samples, levels_by_id, out / "examples.png"))
    return written
