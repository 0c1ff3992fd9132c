"""Noise: low, medium or high, from the RMS of the residual of a cubic fit to the rescaled series."""

from __future__ import annotations

import random
from functools import lru_cache

import numpy as np

from core.features.base import Feature, Labels, SeriesView, as_columns, pick
from core.features.trend import first_match

NOISE_LOW, NOISE_HIGH = 2.0, 12.0  # RMS of the cubic-fit residual, 0–99 scale
LABELS = ("low", "medium", "high")
NOISE_WORDS = {
    "low": r"\b(?:low|minimal|little|slight|smooth|small|weak|minor)\b",
    "medium": r"\b(?:medium|moderate\w*|intermediate)\b",
    "high": r"\b(?:high|strong|heavy|large|substantial|considerable|intense)\b",
}
TAILS = {
    "low": "the values following a smooth path",
    "medium": "noticeable fluctuations throughout the series",
    "high": "significant fluctuations throughout the series",
}
# The same frames for every level, so the level word is the token that decides it (see trend.FRAMES). The first
# (canonical) frame carries the tail: the real teacher's most frequent noise sentence is "The noise intensity is
# medium, with noticeable fluctuations throughout the series." (a student stating the teacher's labels in the
# canonical frames: cosine .953 to the teacher without the tail, .965 with it; docs/training.md, 2026-12-05).
PHRASINGS = {
    label: [f"The noise intensity is {label}, with {tail}.", f"The noise intensity is {label}.",
            f"The noise intensity in the time series is {label}."]
    for label, tail in TAILS.items()
}


@lru_cache(maxsize=16)
def cubic_basis(size: int) -> np.ndarray:
    """An orthonormal basis of the polynomials of degree ≤ 3 sampled at `size` even points of [0, 1]."""
    x = np.linspace(0.0, 1.0, size)
    basis, _ = np.linalg.qr(np.vander(x, min(3, size - 1) + 1))
    return basis


def noise_label(scaled: np.ndarray) -> tuple[str, float]:
    """Low/medium/high from the RMS of the residual of a cubic polynomial fit (least squares, as a projection),
    averaged over the columns."""
    columns = as_columns(scaled).astype(np.float64)
    basis = cubic_basis(columns.shape[0])
    residual = columns - basis @ (basis.T @ columns)
    rms = float(np.sqrt(np.mean(residual**2, axis=0)).mean())
    if rms < NOISE_LOW:
        return "low", rms
    if rms > NOISE_HIGH:
        return "high", rms
    return "medium", rms


def compute(view: SeriesView) -> tuple[dict[str, str], dict[str, float]]:
    label, rms = ("low", 0.0) if view.constant else noise_label(view.columns)
    return {"noise": label}, {"noise_rms": rms, "noise_std": 0.0 if view.constant else view.in_units(rms)}


def noise_fact(label: str) -> str:
    return f"The noise intensity is {label}."


def read_noise(sentence: str) -> str | None:
    """The noise level a sentence states (explicit level words win over synonyms)."""
    text = sentence.lower()
    explicit = first_match(text, {"low": r"\blow\b", "medium": r"\b(?:medium|moderate\w*)\b", "high": r"\bhigh\b"})
    return explicit or first_match(text, NOISE_WORDS)


def phrase(labels: Labels, rng: random.Random) -> str:
    return pick(PHRASINGS[labels["noise"]], rng)


FEATURE = Feature(
    field="noise", labels={"noise": LABELS}, compute=compute, fact=lambda labels: noise_fact(labels["noise"]),
    constant_fact="The noise intensity is low: the values do not vary.",
    read=lambda sentence: {"noise": read_noise(sentence)}, phrase=phrase, instruction="noise", evidence={"noise": ("noise_rms", "noise_std")},
    label_words=tuple(NOISE_WORDS.values()),
)
