"""The rules of issue 18's features (seasonality, outliers, level shift): what they find, where, and that the same
process gets the same label at 128 or 100,000 points."""

import random

import numpy as np
import pytest

from core import facts
from core.features import outliers, seasonality, shift
from core.features.base import SeriesView
from core.schema import PAPER_FIELDS
from core.timeline import parse_timestamps
from training.teachers import rule_description

LENGTHS = (128, 1_000, 10_000, 100_000)
ADDED = ("seasonality", "outliers", "shift")


def labels(values) -> dict:
    return facts.compute_features(values, ADDED).labels


@pytest.mark.parametrize("n", LENGTHS)
def test_a_season_is_found_with_its_period_at_every_length(n):
    rng = np.random.default_rng(n)
    t = np.arange(n)
    period = n / 8
    values = np.sin(2 * np.pi * t / period) + 0.02 * t / n + rng.normal(0, 0.2, n)
    features = facts.compute_features(values, ADDED)
    assert features.labels == {"seasonality": "seasonal", "outliers": "none", "shift": "none"}
    assert abs(features.evidence["period"] - period) <= max(2, 0.03 * period)


@pytest.mark.parametrize("n", LENGTHS)
def test_white_noise_a_random_walk_and_a_ramp_have_none_of_them(n):
    rng = np.random.default_rng(n)
    assert labels(rng.normal(0, 1, n)) == {"seasonality": "none", "outliers": "none", "shift": "none"}
    assert labels(np.linspace(0, 10, n) + rng.normal(0, 0.5, n)) == {"seasonality": "none", "outliers": "none",
                                                                      "shift": "none"}
    walk = np.cumsum(rng.normal(0, 1, n))
    assert labels(walk)["seasonality"] == "none" and labels(walk)["outliers"] == "none"


@pytest.mark.parametrize("n", LENGTHS)
def test_one_spike_is_one_outlier_at_its_index_and_three_are_several(n):
    rng = np.random.default_rng(n)
    values = rng.normal(0, 1, n)
    spike = int(0.55 * n)
    values[spike] += 25
    features = facts.compute_features(values, ("outliers",))
    assert features.labels["outliers"] == "one" and features.evidence["outlier_indices"] == [spike]
    for at in (0.1, 0.8):
        values[int(at * n)] -= 25
    several = facts.compute_features(values, ("outliers",))
    assert several.labels["outliers"] == "several" and several.evidence["outlier_count"] == 3
    assert "beginning" in facts.fact_sentences(several)["outliers"]


