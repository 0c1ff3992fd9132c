"""Properties of the encoding and the feature rules, checked on generated series (hypothesis)."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from core import facts
from core.series import encode, resample

LENGTH = 128
finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
series = st.integers(8, 3000).flatmap(lambda n: arrays(np.float64, n, elements=finite))
integer_series = st.integers(8, 3000).flatmap(lambda n: arrays(np.int64, n, elements=st.integers(-1000, 1000)))


@settings(max_examples=200, deadline=None, derandomize=True)
@given(series)
def test_levels_are_two_digit_and_span_the_range(values):
    levels = np.array(encode(values.tolist(), length=LENGTH).levels)
    assert levels.size == LENGTH and levels.min() >= 0 and levels.max() <= 99
    if values.max() > values.min():
        assert levels.min() == 0 and levels.max() == 99


@settings(max_examples=200, deadline=None, derandomize=True)
@given(integer_series, st.integers(-20, 20), st.integers(-10**6, 10**6))
def test_encoding_and_labels_are_invariant_to_offset_and_positive_scale(values, exponent, offset):
    # Power-of-two scales and integer offsets keep the arithmetic exact, so the levels must match exactly.
    moved = values.astype(np.float64) * 2.0**exponent + offset * 2.0**exponent
    original = encode(values.astype(np.float64).tolist(), length=LENGTH).levels
    assert encode(moved.tolist(), length=LENGTH).levels == original
    assert facts.compute_features(original) == facts.compute_features(encode(moved.tolist(), length=LENGTH).levels)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(integer_series, st.floats(1e-3, 1e3), st.floats(-1e6, 1e6))
def test_any_offset_and_scale_moves_a_level_by_at_most_one(values, scale, offset):
    # Integer-valued series: distinct values stay distinct after the transform (no near-ties to break differently).
    values = values.astype(np.float64)
    assume(values.max() > values.min())
    a = np.array(encode(values.tolist(), length=LENGTH).levels)
    b = np.array(encode((values * scale + offset).tolist(), length=LENGTH).levels)
    assert np.abs(a - b).max() <= 1


def third(relative: float) -> str:
    return facts.position_label(int(relative * LENGTH), LENGTH)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(st.integers(8, 2000).flatmap(
    lambda n: arrays(np.float64, n, elements=finite, unique=True)))
def test_resampling_keeps_where_the_global_max_and_min_are(values):
    n = values.size
    resampled = resample(values, LENGTH)
    assert resampled.max() == values.max() and resampled.min() == values.min()
    for original_index, new_index in ((int(values.argmax()), int(resampled.argmax())),
                                      (int(values.argmin()), int(resampled.argmin()))):
        relative = original_index / (n - 1) if n < LENGTH else original_index / n
        nearest = new_index
        assert abs(nearest / LENGTH - relative) <= 2.5 / LENGTH
        # The thirds agree wherever the extreme is not within the resampling error of a boundary.
        if min(abs(relative - 0.25), abs(relative - 0.75)) > 2.5 / LENGTH:
            assert third(nearest / LENGTH) == third(relative)


# The same process at four lengths: each label is far enough from its thresholds for the process to keep it.
PROCESSES = {
    "ramp, medium noise": (lambda t, r: 10 * t + r.normal(0, 0.6, t.size), ("increasing", "medium", "end", "beginning")),
    "ramp, low noise": (lambda t, r: 10 * t + r.normal(0, 0.15, t.size), ("increasing", "low", "end", "beginning")),
    "falling, high noise": (lambda t, r: -3 * t + r.normal(0, 1, t.size), ("decreasing", "high", "beginning", None)),
    "white noise": (lambda t, r: r.normal(0, 1, t.size), (None, "high", None, None)),  # its trend at 128 points is chance
    "hump": (lambda t, r: np.exp(-(((t - 0.5) / 0.12) ** 2)) + r.normal(0, 0.03, t.size), ("flat", None, "middle", None)),
    "vee": (lambda t, r: np.abs(t - 0.45) * 4 + r.normal(0, 0.05, t.size), ("increasing", "medium", "end", "middle")),
}


@pytest.mark.parametrize("name", sorted(PROCESSES))
@pytest.mark.parametrize("seed", range(3))
def test_a_process_gets_the_same_labels_at_any_length(name, seed):
    process, expected = PROCESSES[name]
    for n in (128, 1_000, 10_000, 100_000):
        f = facts.compute_features(process(np.linspace(0, 1, n), np.random.default_rng(seed)))
        got = (f.trend, f.noise, f.max, f.min)
        assert all(e is None or g == e for g, e in zip(got, expected)), (n, got)
