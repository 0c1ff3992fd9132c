"""Sequential /describe latency against a running service; appends a result line to a Markdown file.

    python -m loadtests.latency --url http://127.0.0.1:8000 --requests 20 --out docs/performance.md
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import httpx
import numpy as np

from training.generate import generate_ou


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--seed", type=int, default=123)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    info = httpx.get(f"{args.url}/info", timeout=10).json()
    seconds, prompt_tokens, completion_tokens = [], [], []
    for record in generate_ou(args.requests, args.seed):
        started = time.perf_counter()
        r = httpx.post(f"{args.url}/describe", json={"series": record["values"]}, timeout=300)
        r.raise_for_status()
        seconds.append(time.perf_counter() - started)
        prompt_tokens.append(r.json()["usage"]["prompt_tokens"])
        completion_tokens.append(r.json()["usage"]["completion_tokens"])
    line = (
        f"| {time.strftime('%Y-%m-%d')} | {info['model']['name']} | {info['backend'].get('device')} | {args.requests} "
        f"| {statistics.median(seconds) * 1000:.0f} | {np.percentile(seconds, 95) * 1000:.0f} "
        f"| {statistics.mean(prompt_tokens):.0f} | {statistics.mean(completion_tokens):.0f} |"
    )
    print(line)
    if args.out:
        with args.out.open("a") as f:
            f.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
