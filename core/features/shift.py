"""Level shift: none, up or down, where and by how much, from a change-point method and a jump test.

`ruptures`' optimal segmentation under the least-squares cost (KernelCPD with a linear kernel, whose dynamic program
is C: 0.4 ms at 128 points where Binseg's Python loop took 8–40 ms; same labels on 957/960 generated series), on at
most SEARCH_POINTS points, proposes up to MAX_CANDIDATES mean changes, each refined on the full series to the split
that best separates the two sides' means. A trend or a season also has mean changes, so a candidate is kept only if the series *jumps* there: the means of the windows just
before and just after it differ by a visible share of the series' range and by many times the noise (the larger of
the point-to-point noise, from the MAD of the first differences, and either window's own spread). A ramp or a cycle
longer than the window spreads its windows as much as it moves them; a step does not. Windows are a share of the
length, so the same process gets the same label at any sampling."""

from __future__ import annotations

import random
from functools import partial

import numpy as np
import ruptures

from core.features.base import MAD_TO_SIGMA, Feature, Labels, SeriesView, article_before, first_listed, pick
from core.features.extrema import position_label

WINDOW_SHARE = 1 / 16  # each side's line is fitted on this share of the series
MIN_WINDOW = 6
MAX_CANDIDATES = 3
SEGMENTATION = partial(ruptures.KernelCPD, kernel="linear")  # the l2 cost of a mean change, in C
SEARCH_POINTS = 128  # the segmentation reads at most this many points (every k-th), the jump test all of them
SHIFT_RANGE_SHARE = 0.25  # the jump is at least this share of the series' 1–99% range
SHIFT_NOISE_Z = 5.0  # and this many times the wiggle of either side (a ramp's two windows differ by 3.5)
LABELS = ("none", "up", "down")
SHIFT_WORDS = {  # in order of priority: a denial first, then the direction
    "none": r"\b(?:no|not|never)\b[^.]*\b(?:shift\w*|jumps?|steps?|breaks?|change.?points?|changes? (?:in|of) level)\b",
    "up": r"\b(?:upward|up|rises?|jumps? up|steps? up|higher level|increase in level)\b",
    "down": r"\b(?:downward|down|drops?|falls?|steps? down|lower level|decrease in level)\b",
}
PHRASINGS = {  # the same frames for every label, parting at its own token (see trend.FRAMES)
    "none": ["There is no level shift.", "The level shows no abrupt shift.", "The series has no sudden change of level."],
    "up": ["There is an upward level shift {where}.", "The level shows an upward shift {where}.",
           "The series has an upward change of level {where}."],
    "down": ["There is a downward level shift {where}.", "The level shows a downward shift {where}.",
             "The series has a downward change of level {where}."],
}
WHERE = {"beginning": "near the beginning", "middle": "in the middle", "end": "near the end"}


def jump_at(x: np.ndarray, index: int, window: int) -> tuple[float, float]:
    """(jump, the sides' noise) between the means of the windows before and after `index`; a side's noise is its
    spread around its own mean, so a side that is no level (a ramp, a cycle) needs a bigger jump."""
    before, after = x[index - window : index], x[index : index + window]
    return float(after.mean() - before.mean()), float(max(before.std(), after.std()))


def refined(x: np.ndarray, index: int, every: int) -> int:
    """The split within ±every points of a coarse change point that best separates the two sides' means."""
    if every == 1:
        return index
    lo, hi = max(1, index - every), min(x.size - 1, index + every)
    splits = np.arange(lo, hi + 1)
    sums = np.concatenate(([0.0], np.cumsum(x)))
    left = sums[splits] / splits
    right = (sums[-1] - sums[splits]) / (x.size - splits)
    return int(splits[np.argmax(splits * (x.size - splits) * (left - right) ** 2)])


def level_shift(values: np.ndarray) -> tuple[int, float]:
    """(index where the new level starts, jump in the series' units) of the largest real jump, or (0, 0.0)."""
    x = values.astype(np.float64)
    n = x.size
    window = max(MIN_WINDOW, int(n * WINDOW_SHARE))
    if n < 2 * window + 2:
        return 0, 0.0
    low, high = np.percentile(x, [1, 99])
    sigma = MAD_TO_SIGMA * float(np.median(np.abs(np.diff(x) - np.median(np.diff(x))))) / np.sqrt(2)
    every = -(-n // SEARCH_POINTS)
    coarse = x[::every]
    min_size = max(2, window // every)
    candidates = min(MAX_CANDIDATES, coarse.size // (2 * min_size))  # room for each split: a short series has fewer
    found = SEGMENTATION(min_size=min_size, jump=1).fit(coarse).predict(n_bkps=candidates)
    best = (0, 0.0)
    for index in (refined(x, i * every, every) for i in found[:-1]):
        if not window <= index <= n - window:
            continue
        jump, spread = jump_at(x, index, window)
        if abs(jump) >= SHIFT_RANGE_SHARE * (high - low) and abs(jump) >= SHIFT_NOISE_Z * max(sigma, spread) \
                and abs(jump) > abs(best[1]):
            best = (int(index), jump)
    return best


def compute(view: SeriesView) -> tuple[dict[str, str], dict[str, float | int]]:
    index, jump = (0, 0.0) if view.constant else view.once(level_shift)
    label = "none" if not jump else "up" if jump > 0 else "down"
    return {"shift": label}, {"shift_index": index, "shift_size": float(f"{jump:.6g}")}


def shift_fact(labels: Labels) -> str:
    if labels["shift"] == "none":
        return "The series has no level shift."
    at = WHERE[position_label(int(labels["shift_index"]), int(labels["length"]))]
    on = f" ({labels['shift_index_time']})" if labels.get("shift_index_time") else ""
    return f"The level shifts {labels['shift']} {at}, at index {labels['shift_index']}{on}."


def read_shift(sentence: str) -> str | None:
    """The shift a sentence states: a denial first, then the direction."""
    return first_listed(sentence.lower(), SHIFT_WORDS)


def phrase(labels: Labels, rng: random.Random) -> str:
    at = WHERE[position_label(int(labels.get("shift_index", 0)), int(labels.get("length", 1)))]
    return pick(PHRASINGS[labels["shift"]], rng).format(where=at)


FEATURE = Feature(
    field="shift", labels={"shift": LABELS}, compute=compute, fact=shift_fact,
    constant_fact="The series is constant, so its level never shifts.",
    read=lambda sentence: {"shift": read_shift(sentence)}, phrase=phrase, instruction="level shift",
    evidence={"shift": ("shift_index", "shift_size")}, positions=("shift_index",),
    label_words=(r"\bno\b", r"\b(?:up|upward|down|downward)\b", article_before(r"\b(?:upward|downward)\b")),
)
