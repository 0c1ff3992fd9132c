"""Open-loop load at a fixed rate against a running service: soak (errors, memory) or overload (429s, p99).

    python -m loadtests.soak --url http://127.0.0.1:8000 --rate 2 --duration 600          # soak at ~80% capacity
    python -m loadtests.soak --url http://127.0.0.1:8000 --rate 8 --duration 120 --mode overload

Writes docs/reliability.json (appending one run) and the table in docs/reliability.md. Resident memory is read
from the server process and its children (the engine core) via /info's pid.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np

from training.generate import generate_ou

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- reliability:begin -->", "<!-- reliability:end -->"


def resident_mb(pid: int) -> float:
    """RSS of the server and every child process, in MB."""
    import psutil

    process = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)]) / 2**20


async def unloaded_p99(client: httpx.AsyncClient, series: list[list[float]], count: int = 20) -> float:
    latencies = []
    for i in range(count):
        started = time.perf_counter()
        (await client.post("/describe", json={"series": series[i % len(series)]})).raise_for_status()
        latencies.append(time.perf_counter() - started)
    return float(np.percentile(latencies, 99) * 1000)


async def run(url: str, rate: float, duration: float, mode: str) -> dict:
    series = [r["values"] for r in generate_ou(64, seed=777)]
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=httpx.Limits(max_connections=512)) as client:
        pid = (await client.get("/info")).json()["pid"]
        baseline_p99 = await unloaded_p99(client, series) if mode == "overload" else None
        statuses: Counter = Counter()
        accepted: list[float] = []
        memory: list[tuple[float, float]] = [(0.0, resident_mb(pid))]
        tasks = []

        async def one(values):
            started = time.perf_counter()
            try:
                response = await client.post("/describe", json={"series": values})
                statuses[response.status_code] += 1
                if response.status_code == 200:
                    accepted.append(time.perf_counter() - started)
            except httpx.HTTPError as error:
                statuses[type(error).__name__] += 1

        started = time.monotonic()
        next_sample = 10.0
        i = 0
        while (elapsed := time.monotonic() - started) < duration:
            tasks.append(asyncio.create_task(one(series[i % len(series)])))
            i += 1
            if elapsed >= next_sample:
                memory.append((round(elapsed, 1), resident_mb(pid)))
                next_sample += 10.0
            await asyncio.sleep(max(0.0, started + i / rate - time.monotonic()))
        await asyncio.gather(*tasks)
        memory.append((round(time.monotonic() - started, 1), resident_mb(pid)))
    sent = sum(statuses.values())
    rss = [m for _, m in memory]
    warm = rss[1:] or rss
    return {
        "date": time.strftime("%Y-%m-%d %H:%M"), "mode": mode, "rate": rate, "duration_s": duration, "sent": sent,
        "statuses": {str(k): v for k, v in statuses.items()}, "answered": sent, "errors_5xx_or_transport":
            sum(v for k, v in statuses.items() if not (isinstance(k, int) and k < 500)),
        "accepted_p50_ms": round(float(np.percentile(accepted, 50) * 1000), 1) if accepted else None,
        "accepted_p99_ms": round(float(np.percentile(accepted, 99) * 1000), 1) if accepted else None,
        "unloaded_p99_ms": round(baseline_p99, 1) if baseline_p99 else None,
        "rss_mb_first_last_max": [round(warm[0], 1), round(warm[-1], 1), round(max(warm), 1)],
        "rss_growth": round(warm[-1] / warm[0] - 1, 4),
        "tasks_created": len(tasks),
    }


def write_doc(runs: list[dict], doc: Path) -> None:
    lines = [BEGIN, "| date | mode | rate /s | seconds | sent | statuses | 5xx + transport errors | accepted p50 ms "
                    "| accepted p99 ms | unloaded p99 ms | RSS MB first → last (max) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in runs:
        first, last, peak = r["rss_mb_first_last_max"]
        lines.append(f"| {r['date']} | {r['mode']} | {r['rate']} | {r['duration_s']:.0f} | {r['sent']} "
                     f"| {r['statuses']} | {r['errors_5xx_or_transport']} | {r['accepted_p50_ms']} "
                     f"| {r['accepted_p99_ms']} | {r['unloaded_p99_ms'] or ''} | {first} → {last} ({peak}) |")
    lines.append(END)
    text = doc.read_text() if doc.exists() else "# Reliability\n\n"
    block = "\n".join(lines)
    text = (text[: text.index(BEGIN)] + block + text[text.index(END) + len(END):]) if BEGIN in text else \
        text + "\n" + block + "\n"
    doc.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--rate", type=float, required=True, help="requests per second (open loop)")
    parser.add_argument("--duration", type=float, default=600)
    parser.add_argument("--mode", choices=("soak", "overload"), default="soak")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "reliability.json")
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "reliability.md")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args.url, args.rate, args.duration, args.mode))
    runs = json.loads(args.out.read_text()) if args.out.exists() else []
    runs.append(result)
    args.out.write_text(json.dumps(runs, indent=2))
    write_doc(runs, args.doc)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
