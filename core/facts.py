"""The feature registry: every checked field of a description, computed on the full-resolution series, read back
from the model's sentences, checked and repaired. A feature is one module in core.features and one line here."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from core.features import extrema, noise, outliers, seasonality, shift, trend
from core.features.base import REFERENCE_LENGTH, Feature, SeriesView
from core.features.extrema import BEGINNING_BEFORE, END_AFTER, POSITIONS, extrema_fact, position_label, read_extrema
from core.features.noise import noise_fact, noise_label, read_noise
from core.features.trend import read_trend, trend_fact, trend_label
from core.timeline import Timeline

FEATURES: tuple[Feature, ...] = (trend.FEATURE, noise.FEATURE, extrema.FEATURE, seasonality.FEATURE,
                                 outliers.FEATURE, shift.FEATURE)

CHECKED_FIELDS = tuple(name for f in FEATURES for name in f.labels)  # trend, noise, max, min, seasonality, ...
FIELD_LABELS = {name: vocabulary for f in FEATURES for name, vocabulary in f.labels.items()}
DESCRIPTION_FIELDS = tuple(f.field for f in FEATURES)  # trend, noise, extrema, seasonality, outliers, shift
FEATURE_OF = {name: f for f in FEATURES for name in f.labels}  # checked name -> its feature
PAPER_FIELDS = ("trend", "noise", "extrema")  # what every student before the registry was trained to state

__all__ = ["BEGINNING_BEFORE", "END_AFTER", "POSITIONS", "REFERENCE_LENGTH", "extrema_fact", "noise_fact",
           "noise_label", "position_label", "read_extrema", "read_noise", "read_trend", "trend_fact", "trend_label"]


@dataclass(frozen=True)
class Features:
    """The labels the feature rules compute from a full-resolution series, with the numbers behind them (evidence);
    `features.trend`, `features.argmax` read either."""

    labels: dict[str, str]
    evidence: dict[str, float | int]
    length: int
    constant: bool = False
    times: dict[str, str] = field(default_factory=dict)  # positions and durations in words, when timestamps came

    def label(self, name: str) -> str:
        return self.labels[name]

    def __getattr__(self, name: str):
        if name in ("labels", "evidence", "times"):
            raise AttributeError(name)
        if name in self.labels:
            return self.labels[name]
        if name in self.evidence:
            return self.evidence[name]
        raise AttributeError(f"no feature label or evidence named {name!r}")

    def record(self) -> dict:
        """The flat form stored in training records: labels, evidence, length, constant."""
        return {**self.labels, **self.evidence, "length": self.length, "constant": self.constant}

    def flat(self) -> dict:
        """Labels, evidence, length and times in words in one mapping: what a feature's fact and phrasings read."""
        return {**self.labels, **self.evidence, "length": self.length, **self.times}

    def timed(self, timeline: Timeline) -> Features:
        """These features with their positions and durations worded as the caller's times, for the fact sentences."""
        positions = tuple(key for f in FEATURES for key in f.positions)
        durations = tuple(key for f in FEATURES for key in f.durations)
        return replace(self, times=timeline.words_of(self.evidence, positions, durations))

    @classmethod
    def from_record(cls, stored: dict) -> Features:
        labels = {name: stored[name] for name in CHECKED_FIELDS if name in stored}
        evidence = {k: v for k, v in stored.items() if k not in labels and k not in ("length", "constant")}
        return cls(labels, evidence, stored["length"], stored.get("constant", False))


def compute_features(values: Sequence[float] | np.ndarray, fields: Sequence[str] | None = None) -> Features:
    """The labels of the features of these description fields (None: every feature) for a series at full
    resolution, whatever its length and scale.

    Trend and noise are the paper's 128-point rules averaged over the series' 128-point decimations (so a process
    gets the same labels at 128 or 100,000 points); the max and min are the raw values' (ties: the first); a
    near-constant series is flat with low noise."""
    view = SeriesView.of(values)
    labels: dict[str, str] = {}
    evidence: dict[str, float | int] = {}
    for feature in active_features(fields):
        computed, numbers = feature.compute(view)
        labels.update(computed)
        evidence.update(numbers)
    return Features(labels, evidence, view.values.size, view.constant)


def stored_features(record: dict) -> Features:
    """A training record's features: those computed on its full-resolution series when it was encoded, else (an
    imported record, which has only the levels) those of its levels."""
    stored = record.get("features")
    return Features.from_record(stored) if stored else compute_features(record["levels"])


def fact_sentences(features: Features) -> dict[str, str]:
    """One plain sentence per checked field computed, stating what the rules computed."""
    flat = features.flat()
    return {name: (f.constant_fact if features.constant else f.fact(flat))
            for name, f in FEATURE_OF.items() if name in features.labels}


def checked_names(fields: Sequence[str] | None = None) -> tuple[str, ...]:
    """The checked label names of these description fields, e.g. ('trend', 'noise', 'max', 'min')."""
    return tuple(name for f in active_features(fields) for name in f.labels)


def active_features(fields: Sequence[str] | None = None) -> tuple[Feature, ...]:
    """The registry's features that a description of these fields states (None: all)."""
    return FEATURES if fields is None else tuple(f for f in FEATURES if f.field in fields)


def read_labels(description) -> dict[str, str | None]:
    """The labels a description states, per checked field of the fields it has (None where it states none)."""
    stated: dict[str, str | None] = {}
    for feature in active_features(type(description).model_fields):
        stated.update(feature.read(getattr(description, feature.field)))
    return stated


def label_word_spans(text: str, fields: Sequence[str] = PAPER_FIELDS,
                     names: Sequence[str] | None = None) -> list[tuple[int, int]]:
    """Character spans of the words that state a label (the readers' own vocabulary) of these fields, e.g. to weigh
    them in a loss; `names` keeps those of these checked names only ("max": the max's clause of the extrema)."""
    lowered = text.lower()
    spans: set[tuple[int, int]] = set()
    for feature in active_features(fields):
        wanted = set(feature.labels) if names is None else set(feature.labels) & set(names)
        if not wanted:
            continue
        found = {m.span() for pattern in feature.label_words for m in re.finditer(pattern, lowered)}
        if wanted != set(feature.labels) and feature.regions is not None:
            offset = max(lowered.find(f'"{feature.field}"'), 0)  # in a JSON answer, its own field's sentence
            clauses = [(offset + a, offset + b) for name, (a, b) in feature.regions(lowered[offset:]).items()
                       if name in wanted]
            found = {span for span in found if any(a <= span[0] < b for a, b in clauses)}
        spans |= found
    return sorted(spans)


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


def check(description, features: Features) -> SelfCheck:
    """Compare the labels a description states with the computed ones, for each checked field it has."""
    stated = read_labels(description)
    facts = fact_sentences(features)
    return SelfCheck(fields={name: FieldCheck(stated[name], features.label(name), facts[name]) for name in stated})


def repair(description, result: SelfCheck):
    """Replace each description field that states a contradicted label with its feature's fact sentence; returns the
    description and the fields replaced."""
    bad = set(result.contradicted())
    replaced = {f.field: result.fields[next(iter(f.labels))].fact
                for f in active_features(type(description).model_fields) if bad & set(f.labels)}
    return description.model_copy(update=replaced), tuple(replaced)
