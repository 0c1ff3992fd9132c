"""Properties of the encoding and the feature rules, checked on generated series (hypothesis)."""

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from service import facts
from service.series import encode, resample

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