@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("direction", (1, -1))
def test_a_step_is_a_shift_in_its_direction_at_its_index_and_not_an_outlier(n, direction):
    rng = np.random.default_rng(n)
    at = int(0.6 * n)
    values = rng.normal(0, 1, n)
    values[at:] += direction * 8
    features = facts.compute_features(values, ADDED)
    assert features.labels == {"seasonality": "none", "outliers": "none", "shift": "up" if direction > 0 else "down"}
    assert abs(features.evidence["shift_index"] - at) <= max(1, n // 1000)
    assert features.evidence["shift_size"] == pytest.approx(direction * 8, abs=1)


@pytest.mark.parametrize("n", (16, 20, 30, 40))
def test_a_step_in_a_short_series_is_found_where_three_candidates_do_not_fit(n):
    values = np.r_[np.zeros(n // 2), np.full(n - n // 2, 5.0)] + 0.01 * (np.arange(n) % 2)
    assert shift.level_shift(values) == (n // 2, pytest.approx(5.0, abs=0.02))


def test_a_constant_series_has_none_of_them_and_says_so():
    features = facts.compute_features(np.full(300, 5.0), ADDED)
    assert features.labels == {"seasonality": "none", "outliers": "none", "shift": "none"}
    assert facts.fact_sentences(features)["shift"] == shift.FEATURE.constant_fact


def test_the_fact_sentences_state_the_evidence():
    t = np.arange(480)
    features = facts.compute_features(np.sin(2 * np.pi * t / 24), ("seasonality",))
    assert facts.fact_sentences(features)["seasonality"] == "The series is seasonal with a period of about 24 points."
    assert seasonality.read_seasonality("There is no clear seasonality in the series.") == "none"
    assert outliers.read_outliers("The series has 4 outliers, in the middle.") == "several"
    assert shift.read_shift("The level does not shift abruptly.") == "none"


@pytest.mark.parametrize("timestamps", [
    [f"2024-{1 + i // 28:02d}-{1 + i % 28:02d}" for i in range(300)],  # daily, uneven at the months' ends
    [1_700_000_000 + 3600 * i for i in range(300)],  # hourly epoch seconds
    [f"2024-03-01T{i // 60:02d}:{i % 60:02d}:00+01:00" for i in range(300)],  # minutes with an offset
])
def test_with_timestamps_every_fact_names_its_times_and_still_reads_back_as_its_labels(timestamps):
    timeline = parse_timestamps(timestamps, 300)
    values = np.sin(2 * np.pi * np.arange(300) / 12)
    values[60] += 9.0
    values[200:] += 6.0
    timed = facts.compute_features(timeline.on_even_grid(values)).timed(timeline)
    sentences = facts.fact_sentences(timed)
    assert set(timed.times) == {"argmax_time", "argmin_time", "outlier_times", "shift_index_time", "period_seconds"}
    assert timed.labels["outliers"] == "one" and timed.labels["shift"] == "up" and timed.labels["seasonality"] == "seasonal"
    on = timeline.words_of(timed.evidence, ("argmax", "outlier_indices", "shift_index"), ())
    assert on["argmax_time"] in sentences["max"] and on["outlier_times"] in sentences["outliers"]
    assert on["shift_index_time"] in sentences["shift"] and f"({timed.times['period_seconds']})" in sentences["seasonality"]
    for name, f in facts.FEATURE_OF.items():
        assert f.read(sentences[name])[name] == timed.labels[name], sentences[name]
    untimed = facts.fact_sentences(facts.compute_features(timeline.on_even_grid(values)))
    assert all(" on " not in s and " at 2" not in s for s in untimed.values())


def test_the_seasonality_rule_reads_a_long_series_every_kth_point():
    rng = np.random.default_rng(0)
    long = np.sin(2 * np.pi * np.arange(100_000) / 5_000) + rng.normal(0, 0.2, 100_000)
    period, strength = seasonality.seasonal_period(long)
    assert abs(period - 5_000) <= 100 and strength > 0.5
    assert SeriesView.of(long).values.size == 100_000  # the rule subsamples, the view keeps every point



def test_a_six_field_rule_teacher_writes_the_same_paper_sentences_as_a_three_field_one():
    rng = np.random.default_rng(3)
    for _ in range(30):
        features = facts.compute_features(np.cumsum(rng.normal(0, 1, 300)))
        three = rule_description(features, random.Random(7)).model_dump()
        six = rule_description(features, random.Random(7), facts.DESCRIPTION_FIELDS, random.Random(8)).model_dump()
        assert set(six) == set(facts.DESCRIPTION_FIELDS)
        assert three == {field: six[field] for field in PAPER_FIELDS}


def test_a_rule_two_features_build_on_runs_once_per_series():
    calls = []

    def counted(values):
        calls.append(values.size)
        return values.size

    view = SeriesView.of(np.arange(50.0))
    assert view.once(counted) == 50 and view.once(counted) == 50 and calls == [50]


@pytest.mark.parametrize("sentence, read, label", [
    ("An upward move, but no level shift at all.", shift.read_shift, "none"),  # the denial wins wherever it is
    ("One spike and two other outliers.", outliers.read_outliers, "several"),  # the plural wins over the singular
    ("A cycle repeats, though without real seasonality.", seasonality.read_seasonality, "none"),
])
def test_the_added_readers_take_labels_by_priority_not_by_position(sentence, read, label):
    assert read(sentence) == label
