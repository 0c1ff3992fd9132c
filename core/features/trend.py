"""Trend: increasing, decreasing or flat, from the edge means of the rescaled series (the paper's rule)."""

from __future__ import annotations

import random
import re

import numpy as np

from core.features.base import REFERENCE_LENGTH, Feature, Labels, SeriesView, article_before, as_columns, pick

EDGE_POINTS = 20  # mean of the first/last 20 of 128 points
TREND_DELTA = 3.0  # on the 0–99 scale
LABELS = ("increasing", "decreasing", "flat")

FLAT_PATTERNS = (
    (r"\bno (?:clear|significant|discernible|obvious|strong|consistent|distinct|overall|particular|apparent)?\s*"
     r"(?:overall |long-term )?(?:upward |downward |increasing |decreasing )?(?:or (?:upward|downward|increasing|decreasing) )?trend"),
    r"\bneither (?:increasing|decreasing|upward|downward)",
    (r"\bnot (?:show|exhibit|display|have|follow)\w* (?:a |any )?(?:clear |significant |consistent |discernible )?"
     r"(?:overall |long-term )?(?:increasing|decreasing|upward|downward|trend)"),
    r"\b(?:flat|stable|stationary|constant|sideways|horizontal|level|trendless)\b",
    r"\bfluctuates? around\b",
)
TREND_WORDS = {
    "increasing": r"\b(?:increas\w*|upward\w*|ris(?:e|es|ing)|grow\w*|ascend\w*|climb\w*|uptrend)\b",
    "decreasing": r"\b(?:decreas\w*|downward\w*|declin\w*|fall(?:s|ing)?|descend\w*|drop\w*|downtrend)\b",
}
# Every label is phrased in the same frames, so the first token at which two labels' sentences differ is the label's
# own (here its article): in frames that differ by label, the student's earlier word choice decides the label without
# looking at the series (train17–20 said "shows" and then "an increasing" or "no clear" on strongly decreasing real
# series it had read right). The first frame follows the real teacher's medoid sentence (all-MiniLM-L6-v2), which
# keeps the student's voice the teacher's.
FRAMES = (
    "The time series shows {} trend over the time period.",
    "The time series exhibits {} trend over time.",
    "The time series displays {} trend over the observed period.",
)
STATED = {"increasing": "an increasing", "decreasing": "a decreasing", "flat": "no clear"}
PHRASINGS = {label: [frame.format(stated) for frame in FRAMES] for label, stated in STATED.items()}


def edge_points(length: int) -> int:
    """How many points at each edge the trend compares: 20 of 128, in proportion."""
    return max(1, round(EDGE_POINTS * length / REFERENCE_LENGTH))


def edge_changes(columns: np.ndarray) -> np.ndarray:
    """Per column, the mean of its last 20/128 of the points minus the mean of its first (the trend rule's quantity)."""
    k = edge_points(columns.shape[0])
    return columns[-k:].mean(axis=0) - columns[:k].mean(axis=0)


def trend_label(scaled: np.ndarray) -> tuple[str, float]:
    """Increasing/decreasing if the mean of the last 20/128 of the points differs from the first by more than 3
    (averaged over the columns)."""
    delta = float(edge_changes(as_columns(scaled)).mean())
    return trend_of(delta), delta


def trend_of(delta: float) -> str:
    """The label of an edge-mean change on the 0–99 scale."""
    return "increasing" if delta > TREND_DELTA else "decreasing" if delta < -TREND_DELTA else "flat"


def compute(view: SeriesView) -> tuple[dict[str, str], dict[str, float]]:
    label, delta = ("flat", 0.0) if view.constant else trend_label(view.columns)
    return {"trend": label}, {"trend_delta": delta, "trend_change": 0.0 if view.constant else view.in_units(delta)}


def trend_fact(label: str) -> str:
    if label == "flat":
        return "The series shows no clear trend; it stays flat."
    article = "an" if label == "increasing" else "a"
    return f"The series shows {article} {label} trend."


def read_trend(sentence: str) -> str | None:
    """The trend label a sentence states, or None if it states none."""
    text = sentence.lower()
    if any(re.search(p, text) for p in FLAT_PATTERNS[:3]):
        return "flat"
    stated = first_match(text, TREND_WORDS)
    if stated is None and any(re.search(p, text) for p in FLAT_PATTERNS[3:]):
        return "flat"
    return stated


def first_match(text: str, patterns: dict[str, str]) -> str | None:
    """The label whose pattern occurs earliest in the text."""
    best: tuple[int, str] | None = None
    for label, pattern in patterns.items():
        match = re.search(pattern, text)
        if match and (best is None or match.start() < best[0]):
            best = (match.start(), label)
    return best[1] if best else None


def phrase(labels: Labels, rng: random.Random) -> str:
    return pick(PHRASINGS[labels["trend"]], rng)


FEATURE = Feature(
    field="trend", labels={"trend": LABELS}, compute=compute, fact=lambda labels: trend_fact(labels["trend"]),
    constant_fact="The series is constant: no trend, it stays flat.",
    read=lambda sentence: {"trend": read_trend(sentence)}, phrase=phrase, instruction="trend",
    evidence={"trend": ("trend_delta", "trend_change")},
    label_words=(*FLAT_PATTERNS, *TREND_WORDS.values(), *(article_before(w) for w in TREND_WORDS.values())),
)
