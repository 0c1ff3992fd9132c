"""Timestamps sent next to a series: validated, mapped to the series' points, and positions and periods as times.

A caller may send ISO 8601 strings or epoch seconds, one per value, strictly increasing. Evenly spaced timestamps
keep the series as it is (point i is timestamps[i]). Unevenly spaced ones are resampled honestly: the values are
interpolated linearly onto as many evenly spaced instants from the first timestamp to the last, so that a position
in the series is a position in time and a period in points is a duration; the response says it did so."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property

import numpy as np

from service.errors import SeriesError

EVEN_TOLERANCE = 1e-6  # steps within this relative spread of the mean step count as evenly spaced
Timestamp = str | int | float
DAY = 86400
DURATION_UNITS = (("year", 365.2425 * DAY), ("day", DAY), ("hour", 3600), ("minute", 60), ("second", 1))
WORDED_TIMES = 3  # a fact sentence names at most this many outlier times


@dataclass(frozen=True)
class Timeline:
    """The instants of a series' points, in epoch seconds, and how to give a time back in the caller's form."""

    seconds: np.ndarray  # the caller's instants, strictly increasing
    iso: bool  # the caller sent ISO 8601 strings (times come back as ISO strings; otherwise as epoch seconds)
    aware: bool  # the ISO strings carried a UTC offset (times come back in UTC with "+00:00")

    @cached_property
    def step(self) -> float:
        """Seconds between two points of the (evenly spaced or resampled) series."""
        return float(self.seconds[-1] - self.seconds[0]) / (self.seconds.size - 1)

    @cached_property
    def even(self) -> bool:
        steps = np.diff(self.seconds)
        return bool(np.all(np.abs(steps - self.step) <= EVEN_TOLERANCE * self.step))

    def on_even_grid(self, values: np.ndarray) -> np.ndarray:
        """The values at evenly spaced instants from the first timestamp to the last (as they are when even)."""
        if self.even:
            return values
        grid = self.seconds[0] + self.step * np.arange(self.seconds.size)
        return np.interp(grid, self.seconds, values)

    def instant(self, index: int) -> float:
        """Epoch seconds of point `index` of the (evenly spaced or resampled) series."""
        return float(self.seconds[index]) if self.even else float(self.seconds[0] + self.step * index)

    @cached_property
    def granularity(self) -> int:
        """The coarsest of a day, a minute or a second that every caller's instant falls on (how times are worded)."""
        for unit in (DAY, 60):
            if np.all(np.mod(self.seconds, unit) == 0):
                return unit
        return 1

    def words_at(self, index: int) -> str:
        """Point `index` as a sentence names it: '2024-03-17', '2024-03-17 08:30 UTC', at the caller's granularity."""
        unit = self.granularity
        moment = datetime.fromtimestamp(np.floor(self.instant(index) / unit + 0.5) * unit, tz=UTC)  # half up
        text = moment.strftime({DAY: "%Y-%m-%d", 60: "%Y-%m-%d %H:%M"}.get(unit, "%Y-%m-%d %H:%M:%S"))
        return text if unit == DAY or (self.iso and not self.aware) else f"{text} UTC"

    def words_of(self, evidence: dict, positions: Sequence[str], durations: Sequence[str]) -> dict[str, str]:
        """The evidence's positions and durations as a fact sentence names them ("argmax_time": "on 2024-03-17",
        "outlier_times": "at 08:00 UTC and 09:00 UTC", "period_seconds": "7 days")."""
        on = "on" if self.granularity == DAY else "at"
        out: dict[str, str] = {}
        for key in positions:
            value = evidence.get(key)
            if isinstance(value, list):
                if value:
                    out[time_key(key, value)] = f"{on} {listed([self.words_at(i) for i in value])}"
            elif value is not None:
                out[time_key(key, value)] = f"{on} {self.words_at(int(value))}"
        for key in durations:
            if evidence.get(key):
                out[f"{key}_seconds"] = duration_words(float(evidence[key]) * self.step)
        return out

    def time_at(self, index: int) -> str | float:
        """The instant of point `index` of the (evenly spaced) series, in the caller's form."""
        instant = self.instant(index)
        if not self.iso:
            return instant
        moment = datetime.fromtimestamp(instant, tz=UTC)
        return moment.isoformat() if self.aware else moment.replace(tzinfo=None).isoformat()

    def times_of(self, evidence: dict, positions: Sequence[str], durations: Sequence[str]) -> dict:
        """The evidence's positions as times ("argmax_time") and its durations in seconds ("period_seconds");
        a zero duration (no period found) has no time."""
        out: dict[str, object] = {}
        for key in positions:
            if key in evidence:
                value = evidence[key]
                out[time_key(key, value)] = (
                    [self.time_at(i) for i in value] if isinstance(value, list) else self.time_at(int(value)))
        for key in durations:
            if evidence.get(key):
                out[f"{key}_seconds"] = round(float(evidence[key]) * self.step, 6)
        return out


