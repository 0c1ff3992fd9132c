"""Feature rules (the paper's companion code, scaled to any length), label reading, self-check and repair."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from service.schema import Description
from service.series import ENCODED_MAX, NEAR_CONSTANT_SPAN, is_near_constant, without_overflow

REFERENCE_LENGTH = 128  # the rules' thresholds are stated for 128 points
EDGE_POINTS = 20  # mean of the first/last 20 of 128 points
TREND_DELTA = 3.0  # on the 0–99 scale
NOISE_LOW, NOISE_HIGH = 2.0, 12.0  # RMS of the cubic-fit residual, 0–99 scale
BEGINNING_BEFORE, END_AFTER = 32, 96  # of 128

CHECKED_FIELDS = ("trend", "noise", "max", "min")
POSITIONS = ("beginning", "middle", "end")
FIELD_LABELS = {"trend": ("increasing", "decreasing", "flat"), "noise": ("low", "medium", "high"),
                "max": POSITIONS, "min": POSITIONS}


@dataclass(frozen=True)
class Features:
    """The labels the feature rules compute from a full-resolution series, with the numbers behind them."""

    trend: str
    noise: str
    max: str
    min: str
    trend_delta: float
    noise_rms: float
    argmax: int
    argmin: int
    length: int
    constant: bool = False

    def label(self, name: str) -> str:
        return getattr(self, name)


def decimations(values: np.ndarray) -> np.ndarray:
    """The series as k = n // 128 columns of 128 points spread evenly over the whole series (column j samples the
    j-th of every k evenly spaced points), so that each column is the same process sampled at the rules' own
    length; a series shorter than twice that is one column of its own length."""
    k = values.size // REFERENCE_LENGTH
    if k < 2:
        return values[:, None]
    return values[decimation_index(values.size, k)]


@lru_cache(maxsize=16)
def decimation_index(size: int, k: int) -> np.ndarray:
    grid = np.arange(REFERENCE_LENGTH)[:, None] * k + np.arange(k)[None, :]
    return grid * size // (REFERENCE_LENGTH * k)


def rescaled_columns(columns: np.ndarray) -> np.ndarray:
    """Each column min–max rescaled to the 0–99.9999 scale the thresholds are stated in (a constant column is 0)."""
    columns = without_overflow(columns)
    magnitude = float(np.max(np.abs(columns)))
    low = columns.min(axis=0)
    span = columns.max(axis=0) - low
    varies = span > NEAR_CONSTANT_SPAN * magnitude
    return np.where(varies, (columns - low) / np.where(varies, span, 1.0), 0.0) * ENCODED_MAX


def as_columns(scaled: np.ndarray) -> np.ndarray:
    return scaled[:, None] if scaled.ndim == 1 else scaled


def trend_label(scaled: np.ndarray) -> tuple[str, float]:
    """Increasing/decreasing if the mean of the last 20/128 of the points differs from the first by more than 3
    (averaged over the columns)."""
    columns = as_columns(scaled)
    k = max(1, round(EDGE_POINTS * columns.shape[0] / REFERENCE_LENGTH))
    delta = float((columns[-k:].mean(axis=0) - columns[:k].mean(axis=0)).mean())
    if delta > TREND_DELTA:
        return "increasing", delta
    if delta < -TREND_DELTA:
        return "decreasing", delta
    return "flat", delta


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


def position_label(index: int, length: int) -> str:
    """Beginning before 32/128 of the series, end after 96/128, middle otherwise."""
    scaled = index * REFERENCE_LENGTH / length
    if scaled < BEGINNING_BEFORE:
        return "beginning"
    if scaled > END_AFTER:
        return "end"
    return "middle"


def compute_features(values: Sequence[float] | np.ndarray) -> Features:
    """All four labels for a series at full resolution, whatever its length and scale.

    Trend and noise are the paper's 128-point rules averaged over the series' 128-point decimations (so a process
    gets the same labels at 128 or 100,000 points); the max and min are the raw values' (ties: the first); a
    near-constant series is flat with low noise."""
    array = np.asarray(values, dtype=np.float64)
    argmax, argmin = int(np.argmax(array)), int(np.argmin(array))
    constant = is_near_constant(array)
    if constant:
        (trend, delta), (noise, rms) = ("flat", 0.0), ("low", 0.0)
    else:
        scaled = rescaled_columns(decimations(array))
        (trend, delta), (noise, rms) = trend_label(scaled), noise_label(scaled)
    return Features(
        trend=trend,
        noise=noise,
        max=position_label(argmax, array.size),
        min=position_label(argmin, array.size),
        trend_delta=delta,
        noise_rms=rms,
        argmax=argmax,
        argmin=argmin,
        length=array.size,
        constant=constant,
    )


def stored_features(record: dict) -> Features:
    """A training record's features: those computed on its full-resolution series when it was encoded, else (an
    imported record, which has only the levels) those of its levels."""
    stored = record.get("features")
    return Features(**stored) if stored else compute_features(record["levels"])


def trend_fact(label: str) -> str:
    if label == "flat":
        return "The series shows no clear trend; it stays flat."
    article = "an" if label == "increasing" else "a"
    return f"The series shows {article} {label} trend."


def noise_fact(label: str) -> str:
    return f"The noise intensity is {label}."


def extrema_fact(max_label: str, min_label: str) -> str:
    return f"The global maximum is at the {max_label} and the global minimum is at the {min_label} of the series."


CONSTANT_FACTS = {
    "trend": "The series is constant: no trend, it stays flat.",
    "noise": "The noise intensity is low: the values do not vary.",
    "max": "The series is constant, so the global maximum and the global minimum are both at the beginning.",
}


def fact_sentences(features: Features) -> dict[str, str]:
    """One plain sentence per checked field, stating what the rules computed."""
    if features.constant:
        return {**CONSTANT_FACTS, "min": CONSTANT_FACTS["max"]}
    extrema = extrema_fact(features.max, features.min)
    return {"trend": trend_fact(features.trend), "noise": noise_fact(features.noise), "max": extrema, "min": extrema}


# --- reading the labels a description states -------------------------------------------------

_FLAT_PATTERNS = (
    r"\bno (?:clear|significant|discernible|obvious|strong|consistent|distinct|overall|particular|apparent)?\s*"
    r"(?:overall |long-term )?(?:upward |downward |increasing |decreasing )?(?:or (?:upward|downward|increasing|decreasing) )?trend",
    r"\bneither (?:increasing|decreasing|upward|downward)",
    r"\bnot (?:show|exhibit|display|have|follow)\w* (?:a |any )?(?:clear |significant |consistent |discernible )?"
    r"(?:overall |long-term )?(?:increasing|decreasing|upward|downward|trend)",
    r"\b(?:flat|stable|stationary|constant|sideways|horizontal|level|trendless)\b",
    r"\bfluctuates? around\b",
)
_TREND_WORDS = {
    "increasing": r"\b(?:increas\w*|upward\w*|ris(?:e|es|ing)|grow\w*|ascend\w*|climb\w*|uptrend)\b",
    "decreasing": r"\b(?:decreas\w*|downward\w*|declin\w*|fall(?:s|ing)?|descend\w*|drop\w*|downtrend)\b",
}
_NOISE_WORDS = {
    "low": r"\b(?:low|minimal|little|slight|smooth|small|weak|minor)\b",
    "medium": r"\b(?:medium|moderate\w*|intermediate)\b",
    "high": r"\b(?:high|strong|heavy|large|substantial|considerable|intense)\b",
}
_POSITION_WORDS = {
    "beginning": r"\b(?:beginning|begin\w*|start\w*|early|earliest|first|outset|initial\w*|onset)\b",
    "middle": r"\b(?:middle|mid\w*|cent(?:er|re|ral))\b",
    "end": r"\b(?:end\w*|final\w*|late\w*|last|finish\w*|close)\b",
}
_MAX_WORDS = r"\b(?:maximum|maxima|max|peak|highest)\b"
_MIN_WORDS = r"\b(?:minimum|minima|min|trough|lowest)\b"


def label_word_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the words that state a label (the readers' own vocabulary), e.g. to weigh them in a loss."""
    patterns = [*_FLAT_PATTERNS, *_TREND_WORDS.values(), *_NOISE_WORDS.values(), *_POSITION_WORDS.values()]
    lowered = text.lower()
    return sorted({m.span() for pattern in patterns for m in re.finditer(pattern, lowered)})


