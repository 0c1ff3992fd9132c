"""HTTP request and response models (the OpenAPI contract)."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    WrapValidator,
    create_model,
)

from core.facts import CHECKED_FIELDS


def _series_value(value: object) -> float | None:
    """A JSON number or null; booleans, strings, lists, NaN and infinities are refused with a reason."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"must be a number or null, not {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError:
        raise ValueError("must fit in a 64-bit float (its magnitude is too large)") from None
    if not math.isfinite(number):
        raise ValueError("must be finite (NaN and Infinity are not numbers a series can hold)")
    return number


SeriesValue = Annotated[
    float | None,
    PlainValidator(_series_value),
    WithJsonSchema({"anyOf": [{"type": "number"}, {"type": "null"}]}),
]


def _plain_numbers_first(values: object, per_value: ValidatorFunctionWrapHandler) -> list[float | None]:
    """A list of finite JSON numbers in one pass; anything else goes value by value, for errors that name the item."""
    if type(values) is list and all(type(v) is float or type(v) is int for v in values):
        try:
            numbers = list(map(float, values))
        except OverflowError:
            return per_value(values)
        if all(map(math.isfinite, numbers)):
            return numbers
    return per_value(values)


# The per-value validator costs a Python call per point (≈ 0.1 ms for 128 points); most series need none.
Series = Annotated[list[SeriesValue], WrapValidator(_plain_numbers_first)]
# ISO 8601 strings or epoch seconds, one per value; core.timeline checks order, kind and length and says what to fix.
Timestamps = list[Annotated[str, Field(max_length=64)] | float]
ALL_FEATURES_DESCRIPTION = ("also return what the rules compute for every feature of the registry (seasonality, "
                            "outliers, level shift, …) in `features`, whether the deployed student states it or not")
TIMESTAMPS_DESCRIPTION = ("optional: one ISO 8601 string or epoch-seconds number per value, strictly increasing "
                          "(unevenly spaced ones are interpolated onto evenly spaced instants); positions and periods "
                          "in the checks then also come as times")


class DescribeRequest(BaseModel):
    """One series and how to describe it."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,  # no coercion: "seed": false or "repair": "yes" is a client error, not a value
        json_schema_extra={"examples": [{"series": [1.0, 1.4, 2.1, 2.0, 2.9, 3.8, 3.5, 4.6, 5.2, 5.0], "self_check": True}]},
    )

    series: Series = Field(description="the values in time order; null marks a gap")
    timestamps: Timestamps | None = Field(None, description=TIMESTAMPS_DESCRIPTION)
    self_check: bool = Field(True, description="compare the description with features computed from the series")
    repair: bool = Field(False, description="replace contradicted fields with the computed fact sentences")
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    seed: int | None = Field(None, ge=0, le=2**32 - 1)
    missing: Literal["reject", "interpolate"] = Field("reject", description="what to do with null gaps")
    all_features: bool = Field(False, description=ALL_FEATURES_DESCRIPTION)


class BatchRequest(BaseModel):
    """Several series described with the same options."""

    model_config = ConfigDict(extra="forbid", strict=True)

    series: list[Series] = Field(min_length=1, description="a list of series")
    timestamps: list[Timestamps | None] | None = Field(None, description="optional: one timestamps list (or null) per "
                                                       "series; " + TIMESTAMPS_DESCRIPTION)
    self_check: bool = True
    repair: bool = False
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    seed: int | None = Field(None, ge=0, le=2**32 - 1)
    missing: Literal["reject", "interpolate"] = "reject"
    all_features: bool = Field(False, description=ALL_FEATURES_DESCRIPTION)


class FieldCheckOut(BaseModel):
    stated: str | None = Field(description="label the description states (null: states none)")
    computed: str = Field(description="label the feature rules compute")
    agrees: bool
    fact: str = Field(description="the computed fact as a sentence")
    evidence: dict[str, float | int | list[int]] = Field(
        default_factory=dict, description="the numbers the rules computed it from, in the series' own indices and "
        "units: trend_delta/trend_change (the edge-mean difference on the 0–99 scale / in the series' units), "
        "noise_rms/noise_std (the residual RMS, likewise), argmax/max_value, argmin/min_value, period (points) and "
        "seasonal_acf, outlier_count/outlier_indices, shift_index (where the new level starts)/shift_size (units)")
    times: dict[str, str | float | list[str] | list[float]] | None = Field(
        None, description="with timestamps: the evidence's positions as times (argmax_time, outlier_times, "
        "shift_index_time; ISO strings or epoch seconds, as sent) and its periods in seconds (period_seconds)")


class FeatureOut(BaseModel):
    """What the rules compute for one label, with the numbers behind it: no model involved."""

    computed: str
    fact: str
    evidence: dict[str, float | int | list[int]]
    times: dict[str, str | float | list[str] | list[float]] | None = None


class ChecksBase(BaseModel):
    score: float = Field(description="fraction of the checked fields that agree")
    repaired: list[str] = Field(description="output fields replaced by facts (repair=true)")


# One entry per checked field of the feature registry; null where the deployed student does not state that field.
ChecksOut = create_model(
    "ChecksOut", __base__=ChecksBase,
    **{name: (FieldCheckOut | None, Field(None, description=f"the {name} label: stated vs computed"))
       for name in CHECKED_FIELDS})


class ModelOut(BaseModel):
    name: str
    adapter: str | None
    backend: str
    prompt_style: str


class UsageOut(BaseModel):
    prompt_tokens: int
    completion_tokens: int


class SeriesOut(BaseModel):
    input_length: int
    encoded_length: int
    resampled: bool
    filled_gaps: int
    min: float
    max: float
    time_resampled: bool = Field(False, description="the timestamps were unevenly spaced, so the values were "
                                 "interpolated onto evenly spaced instants from the first to the last")


class DescribeResponse(BaseModel):
    description: dict[str, str] = Field(description="one sentence per field the deployed student states "
                                        "(GET /info: settings.fields), e.g. trend, noise, extrema")
    checks: ChecksOut | None
    features: dict[str, FeatureOut] | None = Field(
        None, description="with all_features: every registry label the rules compute (trend, noise, max, min, "
        "seasonality, outliers, shift), e.g. to draw the period, the outliers and the shift")
    model: ModelOut
    usage: UsageOut
    series: SeriesOut
    latency_ms: float


class BatchResponse(BaseModel):
    results: list[DescribeResponse]
    usage: UsageOut


class ErrorOut(BaseModel):
    detail: str = Field(description="what went wrong and what to do about it")
