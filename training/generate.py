"""Stage 1 — synthetic series: the paper's Ornstein–Uhlenbeck, a world of other families at any length for
training, and the six evaluation families on a stream of their own.

    python -m training.generate --run runs/smollm2 --count 1200 --ood-count 60 --seed 0
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import numpy as np

from training.rundir import RunDir

OOD_FAMILIES = ("random_walk", "gbm", "seasonal_trend", "ar1_drift", "level_shift", "spikes")


@dataclass(frozen=True)
class OUConfig:
    """The paper's generator: N=128, T=1, θ = max(0.1, 0.7 + U(−½, ½)), μ = 0.5, σ = U(0, 0.4), x0 = U(−2, 2)."""

    n: int = 128
    horizon: float = 1.0
    theta_center: float = 0.7
    theta_spread: float = 0.5
    theta_min: float = 0.1
    mu: float = 0.5
    sigma_max: float = 0.4
    x0_range: float = 2.0


def ornstein_uhlenbeck(rng: np.random.Generator, config: OUConfig = OUConfig()) -> tuple[np.ndarray, dict]:
    """One Euler–Maruyama path and the parameters that made it."""
    theta = max(config.theta_min, config.theta_center + rng.uniform(-config.theta_spread, config.theta_spread))
    sigma = rng.uniform(0, config.sigma_max)
    x0 = rng.uniform(-config.x0_range, config.x0_range)
    dt = config.horizon / config.n
    noise = rng.normal(size=config.n) * np.sqrt(dt)
    x = np.empty(config.n)
    x[0] = x0
    for t in range(1, config.n):
        x[t] = x[t - 1] + theta * (config.mu - x[t - 1]) * dt + sigma * noise[t]
    return x, {"theta": theta, "sigma": sigma, "x0": x0, "mu": config.mu}


def _ar1(rng: np.random.Generator, n: int, phi: float) -> np.ndarray:
    """x[t] = φ x[t−1] + ε[t] (scipy's IIR filter: no Python loop over thousands of points)."""
    from scipy.signal import lfilter

    return lfilter([1.0], [1.0, -phi], rng.normal(size=n))


def _noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """White noise at a log-uniform size relative to a unit signal: from invisible to dominant."""
    return 10 ** rng.uniform(-2.5, 0.3) * rng.normal(size=n)


def _sign(rng: np.random.Generator) -> float:
    return float(rng.choice([-1.0, 1.0]))


def white_noise(rng, t):
    return rng.normal(size=t.size)


def random_walk(rng, t):
    return np.cumsum(rng.normal(size=t.size)) + rng.choice([0.0, _sign(rng)]) * rng.uniform(0, 3) * np.sqrt(t.size) * t


def linear(rng, t):
    return rng.choice([0.0, _sign(rng)]) * t + _noise(rng, t.size)


def seasonal(rng, t):
    cycles = 10 ** rng.uniform(0.2, 1.5)  # 1.6 to 32 periods
    trend = rng.choice([0.0, _sign(rng) * rng.uniform(0.5, 4)])
    return np.sin(2 * np.pi * cycles * t + rng.uniform(0, 2 * np.pi)) + trend * t + _noise(rng, t.size)


def hump(rng, t):
    """A bump (or dip) in the middle, wide or narrow, on a level or a slope."""
    centre, width = rng.uniform(0.3, 0.7), 10 ** rng.uniform(-1.3, -0.4)
    return _sign(rng) * np.exp(-(((t - centre) / width) ** 2)) + rng.uniform(-0.5, 0.5) * t + _noise(rng, t.size)


def bowl(rng, t):
    """t(1 − t)(a + bt): level ends, so flat, with a hump, a dip or one of each inside; little noise."""
    a, b = rng.normal(), rng.normal() * rng.choice([0.2, 3.0])  # near-symmetric (flat) or skewed
    return t * (1 - t) * (a + b * t) + 10 ** rng.uniform(-3.5, -1.2) * rng.normal(size=t.size)


