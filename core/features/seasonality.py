"""Seasonality: none, or seasonal with its period in points, from the autocorrelation of the detrended series.

The method is the textbook one (Box–Jenkins): statsmodels' ACF of the residual of a cubic fit (and of the level
shift the shift rule finds, which would swamp it), and a period where the ACF has a peak after it first went
negative that is strong (≥ SEASONAL_ACF) and outside the 99% band of an uncorrelated series. Bartlett's band is
not used: it widens with the ACF itself, so a clean season of few cycles would never pass it (measured on the
generator's seasonal families: 21 of 80 found with it, 67 of 80 without, false alarms elsewhere 3 in 560).
The ACF estimates the process's autocorrelation whatever the length, so the same process gets the same label at 128
or 100,000 points; at least MIN_CYCLES full periods must fit in the series. Chosen over a periodogram because the
ACF peak *is* the period in the caller's points, and over STL because STL needs the period first."""

from __future__ import annotations

import random

import numpy as np
from scipy.signal import find_peaks
from statsmodels.tsa.stattools import acf

from core.features.base import Feature, Labels, SeriesView, article_before, first_listed, pick
from core.features.noise import cubic_basis
from core.features.shift import level_shift

SEASONAL_ACF = 0.4  # the autocorrelation at the period lag a seasonal series reaches
MIN_CYCLES = 3  # full periods that must fit in the series
SIGNIFICANCE = 0.01  # and outside the 99% band of an uncorrelated series
MAX_POINTS = 4096  # longer series are read every k-th point: the same autocorrelation, 25x cheaper at 100,000
LABELS = ("none", "seasonal")
SEASONALITY_WORDS = {  # in order of priority: a denial first
    "none": r"\b(?:no|without|lacks?|absent|non-?seasonal|aperiodic)\b[^.]*\b(?:season\w*|periodic\w*|cycl\w*|repeat\w*)\b",
    "seasonal": r"\b(?:seasonal\w*|periodic\w*|cycl\w*|repeat\w*|oscillat\w*|period)\b",
}
PHRASINGS = {  # the same frames for both labels, parting at the label's own token (see trend.FRAMES)
    "none": [
        "There is no clear seasonality in the series.",
        "The series shows no repeating seasonal pattern.",
        "No periodic pattern is visible.",
    ],
    "seasonal": [
        "There is a clear seasonal pattern with a period of about {period} points.",
        "The series shows a repeating seasonal pattern every {period} points.",
        "A periodic pattern is visible, with a period of about {period} points.",
    ],
}


def detrended(values: np.ndarray) -> np.ndarray:
    """The residual of a least-squares cubic fit (trend and one hump removed, the cycles kept)."""
    basis = cubic_basis(values.size)
    return values - basis @ (basis.T @ values)


def seasonal_period(values: np.ndarray) -> tuple[int, float]:
    """(period in points, ACF at it) of the strongest significant ACF peak, or (0, best ACF seen) if none."""
    every = -(-values.size // MAX_POINTS)
    x = values[::every].astype(np.float64)
    nlags = x.size // MIN_CYCLES
    if nlags < 2:
        return 0, 0.0
    x = detrended(x)
    if not np.any(x):
        return 0, 0.0
    r, band = acf(x, nlags=nlags, fft=True, alpha=SIGNIFICANCE, bartlett_confint=False, result_object=False)
    bound = band[:, 1] - r
    negative = np.flatnonzero(r[1:] < 0)
    if not negative.size:
        return 0, 0.0
    start = int(negative[0]) + 1
    peaks, _ = find_peaks(r[start:])
    peaks = peaks + start
    if not peaks.size:
        return 0, 0.0
    best = int(peaks[np.argmax(r[peaks])])
    strength = float(r[best])
    if strength >= SEASONAL_ACF and strength > bound[best]:
        return best * every, strength
    return 0, strength


def without_level_shift(view: SeriesView) -> np.ndarray:
    """The series with its level shift (the shift rule's) taken out: a step would swamp the cycles' ACF."""
    index, jump = view.once(level_shift)
    return view.values - jump * (np.arange(view.values.size) >= index) if jump else view.values


def compute(view: SeriesView) -> tuple[dict[str, str], dict[str, float | int]]:
    period, strength = (0, 0.0) if view.constant else seasonal_period(without_level_shift(view))
    return {"seasonality": "seasonal" if period else "none"}, {"period": period, "seasonal_acf": round(strength, 4)}


def seasonality_fact(label: str, period: int, duration: str | None = None) -> str:
    if label == "none":
        return "The series shows no seasonality."
    return f"The series is seasonal with a period of about {period} points" + (f" ({duration})." if duration else ".")


def read_seasonality(sentence: str) -> str | None:
    """'none' if the sentence denies a cycle, 'seasonal' if it names one, None if it says neither."""
    return first_listed(sentence.lower(), SEASONALITY_WORDS)


def phrase(labels: Labels, rng: random.Random) -> str:
    return pick(PHRASINGS[labels["seasonality"]], rng).format(period=labels["period"])


FEATURE = Feature(
    field="seasonality", labels={"seasonality": LABELS}, compute=compute,
    fact=lambda labels: seasonality_fact(labels["seasonality"], labels["period"], labels.get("period_seconds")),
    constant_fact="The series is constant, so it has no seasonality.",
    read=lambda sentence: {"seasonality": read_seasonality(sentence)}, phrase=phrase, instruction="seasonality",
    evidence={"seasonality": ("period", "seasonal_acf")}, durations=("period",),
    label_words=(r"\bno\b", SEASONALITY_WORDS["seasonal"], article_before(SEASONALITY_WORDS["seasonal"])),
)
