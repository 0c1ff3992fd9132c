"""Outliers: none, one or several isolated points far off their neighbours, and where they are.

A Hampel filter (Pearson et al. 2016): the residual of a running median of HAMPEL_WINDOW points (scipy.ndimage),
against the local point-to-point noise (a running median of the absolute first differences, MAD-scaled), so a point
counts only against the series' own noise where it lies, and a turning point of a rough curve does not; it must also
be a visible share of the series' range. Adjacent flagged points are one outlier. The
window is in points, not a share of the length: an outlier is a point event at any sampling."""

from __future__ import annotations

import random
import re

import numpy as np
from scipy.ndimage import median_filter

from core.features.base import MAD_TO_SIGMA, REFERENCE_LENGTH, Feature, Labels, SeriesView, first_listed, pick
from core.features.extrema import position_label

HAMPEL_WINDOW = 5  # short: a running median of 5 follows a season of period ≥ 12 closely
SCALE_WINDOW = 31  # the local noise: a running median of the absolute first differences over this many points
OUTLIER_Z = 8.0  # robust z-score of the Hampel residual against the local point-to-point noise
OUTLIER_RANGE_SHARE = 0.15  # and at least this share of the running median's range
MAX_REPORTED = 20
LABELS = ("none", "one", "several")
COUNT_WORDS = {  # in order of priority: a denial first, then plural, then singular
    "none": r"\bno\b[^.]*\b(?:outliers?|anomal\w*|spikes?|glitch\w*)\b",
    "several": r"\b(?:several|multiple|many|two|three|four|five|a few|some)\b[^.]*\b(?:outliers|anomalies|spikes|glitches)\b",
    "one": r"\b(?:one|an|a single|single)\b[^.]*\b(?:outlier|anomaly|spike|glitch)\b",
}
PHRASINGS = {  # the same frames for every count, parting at the count word (see trend.FRAMES)
    "none": ["The series has no outliers.", "No outliers stand out from the series.", "No outliers appear in the series."],
    "one": ["The series has one outlier, {where}.", "One outlier stands out {where}.", "One outlier appears {where}."],
    "several": ["The series has several outliers, {where}.", "Several outliers stand out {where}.",
                "Several outliers appear {where}."],
}
WHERE = {"beginning": "at the beginning", "middle": "in the middle", "end": "at the end"}


def outlier_groups(values: np.ndarray) -> list[int]:
    """The index of the largest deviation in each run of adjacent flagged points, in order."""
    n = values.size
    if n < HAMPEL_WINDOW:
        return []
    x = values.astype(np.float64)
    smooth = median_filter(x, size=HAMPEL_WINDOW, mode="nearest")
    residual = x - smooth
    steps = np.abs(np.diff(x, prepend=x[0]))
    local = median_filter(steps, size=SCALE_WINDOW, mode="nearest")
    sigma = MAD_TO_SIGMA / np.sqrt(2) * np.maximum(local, 0.5 * np.median(steps))  # a calm stretch is not silent
    floor = OUTLIER_RANGE_SHARE * float(smooth.max() - smooth.min())
    if floor <= 0:
        return []
    flagged = np.flatnonzero((np.abs(residual) > OUTLIER_Z * sigma) & (np.abs(residual) > floor))
    if not flagged.size:
        return []
    runs = np.split(flagged, np.flatnonzero(np.diff(flagged) > 1) + 1)
    return [int(run[np.argmax(np.abs(residual[run]))]) for run in runs]


def count_label(count: int) -> str:
    return "none" if count == 0 else "one" if count == 1 else "several"


def compute(view: SeriesView) -> tuple[dict[str, str], dict[str, object]]:
    found = [] if view.constant else outlier_groups(view.values)
    return {"outliers": count_label(len(found))}, {"outlier_count": len(found), "outlier_indices": found[:MAX_REPORTED]}


def where(indices: list[int], length: int) -> str:
    """'in the middle', 'at the beginning and at the end': the zones of the rule the outliers lie in."""
    zones = list(dict.fromkeys(position_label(i, length) for i in indices))
    return " and ".join(WHERE[z] for z in zones) or "somewhere"


def outliers_fact(labels: Labels) -> str:
    label = labels["outliers"]
    if label == "none":
        return "The series has no outliers."
    at = where(list(labels["outlier_indices"]), int(labels.get("length", REFERENCE_LENGTH)))
    noun = "one outlier" if label == "one" else f"{labels['outlier_count']} outliers"
    on = f" ({labels['outlier_times']})" if labels.get("outlier_times") else ""
    return f"The series has {noun}, {at}{on}."


def read_outliers(sentence: str) -> str | None:
    """The outlier count class a sentence states (a denial first, then plural, then singular)."""
    text = sentence.lower()
    if label := first_listed(text, COUNT_WORDS):
        return label
    if re.search(r"\b\d+\s+(?:outliers|anomalies|spikes)\b", text):
        return "several"
    return None


def phrase(labels: Labels, rng: random.Random) -> str:
    at = where(list(labels.get("outlier_indices", [])), int(labels.get("length", REFERENCE_LENGTH)))
    return pick(PHRASINGS[labels["outliers"]], rng).format(where=at)


FEATURE = Feature(
    field="outliers", labels={"outliers": LABELS}, compute=compute, fact=outliers_fact,
    constant_fact="The series is constant, so it has no outliers.",
    read=lambda sentence: {"outliers": read_outliers(sentence)}, phrase=phrase, instruction="outliers",
    evidence={"outliers": ("outlier_count", "outlier_indices")}, positions=("outlier_indices",),
    label_words=(r"\b(?:no|one|single|several|multiple)\b",),
)