def time_key(key: str, value: object) -> str:
    """The name of an evidence position given as time(s): 'argmax' → 'argmax_time', 'outlier_indices' → 'outlier_times'."""
    return f"{key.removesuffix('_indices')}_times" if isinstance(value, list) else f"{key}_time"


def duration_words(seconds: float) -> str:
    """'1 year', '7 days', '1.5 hours': the largest unit the duration nearly fills, to three figures."""
    name, size = next(((n, u) for n, u in DURATION_UNITS if seconds >= 0.95 * u), DURATION_UNITS[-1])
    amount = f"{seconds / size:.3g}"
    return f"{amount} {name}" if amount == "1" else f"{amount} {name}s"


def listed(words: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b, c and 2 more'."""
    shown = list(words[:WORDED_TIMES])
    rest = len(words) - len(shown)
    if rest:
        return f"{', '.join(shown)} and {rest} more"
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} and {shown[-1]}"


def parse_instant(value: Timestamp, index: int) -> tuple[float, bool | None]:
    """(epoch seconds, whether an ISO string carried an offset; None for a number)."""
    if isinstance(value, bool):
        raise SeriesError(f"timestamps[{index}] is a boolean; send ISO 8601 strings or epoch seconds")
    if isinstance(value, (int, float)):
        if not np.isfinite(value):
            raise SeriesError(f"timestamps[{index}] is not a finite number of epoch seconds")
        return float(value), None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise SeriesError(f"timestamps[{index}] = {value[:40]!r} is not an ISO 8601 date or time "
                          '(e.g. "2024-03-17" or "2024-03-17T08:30:00+00:00")') from None
    aware = moment.tzinfo is not None
    return (moment if aware else moment.replace(tzinfo=UTC)).timestamp(), aware


def parse_timestamps(raw: Sequence[Timestamp], length: int) -> Timeline:
    """Validate a caller's timestamps against a series of `length` values (raises SeriesError saying what to fix)."""
    if len(raw) != length:
        raise SeriesError(f"timestamps has {len(raw)} entries but series has {length} values; send one per value")
    if length < 2:
        raise SeriesError("timestamps need at least 2 values")
    if len({isinstance(value, str) for value in raw}) > 1:
        raise SeriesError("timestamps mix ISO 8601 strings and numbers; send one kind")
    parsed = [parse_instant(value, i) for i, value in enumerate(raw)]
    awareness = {aware for _, aware in parsed}
    if len(awareness) > 1:
        raise SeriesError("timestamps mix ISO 8601 times with and without a UTC offset; send one kind")
    seconds = np.array([s for s, _ in parsed], dtype=np.float64)
    steps = np.diff(seconds)
    if np.any(steps <= 0):
        i = int(np.flatnonzero(steps <= 0)[0]) + 1
        raise SeriesError(f"timestamps must be strictly increasing; timestamps[{i}] is not after timestamps[{i - 1}]")
    iso = None not in awareness
    return Timeline(seconds=seconds, iso=iso, aware=bool(iso and awareness == {True}))
