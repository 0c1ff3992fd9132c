"""Stage 1 — synthetic series: Ornstein–Uhlenbeck as the paper's generator, plus other families for OOD tests.

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


def ood_series(family: str, rng: np.random.Generator, n: int) -> np.ndarray:
    """Raw floats of another family, at its own scale and offset (the service rescales and resamples)."""
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
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sigma-max", type=float, default=OUConfig.sigma_max)
    args = parser.parse_args(argv)
    run = RunDir(args.run)
    config = OUConfig(sigma_max=args.sigma_max)
    training_pool = itertools.chain(generate_ou(args.count, args.seed, config),
                                    generate_mix(args.mix_count, args.seed, tuple(args.mix_families)))
    n_ou = run.write_jsonl("series.jsonl", training_pool)
    n_ood = run.write_jsonl("ood_series.jsonl", generate_ood(args.ood_count, args.seed))
    run.record("generate", {"seed": args.seed, "ou": asdict(config), "count": n_ou, "mix_count": args.mix_count,
                            "mix_families": args.mix_families, "ood_count": n_ood})
    print(json.dumps({"series": n_ou, "ood_series": n_ood, "run": str(run.path)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