def _first_match(text: str, patterns: dict[str, str]) -> str | None:
    """The label whose pattern occurs earliest in the text."""
    best: tuple[int, str] | None = None
    for label, pattern in patterns.items():
        match = re.search(pattern, text)
        if match and (best is None or match.start() < best[0]):
            best = (match.start(), label)
    return best[1] if best else None


def read_trend(sentence: str) -> str | None:
    """The trend label a sentence states, or None if it states none."""
    text = sentence.lower()
    if any(re.search(p, text) for p in _FLAT_PATTERNS[:3]):
        return "flat"
    stated = _first_match(text, _TREND_WORDS)
    if stated is None and any(re.search(p, text) for p in _FLAT_PATTERNS[3:]):
        return "flat"
    return stated


def read_noise(sentence: str) -> str | None:
    """The noise level a sentence states (explicit level words win over synonyms)."""
    text = sentence.lower()
    explicit = _first_match(text, {"low": r"\blow\b", "medium": r"\b(?:medium|moderate\w*)\b", "high": r"\bhigh\b"})
    return explicit or _first_match(text, _NOISE_WORDS)


def read_extrema(sentence: str) -> tuple[str | None, str | None]:
    """The (max, min) positions a sentence states, handling 'respectively' and shared locations."""
    text = sentence.lower()
    max_match, min_match = re.search(_MAX_WORDS, text), re.search(_MIN_WORDS, text)
    if not max_match and not min_match:
        return None, None
    mentions = sorted(
        [(m.start(), m.end(), name) for m, name in ((max_match, "max"), (min_match, "min")) if m]
    )
    positions = [
        (m.start(), label) for label, pattern in _POSITION_WORDS.items() for m in re.finditer(pattern, text)
    ]
    positions.sort()
    found: dict[str, str | None] = {"max": None, "min": None}
    if "respectively" in text and len(mentions) == 2:
        after = [label for start, label in positions if start > mentions[1][1]]
        if len(after) >= 2:
            found[mentions[0][2]], found[mentions[1][2]] = after[0], after[1]
            return found["max"], found["min"]
    for i, (start, end, name) in enumerate(mentions):
        stop = mentions[i + 1][0] if i + 1 < len(mentions) else len(text)
        inside = [label for pos, label in positions if end <= pos < stop]
        if inside:
            found[name] = inside[0]
    if len(mentions) == 2:
        first, second = mentions[0][2], mentions[1][2]
        if found[first] is None and found[second] is not None:
            found[first] = found[second]  # "the maximum and minimum are both at the end"
    return found["max"], found["min"]