def vee(rng, t):
    """A V (or Λ) whose turn lies in the middle."""
    turn = rng.uniform(0.3, 0.7)
    return _sign(rng) * np.abs(t - turn) * rng.uniform(1, 3) + rng.uniform(-1, 1) * t + _noise(rng, t.size)


def level_shift(rng, t):
    x = _noise(rng, t.size) * 0.5
    x[int(rng.uniform(0.15, 0.85) * t.size):] += _sign(rng) * rng.uniform(0.5, 4)
    return x


def spikes(rng, t):
    x = rng.normal(0, 0.2, t.size) + rng.uniform(-1, 1) * t
    for at in rng.integers(0, t.size, size=rng.integers(1, 4)):
        x[at] += _sign(rng) * rng.uniform(3, 8)
    return x


def ar1(rng, t):
    return _ar1(rng, t.size, rng.uniform(0.3, 0.99)) + rng.choice([0.0, _sign(rng)]) * rng.uniform(0, 10) * t


def ar1_drift(rng, t):
    phi, drift = rng.uniform(0.3, 0.95), rng.uniform(-0.05, 0.05)
    return _ar1(rng, t.size, phi) + drift * 10 * t.size * t * t / 2


def gbm(rng, t):
    n = t.size
    drift, vol = rng.uniform(-1.5, 1.5), rng.uniform(0.05, 0.6)
    return np.exp(np.cumsum((drift - vol**2 / 2) / n + vol * rng.normal(size=n) / np.sqrt(n)))


def exponential(rng, t):
    rate = _sign(rng) * rng.uniform(1, 6)
    return np.exp(rate * t) * (1 + 0.3 * _noise(rng, t.size))


def piecewise(rng, t):
    """A continuous line of 2–4 segments with their own slopes."""
    knots = np.sort(rng.uniform(0.1, 0.9, size=rng.integers(1, 4)))
    slopes = rng.normal(size=knots.size + 1) * 2
    x = slopes[0] * t
    for knot, slope, before in zip(knots, slopes[1:], slopes[:-1]):
        x += (slope - before) * np.clip(t - knot, 0, None)
    return x + _noise(rng, t.size)


def changing_variance(rng, t):
    """Noise whose size grows or shrinks along the series, around a level or a trend."""
    scale = np.exp(rng.uniform(-2, 2) * t)
    return rng.choice([0.0, _sign(rng)]) * t + 0.3 * scale / scale.max() * rng.normal(size=t.size)


def quasi_cycle(rng, t):
    """Irregular cycles (AR(2) with complex roots: lynx, sunspots, El Niño): smooth swings of varying height with no
    fixed period, mostly around a level. The other families' flat series were mostly rough (white noise), so a flat
    series with big smooth swings was rare in the draw and the student read real ones as a trend."""
    from scipy.signal import lfilter

    cycles = 10 ** rng.uniform(0.6, 1.4)  # 4 to 25 swings along the series
    omega = 2 * np.pi * cycles / t.size
    r = np.exp(-omega * rng.uniform(0.02, 0.3))  # damping per swing: ringing cycles to wandering ones
    burn = min(int(3 / (1 - r)), 20 * t.size)  # the filter starts at rest: drop its run-up
    x = lfilter([1.0], [1.0, -2 * r * np.cos(omega), r * r], rng.normal(size=burn + t.size))[burn:]
    return x + rng.choice([0.0, 0.0, _sign(rng)]) * rng.uniform(0.5, 3) * x.std() * t + _noise(rng, t.size) * x.std()


def quiet_hump(rng, t):
    """A wide hump or dip with level ends and light noise: flat, smooth, its residual RMS at the low/medium noise cut
    (≈ 1.3–4.3 on the 0–99 scale). Drawn near that cut, the other families' series were smooth trends (21 flat of 799
    in train60's draw) and the student learnt "smooth means trending"."""
    x = _sign(rng) * np.sin(np.pi * t) ** rng.uniform(0.8, 1.25) + rng.uniform(-0.02, 0.02) * t
    return x + rng.uniform(0.8, 3.6) / 99 * np.ptp(x) * rng.normal(size=t.size)


