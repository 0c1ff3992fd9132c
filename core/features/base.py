"""What every feature module gives the registry, and the series view its rule reads."""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from core.series import ENCODED_MAX, NEAR_CONSTANT_SPAN, is_near_constant, without_overflow

REFERENCE_LENGTH = 128  # the paper's thresholds are stated for 128 points
MAD_TO_SIGMA = 1.4826  # a normal distribution's sigma per median absolute deviation
CANONICAL_SHARE = 0.7  # a rule teacher uses a feature's first phrasing (its first frame, the teacher medoid's) this often

Labels = Mapping[str, object]  # the computed labels with their evidence, flat: {"trend": "flat", "period": 12, ...}
Evidence = dict[str, float | int | list[int]]


@dataclass(frozen=True)
class SeriesView:
    """A full-resolution series as the rules read it: raw values, and the rescaled 128-point decimations (k columns
    spread over the whole series, so that each is the same process at the rules' own length; None when constant)."""

    values: np.ndarray
    columns: np.ndarray | None
    constant: bool

    def once(self, rule: Callable[[np.ndarray], object]):
        """rule(values), computed once per view: a rule that another builds on (seasonality on the level shift)."""
        memo = self.__dict__.setdefault("_memo", {})  # a frozen dataclass still has its own __dict__
        if rule not in memo:
            memo[rule] = rule(self.values)
        return memo[rule]

    def in_units(self, levels: float) -> float:
        """A difference on the rules' 0–99.9999 scale in the series' own units."""
        return float(f"{levels * float(self.values.max() - self.values.min()) / ENCODED_MAX:.6g}")

    @classmethod
    def of(cls, values) -> SeriesView:
        array = np.asarray(values, dtype=np.float64)
        constant = is_near_constant(array)
        return cls(array, None if constant else rescaled_columns(decimations(array)), constant)


@dataclass(frozen=True)
class Feature:
    """A field of the description and the labels it states, from the series to the sentence and back."""

    field: str  # the description's field that states it
    labels: Mapping[str, tuple[str, ...]]  # checked name -> label vocabulary
    compute: Callable[[SeriesView], tuple[dict[str, str], Evidence]]  # labels and the numbers behind them
    fact: Callable[[Labels], str]  # one plain sentence stating the computed labels (and their evidence)
    constant_fact: str  # the sentence for a (near-)constant series
    read: Callable[[str], dict[str, str | None]]  # the labels a sentence states (None where it states none)
    phrase: Callable[[Labels, random.Random], str]  # a teacher-like sentence for the labels (the rule teacher)
    instruction: str  # its words in the compact prompt's instruction ("trend", "global max/min position")
    label_words: tuple[str, ...] = ()  # regexes of the words that state its labels (weighed in training)
    evidence: Mapping[str, tuple[str, ...]] | None = None  # checked name -> the evidence keys behind it (the response's)
    positions: tuple[str, ...] = ()  # evidence keys that are indices of the series (given as times with timestamps)
    durations: tuple[str, ...] = ()  # evidence keys that are lengths in points (given in seconds with timestamps)
    regions: Callable[[str], dict[str, tuple[int, int]]] | None = None  # checked name -> its clause's span, where one sentence states several

    def evidence_of(self, name: str, evidence: Mapping[str, object]) -> dict[str, object]:
        """The numbers behind one checked label, as the rules computed them."""
        return {key: evidence[key] for key in (self.evidence or {}).get(name, ()) if key in evidence}


def article_before(words: str) -> str:
    """A regex of the article before a label word (one word between allowed): in frames shared by all labels ("a
    decreasing" / "no clear"), the article is the token that decides the label, so training must weigh it too."""
    return rf"\ban?\b(?= (?:\w+ )?(?:{words}))"


def first_listed(text: str, patterns: Mapping[str, str]) -> str | None:
    """The first label, in the patterns' order of priority, whose pattern occurs in the (lowered) text."""
    return next((label for label, pattern in patterns.items() if re.search(pattern, text)), None)


def pick(options: list[str], rng: random.Random) -> str:
    """The canonical (teacher-medoid) phrasing most of the time, a variant otherwise."""
    return options[0] if rng.random() < CANONICAL_SHARE else rng.choice(options[1:])


def decimations(values: np.ndarray) -> np.ndarray:
    """The series as k = n // 128 columns of 128 points spread evenly over the whole series (column j samples the
    j-th of every k evenly spaced points); a series shorter than twice that is one column of its own length."""
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
