"""Timestamps next to a series: what is accepted, what is refused (and why), and positions and periods as times."""

import numpy as np
import pytest

from core import series
from core.timeline import duration_words, parse_timestamps
from service.errors import SeriesError

DAYS = [f"2024-03-{d:02d}" for d in range(1, 11)]


def test_even_iso_dates_keep_the_series_and_give_positions_back_as_dates():
    timeline = parse_timestamps(DAYS, 10)
    assert timeline.even and timeline.iso and not timeline.aware and timeline.step == 86400
    values = np.arange(10.0)
    assert timeline.on_even_grid(values) is values
    assert timeline.time_at(6) == "2024-03-07T00:00:00"
    times = timeline.times_of({"argmax": 6, "period": 7, "outlier_indices": [1, 2]}, ("argmax", "outlier_indices"),
                              ("period",))
    assert times == {"argmax_time": "2024-03-07T00:00:00", "outlier_times": ["2024-03-02T00:00:00",
                                                                              "2024-03-03T00:00:00"],
                     "period_seconds": 604800.0}


def test_epoch_seconds_come_back_as_epoch_seconds_and_offsets_in_utc():
    assert parse_timestamps([0, 60, 120], 3).time_at(2) == 120.0
    aware = parse_timestamps(["2024-01-01T00:00:00+02:00", "2024-01-01T01:00:00+02:00"], 2)
    assert aware.aware and aware.time_at(1) == "2023-12-31T23:00:00+00:00"


def test_no_period_found_has_no_duration():
    assert parse_timestamps([0, 1, 2], 3).times_of({"period": 0}, (), ("period",)) == {}


def test_uneven_timestamps_are_interpolated_onto_even_instants():
    seconds = [0, 1, 2, 3, 10]
    timeline = parse_timestamps(seconds, 5)
    assert not timeline.even and timeline.step == 2.5
    np.testing.assert_allclose(timeline.on_even_grid(np.array([0, 1, 2, 3, 10.0])), [0, 2.5, 5, 7.5, 10])
    assert timeline.time_at(1) == 2.5
    encoded = series.encode([0, 1, 2, 3, 10.0], length=5, min_length=2, timestamps=seconds)
    assert encoded.time_resampled and encoded.values.tolist() == [0, 2.5, 5, 7.5, 10]


def test_gaps_are_filled_along_time_not_along_the_index():
    encoded = series.encode([0.0, None, 10.0], length=3, min_length=2, missing="interpolate", timestamps=[0, 9, 10])
    assert encoded.filled_gaps == 1 and encoded.timeline is not None
    # point 1 at t=9 is 9.0 on the time line; on the even grid (t = 0, 5, 10) that is 5.0
    assert encoded.values.tolist() == [0.0, 5.0, 10.0]


@pytest.mark.parametrize("raw, message", [
    (DAYS[:9], "timestamps has 9 entries but series has 10"),
    ([*DAYS[:9], "2024-03-09"], r"strictly increasing; timestamps\[9\] is not after timestamps\[8\]"),
    ([*DAYS[:9], "next tuesday"], r"timestamps\[9\] = 'next tuesday' is not an ISO 8601"),
    ([*DAYS[:9], 1.0e9], "mix ISO 8601 strings and numbers"),
    ([*DAYS[:9], "2024-03-10T00:00:00+00:00"], "with and without a UTC offset"),
    ([*range(9), float("nan")], r"timestamps\[9\] is not a finite"),
    ([*range(9), True], r"timestamps\[9\] is a boolean"),
])
def test_bad_timestamps_are_refused_saying_what_to_fix(raw, message):
    with pytest.raises(SeriesError, match=message):
        parse_timestamps(raw, 10)


def test_times_are_worded_at_the_callers_granularity():
    assert parse_timestamps(DAYS, 10).words_at(6) == "2024-03-07"
    minutes = parse_timestamps([f"2024-03-01T08:{m:02d}:00" for m in range(0, 50, 10)], 5)
    assert minutes.words_at(2) == "2024-03-01 08:20"
    assert parse_timestamps([1_700_000_000, 1_700_000_001], 2).words_at(1) == "2023-11-14 22:13:21 UTC"
    assert parse_timestamps(["2024-01-01T00:00:00+02:00", "2024-01-01T01:00:00+02:00"], 2).words_at(1) == \
        "2023-12-31 23:00 UTC"
    uneven = parse_timestamps(["2024-03-01", "2024-03-02", "2024-03-06"], 3)  # the middle point lands at 03-03 12:00,
    assert uneven.words_at(1) == "2024-03-04"  # rounded half up to whole days, as sent


@pytest.mark.parametrize("seconds, words", [
    (7 * 86400, "7 days"), (365.25 * 86400, "1 year"), (12 * 30.44 * 86400, "1 year"), (5400, "1.5 hours"),
    (3600, "1 hour"), (45, "45 seconds"), (0.5, "0.5 seconds"), (3 * 365.2425 * 86400, "3 years"),
])
def test_durations_are_worded_in_the_largest_unit_they_nearly_fill(seconds, words):
    assert duration_words(seconds) == words


def test_a_fact_names_at_most_three_times_and_counts_the_rest():
    timeline = parse_timestamps(DAYS, 10)
    words = timeline.words_of({"outlier_indices": [1, 3, 5, 7, 8], "argmax": 0, "period": 0}, ("outlier_indices",
                                                                                                "argmax"), ("period",))
    assert words == {"outlier_times": "on 2024-03-02, 2024-03-04, 2024-03-06 and 2 more", "argmax_time": "on 2024-03-01"}
    assert timeline.words_of({"outlier_indices": [2, 4]}, ("outlier_indices",), ())["outlier_times"] == \
        "on 2024-03-03 and 2024-03-05"
