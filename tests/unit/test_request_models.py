"""Request models: the one-pass check of plain numbers gives what the value-by-value check gives."""

import pytest
from pydantic import ValidationError

from service import api


def test_plain_numbers_become_floats_and_nulls_stay():
    assert api.DescribeRequest.model_validate({"series": [1, 2.5, 3]}).series == [1.0, 2.5, 3.0]
    assert api.DescribeRequest.model_validate({"series": [1, None, 3]}).series == [1.0, None, 3.0]
    assert all(type(v) is float for v in api.DescribeRequest.model_validate({"series": [1, 2, 3]}).series)


def test_finite_values_whose_sum_overflows_are_still_values():
    assert api.DescribeRequest.model_validate({"series": [1e308, 1e308]}).series == [1e308, 1e308]


@pytest.mark.parametrize(("value", "message"), [
    (float("nan"), "must be finite"), (float("-inf"), "must be finite"), (10**400, "must fit in a 64-bit float"),
    ("7", "must be a number or null, not str"), (True, "must be a number or null, not bool"),
])
def test_a_bad_value_deep_in_a_long_series_is_named_by_its_index(value, message):
    series = [0.5] * 500
    series[321] = value
    with pytest.raises(ValidationError) as caught:
        api.DescribeRequest.model_validate({"series": series})
    (error,) = caught.value.errors()
    assert error["loc"] == ("series", 321) and message in error["msg"]


def test_batch_series_are_checked_the_same_way():
    assert api.BatchRequest.model_validate({"series": [[1, 2], [3, None]]}).series == [[1.0, 2.0], [3.0, None]]
    with pytest.raises(ValidationError) as caught:
        api.BatchRequest.model_validate({"series": [[1, 2], [3, float("inf")]]})
    assert caught.value.errors()[0]["loc"] == ("series", 1, 1)
