"""How well a quantity a student can read near each point predicts the noise rule's label (the RMS of the residual
of a cubic fit): the mean step between neighbours and the RMS distance from a running mean of w points, each cut at
the two thresholds that fit a run's training set best, scored on its in-distribution test set and on the real-world
series. Usage: .venv/bin/python docs/training/line-init/noise_proxies.py runs/train30  (≈ 30 s)."""

import json
import sys
from pathlib import Path

import numpy as np
from scipy.ndimage import uniform_filter1d

from core.facts import compute_features
from core.series import encode

LABELS = ("low", "medium", "high")


def proxies(levels) -> dict[str, float]:
    """The mean absolute step and the RMS distance from running means of 5–65 points."""
    levels = np.asarray(levels, float)
    out = {"step": float(np.abs(np.diff(levels)).mean())}
    for w in (5, 9, 17, 33, 65):
        out[f"ma{w}"] = float(np.sqrt(((levels - uniform_filter1d(levels, w, mode="nearest")) ** 2).mean()))
    return out


def cut(x: np.ndarray, low: float, high: float) -> np.ndarray:
    return np.where(x < low, "low", np.where(x > high, "high", "medium"))


def best_cut(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """The two thresholds (from the quantiles of x) that label the most of y right, and that share."""
    best = (0.0, 0.0, 0.0)
    for low in np.quantile(x, np.linspace(0.05, 0.6, 45)):
        for high in np.quantile(x, np.linspace(0.3, 0.95, 45)):
            if high > low and (share := float((cut(x, low, high) == y).mean())) > best[0]:
                best = (share, float(low), float(high))
    return best


def table(rows: list[tuple[list[int], str]]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    found = [proxies(levels) for levels, _ in rows]
    return {k: np.array([f[k] for f in found]) for k in found[0]}, np.array([label for _, label in rows])


def main() -> None:
    run = Path(sys.argv[1])
    read = lambda name: [json.loads(line) for line in (run / name).open()]
    train = [(e["levels"], e["features"]["noise"]) for e in read("sft/train.jsonl") if len(e["levels"]) >= 16]
    test = [(e["levels"], e["features"]["noise"]) for e in read("sft/test.jsonl")]
    real = [(encode(e["values"], length=128).levels, compute_features(e["values"]).labels["noise"])
            for e in read("realworld_series.jsonl")]
    (x_train, y_train), (x_test, y_test), (x_real, y_real) = table(train), table(test), table(real)
    print("quantity | train (fit) | in-distribution test | per class low/medium/high | real world | per class")
    for key in x_train:
        share, low, high = best_cut(x_train[key], y_train)
        scored = []
        for x, y in ((x_test, y_test), (x_real, y_real)):
            said = cut(x[key], low, high)
            per = " ".join(f"{int(((said == c) & (y == c)).sum())}/{int((y == c).sum())}" for c in LABELS)
            scored.append(f"{(said == y).mean():.3f} | {per}")
        print(f"{key} (cut {low:.2f}, {high:.2f}) | {share:.3f} | " + " | ".join(scored))


if __name__ == "__main__":
    main()
