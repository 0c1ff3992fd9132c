"""The feature registry's contract, for every feature in it: what a new feature module must satisfy."""

import itertools
import random

import numpy as np
import pytest

from core import facts, prompt
from core.features.base import SeriesView
from core.schema import PAPER_FIELDS, description_json_schema, description_model

# Evidence as the rules store it next to the labels; a fact or phrasing may state it (a period, where outliers lie).
EVIDENCE = {"length": 128, "trend_delta": 12.0, "noise_rms": 3.0, "argmax": 100, "argmin": 5, "max_value": 9.0,
            "min_value": 1.0, "period": 12, "seasonal_acf": 0.8, "outlier_count": 2, "outlier_indices": [10, 70],
            "shift_index": 64, "shift_size": 5.0}


def label_combinations(feature):
    names = list(feature.labels)
    return [dict(zip(names, combo)) for combo in itertools.product(*(feature.labels[n] for n in names))]


@pytest.mark.parametrize("feature", facts.FEATURES, ids=lambda f: f.field)
def test_its_fact_and_every_phrasing_read_back_as_the_labels_they_state(feature):
    rng = random.Random(0)
    for labels in label_combinations(feature):
        flat = {**EVIDENCE, **labels}
        assert feature.read(feature.fact(flat)) == labels, feature.fact(flat)
        for _ in range(20):
            sentence = feature.phrase(flat, rng)
            assert feature.read(sentence) == labels, sentence


@pytest.mark.parametrize("feature", facts.FEATURES, ids=lambda f: f.field)
def test_its_rule_gives_a_label_of_its_vocabulary_and_names_its_evidence(feature):
    rng = np.random.default_rng(0)
    for values in (np.linspace(0, 1, 300) + rng.normal(0, 0.05, 300), np.sin(np.linspace(0, 9, 128)), np.ones(50)):
        labels, evidence = feature.compute(SeriesView.of(values))
        assert set(labels) == set(feature.labels)
        assert all(labels[name] in feature.labels[name] for name in labels)
        assert evidence and all(isinstance(v, (int, float)) or all(isinstance(i, int) for i in v)
                                for v in evidence.values())
        assert set(evidence) == {key for keys in feature.evidence.values() for key in keys}


def test_names_are_unique_so_a_stored_record_is_flat():
    features = facts.compute_features(np.arange(200.0))
    record = features.record()
    assert len(record) == len(features.labels) + len(features.evidence) + 2
    assert facts.Features.from_record(record) == features


def test_schema_checks_and_instruction_follow_the_fields():
    assert facts.DESCRIPTION_FIELDS[:3] == PAPER_FIELDS
    two = ("trend", "noise")
    assert set(description_json_schema(two)["required"]) == set(two)
    description = description_model(two)(trend="The series shows an increasing trend.", noise="The noise is low.")
    checked = facts.check(description, facts.compute_features(np.arange(200.0)))
    assert set(checked.fields) == {"trend", "noise"}
    assert prompt.compact_instruction(two) == "Describe trend and noise as JSON.\n"
    assert prompt.COMPACT_INSTRUCTION == "Describe trend, noise and global max/min position as JSON.\n"  # old students
    with pytest.raises(ValueError, match="unknown description fields"):
        description_model(("trend", "colour"))


def test_repair_replaces_only_the_fields_that_state_a_contradicted_label():
    features = facts.compute_features(np.arange(200.0))  # increasing, low, max end, min beginning
    description = description_model(PAPER_FIELDS)(
        trend="The series shows an increasing trend.", noise="The noise intensity is high.",
        extrema="The global maximum is at the beginning and the global minimum is at the end.")
    repaired, replaced = facts.repair(description, facts.check(description, features))
    assert replaced == ("noise", "extrema")
    assert repaired.trend == description.trend and facts.check(repaired, features).score == 1.0