def seasonal_trend(rng, t):
    cycles = rng.uniform(1.5, 8)
    return (rng.uniform(-3, 3) * t + np.sin(2 * np.pi * cycles * t + rng.uniform(0, 6.3))
            + rng.uniform(0, 0.4) * rng.normal(size=t.size))


FAMILIES = {f.__name__: f for f in (white_noise, random_walk, linear, seasonal, seasonal_trend, hump, bowl, vee,
                                     level_shift, spikes, ar1, ar1_drift, gbm, exponential, piecewise,
                                     changing_variance, quasi_cycle, quiet_hump)}
# Families only in a world that names them (`--world-families`): quasi_cycle drawn into train48 read real flat series
# worse; quiet_hump is measured in train62.
OPT_IN_FAMILIES = ("quasi_cycle", "quiet_hump")
WORLD_FAMILIES = tuple(f for f in FAMILIES if f not in OPT_IN_FAMILIES)
MIN_LENGTH, MAX_LENGTH = 48, 5000


def family_series(family: str, rng: np.random.Generator, n: int) -> np.ndarray:
    """Raw floats of a family, at a random scale and offset (the service rescales and resamples)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; choose one of {', '.join(FAMILIES)}")
    x = FAMILIES[family](rng, np.linspace(0, 1, n))
    scale = 10 ** rng.uniform(-2, 4)
    offset = rng.uniform(-1, 1) * 10 ** rng.uniform(0, 5)
    return x * scale + offset


def ood_series(family: str, rng: np.random.Generator, n: int) -> np.ndarray:
    """Raw floats of an evaluation family, at its own scale and offset (the stream of earlier sessions' OOD sets)."""
    t = np.linspace(0, 1, n)
    scale = 10 ** rng.uniform(-2, 4)
    offset = rng.uniform(-1, 1) * 10 ** rng.uniform(0, 5)
    if family == "random_walk":
        x = np.cumsum(rng.normal(size=n)) + rng.choice([-1, 1]) * rng.uniform(0, 0.3) * np.arange(n)
    elif family == "gbm":
        drift, vol = rng.uniform(-1.5, 1.5), rng.uniform(0.05, 0.6)
        x = np.exp(np.cumsum((drift - vol**2 / 2) / n + vol * rng.normal(size=n) / np.sqrt(n)))
    elif family == "seasonal_trend":
        cycles = rng.uniform(1.5, 8)
        x = rng.uniform(-3, 3) * t + np.sin(2 * np.pi * cycles * t + rng.uniform(0, 6.3)) + rng.uniform(0, 0.4) * rng.normal(size=n)
    elif family == "ar1_drift":
        phi, drift = rng.uniform(0.3, 0.95), rng.uniform(-0.05, 0.05)
        x = np.zeros(n)
        for i in range(1, n):
            x[i] = phi * x[i - 1] + drift * i / n * 10 + rng.normal()
    elif family == "level_shift":
        at = rng.integers(n // 5, 4 * n // 5)
        x = rng.normal(0, rng.uniform(0.05, 0.5), n)
        x[at:] += rng.choice([-1, 1]) * rng.uniform(1, 4)
    elif family == "spikes":
        x = rng.normal(0, 0.2, n) + rng.uniform(-1, 1) * t
        for at in rng.integers(0, n, size=rng.integers(1, 4)):
            x[at] += rng.choice([-1, 1]) * rng.uniform(3, 8)
    else:
        raise ValueError(f"unknown family {family!r}; choose one of {', '.join(OOD_FAMILIES)}")
    return x * scale + offset


def random_length(rng: np.random.Generator, low: int = MIN_LENGTH, high: int = MAX_LENGTH) -> int:
    """Log-uniform: as many series of 48–150 points as of 1,600–5,000."""
    return int(round(np.exp(rng.uniform(np.log(low), np.log(high)))))


def significant(values: np.ndarray, digits: int = 7) -> list[float]:
    """Values rounded to `digits` significant digits of the series' magnitude: a third of the file, same labels."""
    magnitude = float(np.max(np.abs(values))) or 1.0
    return np.round(values, digits - int(np.ceil(np.log10(magnitude)))).tolist()


def generate_world(count: int, seed: int, families: tuple[str, ...] = WORLD_FAMILIES) -> Iterator[dict]:
    """Training records of every family at random lengths, from a stream disjoint from the evaluation set."""
    rng = np.random.default_rng(seed + 3_000_017)
    for i in range(count):
        family = families[i % len(families)]
        yield {"id": f"world-{family}-{seed}-{i:06d}", "family": family,
               "values": significant(family_series(family, rng, random_length(rng)))}


def generate_ou(count: int, seed: int, config: OUConfig = OUConfig()) -> Iterator[dict]:
    """In-distribution records: id, family, values, parameters."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        values, params = ornstein_uhlenbeck(rng, config)
        yield {"id": f"ou-{seed}-{i:06d}", "family": "ou", "values": values.tolist(), "params": params}


def generate_ood(count: int, seed: int, lengths: tuple[int, ...] = (64, 200, 500, 1000)) -> Iterator[dict]:
    """Out-of-distribution evaluation records cycling through families and lengths."""
    rng = np.random.default_rng(seed + 1_000_003)
    for i in range(count):
        family = OOD_FAMILIES[i % len(OOD_FAMILIES)]
        n = int(lengths[(i // len(OOD_FAMILIES)) % len(lengths)])
        yield {"id": f"{family}-{seed}-{i:05d}", "family": family, "values": ood_series(family, rng, n).tolist()}


def generate_mix(count: int, seed: int, families: tuple[str, ...] = OOD_FAMILIES) -> Iterator[dict]:
    """Training records of the other families at random lengths, from a stream disjoint from the evaluation set."""
    rng = np.random.default_rng(seed + 2_000_029)
    for i in range(count):
        family = families[i % len(families)]
        n = int(rng.integers(48, 1200))
        yield {"id": f"mix-{family}-{seed}-{i:05d}", "family": family, "values": ood_series(family, rng, n).tolist()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="run directory")
    parser.add_argument("--count", type=int, default=1200, help="Ornstein–Uhlenbeck series")
    parser.add_argument("--ood-count", type=int, default=60, help="series of other families, for evaluation")
    parser.add_argument("--mix-count", type=int, default=0, help="series of other families added to the training pool")
    parser.add_argument("--mix-families", nargs="+", choices=OOD_FAMILIES, default=list(OOD_FAMILIES))
    parser.add_argument("--world-count", type=int, default=0,
                        help=f"series of the world's families, lengths {MIN_LENGTH}–{MAX_LENGTH}, for training")
    parser.add_argument("--world-families", nargs="+", choices=list(FAMILIES), default=list(WORLD_FAMILIES),
                        help=f"the world's families, in turn (default: all but {' and '.join(OPT_IN_FAMILIES)})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sigma-max", type=float, default=OUConfig.sigma_max)
    args = parser.parse_args(argv)
    run = RunDir(args.run)
    config = OUConfig(sigma_max=args.sigma_max)
    training_pool = itertools.chain(generate_ou(args.count, args.seed, config),
                                    generate_mix(args.mix_count, args.seed, tuple(args.mix_families)),
                                    generate_world(args.world_count, args.seed, tuple(args.world_families)))
    n_ou = run.write_jsonl("series.jsonl", training_pool)
    n_ood = run.write_jsonl("ood_series.jsonl", generate_ood(args.ood_count, args.seed))
    run.record("generate", {"seed": args.seed, "ou": asdict(config), "count": n_ou, "mix_count": args.mix_count,
                            "mix_families": args.mix_families, "world_count": args.world_count,
                            "world_families": args.world_families, "ood_count": n_ood})
    print(json.dumps({"series": n_ou, "ood_series": n_ood, "run": str(run.path)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
