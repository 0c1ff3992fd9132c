"""Series preparation: gaps, resampling to the trained length, and the paper's 00–99 encoding."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from core.timeline import Timeline, Timestamp, parse_timestamps
from service.errors import SeriesError

ENCODED_MAX = 99.9999  # the paper's scale: floor(x * 99.9999) keeps every value within two digits
ENCODED_LEVELS = 100  # 00–99
NEAR_CONSTANT_SPAN = 1e-9  # relative span under which a series counts as constant (100 ± 1e-12 is)
TRAINED_LENGTH = 128  # the paper's length: what a student is trained on unless its manifest says otherwise
EDGE_PHASES = 16  # decimation grids a resample tries for the one that keeps the edge means (keeping_the_edges)
MissingPolicy = Literal["reject", "interpolate"]



@dataclass(frozen=True)
class EncodedSeries:
    """A series as the model sees it (integer levels 0–99 and their two-digit text), and at full resolution."""

    levels: tuple[int, ...]
    tokens: tuple[str, ...]
    input_length: int
    input_min: float
    input_max: float
    filled_gaps: int
    values: np.ndarray = field(repr=False, compare=False)  # gaps filled; the feature rules read these
    timeline: Timeline | None = field(default=None, repr=False, compare=False)  # the caller's timestamps, if sent

    @property
    def resampled(self) -> bool:
        return self.input_length != len(self.levels)

    @property
    def time_resampled(self) -> bool:
        """The timestamps were unevenly spaced, so the values were interpolated onto evenly spaced instants."""
        return self.timeline is not None and not self.timeline.even


def fill_gaps(values: Sequence[float | None], missing: MissingPolicy,
              positions: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Replace null gaps by linear interpolation (over `positions`, e.g. the timestamps; default the indices), or
    reject them; returns the array and the gap count."""
    gaps = [i for i, v in enumerate(values) if v is None]
    if not gaps:
        return np.asarray(values, dtype=np.float64), 0
    if missing == "reject":
        shown = ", ".join(str(i) for i in gaps[:5]) + (", ..." if len(gaps) > 5 else "")
        raise SeriesError(
            f"series has {len(gaps)} null value(s) at index {shown}; remove them, "
            'or send "missing": "interpolate" to fill them linearly'
        )
    known = np.array([i for i, v in enumerate(values) if v is not None])
    if known.size < 2:
        raise SeriesError("series needs at least 2 non-null values to interpolate the gaps")
    known_values = np.array([values[i] for i in known], dtype=np.float64)
    x = np.arange(len(values), dtype=np.float64) if positions is None else positions
    filled = np.interp(x, x[known], known_values)
    return filled, len(gaps)


def check_length(n: int, min_length: int, max_length: int) -> None:
    """Reject series outside the accepted length range with a message that says the range."""
    if n == 0:
        raise SeriesError(f"series is empty; send between {min_length} and {max_length} numbers")
    if n < min_length:
        raise SeriesError(f"series has {n} values; send at least {min_length}")
    if n > max_length:
        raise SeriesError(f"series has {n} values; send at most {max_length} (downsample it first)")


def check_magnitude(values: np.ndarray, max_abs: float) -> None:
    """Reject values whose magnitude would overflow the rescaling."""
    if not np.all(np.isfinite(values)):
        index = int(np.flatnonzero(~np.isfinite(values))[0])
        raise SeriesError(f"series[{index}] is not a finite number; send finite numbers only")
    too_big = np.flatnonzero(np.abs(values) > max_abs)
    if too_big.size:
        index = int(too_big[0])
        raise SeriesError(f"series[{index}] = {values[index]:g} exceeds the allowed magnitude {max_abs:g}")