def read_labels(description: Description) -> dict[str, str | None]:
    """The four labels a description states (None where it states none)."""
    max_label, min_label = read_extrema(description.extrema)
    return {
        "trend": read_trend(description.trend),
        "noise": read_noise(description.noise),
        "max": max_label,
        "min": min_label,
    }


# --- self-check and repair --------------------------------------------------------------------


@dataclass(frozen=True)
class FieldCheck:
    stated: str | None
    computed: str
    fact: str

    @property
    def agrees(self) -> bool:
        return self.stated == self.computed


@dataclass(frozen=True)
class SelfCheck:
    fields: dict[str, FieldCheck]
    repaired: tuple[str, ...] = field(default=())

    @property
    def score(self) -> float:
        return sum(c.agrees for c in self.fields.values()) / len(self.fields)

    def contradicted(self) -> list[str]:
        return [name for name, c in self.fields.items() if not c.agrees]


def check(description: Description, features: Features) -> SelfCheck:
    """Compare the labels a description states with the computed ones, field by field."""
    stated = read_labels(description)
    facts = fact_sentences(features)
    return SelfCheck(
        fields={name: FieldCheck(stated[name], features.label(name), facts[name]) for name in CHECKED_FIELDS}
    )


def repair(description: Description, result: SelfCheck) -> tuple[Description, tuple[str, ...]]:
    """Replace each contradicted output field with its fact sentence; returns the fields replaced."""
    bad = set(result.contradicted())
    replaced: dict[str, str] = {}
    if "trend" in bad:
        replaced["trend"] = result.fields["trend"].fact
    if "noise" in bad:
        replaced["noise"] = result.fields["noise"].fact
    if bad & {"max", "min"}:
        replaced["extrema"] = result.fields["max"].fact
    return description.model_copy(update=replaced), tuple(replaced)
