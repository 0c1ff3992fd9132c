"""The real-world evaluation set: clear cases only, balanced classes, every record labelled by the service's rules."""

import numpy as np

from core import facts
from training import realworld


def synthetic_sources():
    """Stand-ins for the packaged datasets: a rising, a falling, a cyclic and a humped series."""
    t = np.linspace(0, 1, 3000)
    rng = np.random.default_rng(0)
    return [("test/up", "prices", 5 * t + rng.normal(0, 0.1, t.size)),
            ("test/down", "macro", -3 * t ** 2 + rng.normal(0, 0.05, t.size)),
            ("test/cycles", "astronomy", np.sin(2 * np.pi * 9 * t) + rng.normal(0, 0.2, t.size)),
            ("test/hump", "sensors", np.exp(-((t - 0.5) / 0.2) ** 2) + rng.normal(0, 0.01, t.size)),
            ("test/level", "sensors", rng.normal(0, 1, t.size))]


def test_records_are_clear_labelled_by_the_rules_and_spread_over_sources():
    records = realworld.build(40, seed=0, per_source=40, source_share=0.4, load=synthetic_sources)
    assert len(records) == 40
    for r in records:
        features = facts.compute_features(r["values"])
        assert r["features"] == facts.Features.from_record(r["features"]).record()
        assert features.trend == r["features"]["trend"] and realworld.is_clear(features)
        assert realworld.MIN_WINDOW <= len(r["values"]) <= realworld.MAX_WINDOW
    per_source = {s: sum(r["source"] == s for r in records) for s in {r["source"] for r in records}}
    assert max(per_source.values()) <= 16
    trends = realworld.class_table(records)["trend"]
    assert set(trends) == {"increasing", "decreasing", "flat"} and min(trends.values()) >= 6


def test_labels_near_a_threshold_are_not_clear():
    t = np.linspace(0, 1, 128)
    borderline = facts.compute_features(0.035 * t + np.sin(2 * np.pi * t) * 0.0)  # a pure ramp is clear
    assert realworld.is_clear(borderline)
    edge = np.zeros(128)
    edge[32] = 1.0  # the max exactly on the beginning/middle boundary
    assert not realworld.is_clear(facts.compute_features(edge + np.linspace(0, 0.001, 128)))


def test_the_packaged_datasets_load_without_a_network():
    sources = realworld.sources()
    assert len(sources) >= 30
    assert all(values.size >= realworld.MIN_WINDOW and np.isfinite(values).all() for _, _, values in sources)