def decimation_grid(n: int, length: int, phase: int = 0) -> np.ndarray:
    """Every (n/length)-th index from the first point to the last; phase p (1 ≤ p < n // length) is the grid that
    interleaves with it p points later."""
    if phase == 0:
        return np.round(np.linspace(0, n - 1, length)).astype(int)
    return np.round(np.linspace(0, n - n // length, length)).astype(int) + phase


def decimate_keeping_extremes(values: np.ndarray, length: int, keep: Sequence[int] = (), phase: int = 0) -> np.ndarray:
    """Every (n/length)-th point (of the grid `phase`), so the noise keeps its character, with the global max and
    min (and the points of `keep`, e.g. outliers, that land on other places) put at their own scaled positions (max
    and min never on one index)."""
    n = values.size
    out = values[decimation_grid(n, length, phase)]
    scale = (length - 1) / (n - 1)
    high, low = int(np.argmax(values)), int(np.argmin(values))
    at_high, at_low = round(high * scale), round(low * scale)
    if at_high == at_low:  # the later of the two moves one place later (or the earlier one earlier, at the end)
        if high > low:
            at_high, at_low = (at_high + 1, at_low) if at_high < length - 1 else (at_high, at_low - 1)
        else:
            at_low, at_high = (at_low + 1, at_high) if at_low < length - 1 else (at_low, at_high - 1)
    for index in keep:
        if round(index * scale) not in (at_high, at_low):
            out[round(index * scale)] = values[index]
    out[at_high], out[at_low] = values[high], values[low]
    return out


def upsample_keeping_extremes(values: np.ndarray, length: int) -> np.ndarray:
    """Linear interpolation upward; the global max and min land exactly on their nearest new index."""
    positions = np.linspace(0, values.size - 1, length)
    out = np.interp(positions, np.arange(values.size), values)
    scale = (length - 1) / (values.size - 1)
    for index in (int(np.argmax(values)), int(np.argmin(values))):
        out[round(index * scale)] = values[index]
    return out


def resample(values: np.ndarray, length: int) -> np.ndarray:
    """Bring a series to the model's trained length, keeping its noise, where its global max and min are, and (when
    shortening) its outliers, so that a student can see what the outlier rule found."""
    if values.size == length:
        return values
    if values.size > length:
        from core.features.outliers import outlier_groups  # the rule reads core.series itself

        keep = outlier_groups(values)
        return keeping_the_edges(values, [decimate_keeping_extremes(values, length, keep, phase)
                                          for phase in decimation_phases(values.size, length)])
    return upsample_keeping_extremes(values, length)


def decimation_phases(n: int, length: int) -> list[int]:
    """The interleaved decimation grids a resample tries: all n // length of them, at most EDGE_PHASES spread evenly."""
    k = max(1, n // length)
    return sorted({round(p) for p in np.linspace(0, k - 1, min(k, EDGE_PHASES))})


def keeping_the_edges(values: np.ndarray, views: list[np.ndarray]) -> np.ndarray:
    """Of these resamples, one whose edge-mean change (the trend rule's quantity) gets the full series' trend label,
    nearest its change: the 10 edge points of one grid carry their noise, so one grid of a flat noisy series can show
    a trend (half the flat training series at 64 points did) where another shows what the rule computes."""
    if len(views) == 1 or is_near_constant(values):
        return views[0]
    from core.features.base import SeriesView
    from core.features.trend import edge_changes, trend_label, trend_of

    values = without_overflow(values)  # every view holds the global max and min: one scale for all
    changes = edge_changes(np.stack([without_overflow(v) for v in views], axis=1)) / (values.max() - values.min())
    label, target = trend_label(SeriesView.of(values).columns)
    changes *= ENCODED_MAX
    return views[min(range(len(views)), key=lambda i: (trend_of(changes[i]) != label, abs(changes[i] - target)))]


def is_near_constant(values: np.ndarray) -> bool:
    """A span below NEAR_CONSTANT_SPAN of the values' magnitude is rounding, not signal: the series is constant."""
    low, high = float(values.min()), float(values.max())
    span = high - low
    return np.isfinite(span) and span <= NEAR_CONSTANT_SPAN * max(abs(low), abs(high))


def without_overflow(values: np.ndarray) -> np.ndarray:
    """The values divided by their largest magnitude where high − low would overflow (near float max), else as given."""
    if np.isfinite(float(values.max()) - float(values.min())):
        return values
    return values / np.max(np.abs(values))


def rescale_levels(values: np.ndarray) -> np.ndarray:
    """Min–max rescale to [0, 99.9999] and floor to integer levels; a (near-)constant series maps to 0.

    Only the global max is level 99 and only the global min level 00 (a value that floors to either elsewhere is
    moved one level in), so finding an extremum is finding one unmistakable level."""
    if is_near_constant(values):
        return np.zeros(values.size, dtype=np.int64)
    values = without_overflow(values)
    low = float(values.min())
    scaled = (values - low) / (float(values.max()) - low) * ENCODED_MAX
    levels = np.clip(np.floor(scaled), 1, ENCODED_LEVELS - 2).astype(np.int64)
    levels[int(np.argmax(values))], levels[int(np.argmin(values))] = ENCODED_LEVELS - 1, 0
    return levels


LEVEL_TEXT = tuple(f"{level:02d}" for level in range(ENCODED_LEVELS))


def format_levels(levels: Sequence[int]) -> tuple[str, ...]:
    """Two digits per value, left-padded: 7 -> '07'."""
    ints = list(map(int, levels))
    if ints and (min(ints) < 0 or max(ints) >= ENCODED_LEVELS):
        raise ValueError(f"levels must lie in 0–{ENCODED_LEVELS - 1}")
    return tuple(map(LEVEL_TEXT.__getitem__, ints))


def parse_levels(text: str) -> tuple[int, ...]:
    """Read levels back from an encoded list such as '[07, 12, 99]' or '07 12 99'."""
    cleaned = text.strip().strip("[]")
    parts = [p for p in cleaned.replace(",", " ").split() if p]
    return tuple(int(p) for p in parts)


def encode(
    values: Sequence[float | None],
    *,
    length: int,
    min_length: int = 8,
    max_length: int = 100_000,
    missing: MissingPolicy = "reject",
    max_abs: float = 1e100,
    timestamps: Sequence[Timestamp] | None = None,
) -> EncodedSeries:
    """Validate, fill, resample and encode a raw series exactly as the student was trained (with timestamps, first
    onto evenly spaced instants)."""
    check_length(len(values), min_length, max_length)
    timeline = None if timestamps is None else parse_timestamps(timestamps, len(values))
    array, filled = fill_gaps(values, missing, None if timeline is None else timeline.seconds)
    check_magnitude(array, max_abs)
    if timeline is not None:
        array = timeline.on_even_grid(array)
    levels = tuple(rescale_levels(resample(array, length)).tolist())
    return EncodedSeries(
        levels=levels,
        tokens=format_levels(levels),
        input_length=len(values),
        input_min=float(array.min()),
        input_max=float(array.max()),
        filled_gaps=filled,
        values=array,
        timeline=timeline,
    )


def tokens_per_digit(count_tokens: Callable[[str], int]) -> float:
    """How many tokens a tokenizer spends per digit of encoded levels (1.0 is what the encoding needs)."""
    sample = "".join(f"{i:02d}" for i in range(100))
    return count_tokens(sample) / len(sample)
