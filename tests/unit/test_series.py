import numpy as np
import pytest

from core import series


def test_encoding_spans_00_to_99_with_two_digits():
    encoded = series.encode(list(range(128)), length=128)
    assert encoded.levels[0] == 0 and encoded.levels[-1] == 99
    assert all(len(t) == 2 for t in encoded.tokens)
    assert encoded.tokens[:3] == ("00", "01", "01")  # only the global min is 00


def test_only_the_global_extremes_get_levels_00_and_99():
    ramp = np.linspace(0, 127, 128)
    ramp[5] = 126.5  # floors to 99 like the true max at the end
    levels = series.rescale_levels(ramp)
    assert np.flatnonzero(levels == 99).tolist() == [127]
    assert np.flatnonzero(levels == 0).tolist() == [0]
    assert levels[5] == 98


def test_near_constant_series_encodes_as_constant():
    values = [100 + 1e-12 * (-1) ** i for i in range(200)]
    assert set(series.encode(values, length=128).levels) == {0}
    assert not series.is_near_constant(np.array([0.0, 1e-12]))  # small, but it is all there is: a real span


def test_downsampling_keeps_the_noise_of_a_long_series():
    noise = np.random.default_rng(0).normal(size=100_000)
    out = series.resample(noise, 128)
    body = np.delete(out, [np.argmax(out), np.argmin(out)])
    assert 0.8 < body.std() < 1.2  # min/max buckets would make an envelope of about 3 standard deviations


def test_extremes_that_resample_onto_one_index_get_two():
    x = np.zeros(10_000)
    x[5000], x[5001] = 1.0, -1.0
    out = series.resample(x, 128)
    assert out.max() == 1.0 and out.min() == -1.0
    assert int(np.argmax(out)) < int(np.argmin(out))  # in time order, next to each other
    assert int(np.argmin(out)) - int(np.argmax(out)) == 1


def test_encoding_pads_single_digits():
    assert series.format_levels([7, 0, 42]) == ("07", "00", "42")
    assert series.format_levels(np.array([99, 5])) == ("99", "05")


@pytest.mark.parametrize("levels", [[-1, 5], [5, 100]])
def test_levels_outside_two_digits_are_refused(levels):
    with pytest.raises(ValueError, match="0–99"):
        series.format_levels(levels)


def test_rescale_is_invariant_to_offset_and_positive_scale():
    rng = np.random.default_rng(0)
    x = rng.normal(size=128)
    base = series.rescale_levels(x)
    assert np.array_equal(series.rescale_levels(x * 37.5 + 1e6), base)


def test_constant_series_does_not_divide_by_zero():
    encoded = series.encode([5.0] * 50, length=128)
    assert set(encoded.levels) == {0}


def test_values_near_float_max_do_not_overflow():
    levels = series.rescale_levels(np.array([-1e308, 0.0, 1e308] * 10))
    assert levels.min() == 0 and levels.max() == 99


def test_downsampling_keeps_extreme_positions():
    x = np.sin(np.linspace(0, 3, 5000))
    x[4000] = 10.0  # a spike near 80 % of the series
    x[300] = -10.0
    out = series.resample(x, 128)
    assert out.size == 128
    assert out.max() == 10.0 and out.min() == -10.0
    assert abs(np.argmax(out) / 128 - 0.8) < 0.02
    assert abs(np.argmin(out) / 128 - 0.06) < 0.02


def test_downsampling_to_odd_length():
    assert series.resample(np.arange(1000.0), 127).size == 127


def test_upsampling_keeps_exact_extremes():
    x = np.array([0.0, 3.0, -2.0, 1.0, 0.5, 0.2, 0.1, 0.0])
    out = series.resample(x, 128)
    assert out.size == 128
    assert out.max() == 3.0 and out.min() == -2.0
    assert abs(np.argmax(out) / 127 - 1 / 7) < 0.01


def test_gaps_rejected_by_default_with_their_positions():
    with pytest.raises(series.SeriesError, match="index 2"):
        series.fill_gaps([1.0, 2.0, None, 4.0], "reject")


def test_gaps_interpolated_on_request():
    filled, count = series.fill_gaps([1.0, None, 3.0, None], "interpolate")
    assert count == 2
    assert filled.tolist() == [1.0, 2.0, 3.0, 3.0]


def test_interpolation_needs_two_known_values():
    with pytest.raises(series.SeriesError, match="at least 2"):
        series.fill_gaps([None, 1.0, None], "interpolate")


@pytest.mark.parametrize(
    ("n", "message"), [(0, "empty"), (3, "at least 8"), (100_001, "at most 100000")]
)
def test_length_bounds(n, message):
    with pytest.raises(series.SeriesError, match=message):
        series.encode([1.0] * n, length=128)


def test_magnitude_bound():
    with pytest.raises(series.SeriesError, match="exceeds the allowed magnitude"):
        series.encode([1.0] * 9 + [1e200], length=128, max_abs=1e100)


def test_parse_levels_round_trip():
    assert series.parse_levels("[07, 12, 99]") == (7, 12, 99)
    assert series.parse_levels("07 12 99") == (7, 12, 99)


def test_tokens_per_digit_counts_with_the_given_tokenizer():
    assert series.tokens_per_digit(len) == 1.0
    assert series.tokens_per_digit(lambda text: len(text) // 2) == 0.5


def test_shortening_keeps_the_outliers_the_rule_finds_visible():
    rng = np.random.default_rng(4)
    x = rng.normal(0, 1, 10_000)
    x[[1_001, 5_003]] += [30, -20]  # between the sampled points: plain decimation would drop both
    x[[7_000, 7_001]] = 50, -40  # the global max and min
    out = series.resample(x, 128)
    scale = 127 / 9_999
    assert out[round(1_001 * scale)] == x[1_001] and out[round(5_003 * scale)] == x[5_003]
    assert out.max() == 50 and out.min() == -40 and np.sum(np.abs(out) > 15) == 4


def test_the_resample_picks_the_decimation_grid_whose_edges_show_the_full_series_trend():
    from core.facts import compute_features

    shown_a_trend = 0
    for seed in range(20):
        x = np.random.default_rng(seed).normal(size=640)  # white noise: mostly flat at full resolution
        full = compute_features(x, ["trend"]).label("trend")
        first_grid = compute_features(series.rescale_levels(series.decimate_keeping_extremes(x, 64)), ["trend"])
        shown_a_trend += first_grid.label("trend") != full
        view = series.resample(x, 64)
        assert compute_features(view, ["trend"]).label("trend") == full
        assert np.isin(view, x).all()  # real samples, so the noise keeps its character
    assert shown_a_trend >= 5  # the first grid alone shows another trend on many of them


def test_decimation_grids_interleave_within_the_series():
    assert series.decimation_grid(1000, 64).tolist() == np.round(np.linspace(0, 999, 64)).astype(int).tolist()
    grids = [series.decimation_grid(1000, 64, p) for p in range(1, 1000 // 64)]
    assert all(g.min() >= 1 and g.max() <= 999 and len(set(g.tolist())) == 64 for g in grids)
    assert series.decimation_phases(1000, 64) == list(range(15))
    assert len(series.decimation_phases(100_000, 64)) == series.EDGE_PHASES
    assert series.decimation_phases(100, 64) == [0]
