"""Where the service's added latency at concurrency 1 goes, from its own Server-Timing header: HTTP (client −
time inside the app) and the app's own work (time inside the app − engine time), for two server event loops (uvloop,
asyncio) and two client libraries (httpx, which tsdescribe's client uses; aiohttp). Both services are loaded side by
side and every setup serves the same series in turn (ABBA), 1.5 s apart.

    python -m loadtests.added_latency [--requests 24] [--adapter models/adapters/smollm2-135m]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

import aiohttp
import httpx

from loadtests.bench import ROOT, split_added_ms, start_service, timings_ms
from training.generate import generate_ou

SETUPS = {  # name: (server event loop, client library)
    "uvloop server, httpx client": ("uvloop", "httpx"),
    "uvloop server, aiohttp client": ("uvloop", "aiohttp"),
    "asyncio server, httpx client": ("asyncio", "httpx"),
}


async def timed_call(client, values: list[float]) -> tuple[float, dict[str, float]]:
    """One /describe call: client-side milliseconds and the server's timings."""
    started = time.perf_counter()
    if isinstance(client, httpx.AsyncClient):
        response = await client.post("/describe", json={"series": values})
        response.raise_for_status()
        header = response.headers["server-timing"]
    else:
        async with client.post("/describe", json={"series": values}) as response:
            response.raise_for_status()
            await response.read()
            header = response.headers["server-timing"]
    return (time.perf_counter() - started) * 1000, timings_ms(header)


async def measure(urls: dict[str, str], series: list[list[float]], pause_s: float) -> dict[str, dict[str, float]]:
    clients = {}
    for name, (loop, library) in SETUPS.items():
        clients[name] = (httpx.AsyncClient(base_url=urls[loop], timeout=60) if library == "httpx"
                         else aiohttp.ClientSession(urls[loop], timeout=aiohttp.ClientTimeout(total=60)))
    parts = {name: [] for name in SETUPS}
    try:
        for client in clients.values():
            await timed_call(client, series[0])  # grammar compiled, connection open
        names = list(SETUPS)
        for index, values in enumerate(series[1:]):
            for name in names if index % 2 == 0 else names[::-1]:
                await asyncio.sleep(pause_s)
                parts[name].append(split_added_ms(*await timed_call(clients[name], values)))
    finally:
        for client in clients.values():
            await (client.aclose() if isinstance(client, httpx.AsyncClient) else client.close())
    return {name: {"http_p50_ms": round(statistics.median(p[0] for p in rows), 2),
                   "app_p50_ms": round(statistics.median(p[1] for p in rows), 2),
                   "added_p50_ms": round(statistics.median(p[0] + p[1] for p in rows), 2)}
            for name, rows in parts.items()}


def markdown(result: dict) -> str:
    lines = [f"Run {result['date']}, {result['requests']} series per setup, `python -m loadtests.added_latency`.", "",
             "| setup | HTTP p50 ms (client − app) | app p50 ms (app − engine) | added p50 ms |", "| --- | --- | --- | --- |"]
    lines += [f"| {name} | {r['http_p50_ms']} | {r['app_p50_ms']} | {r['added_p50_ms']} |"
              for name, r in result["setups"].items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=24)
    parser.add_argument("--adapter", default=str(ROOT / "models" / "adapters" / "smollm2-135m"))
    parser.add_argument("--pause", type=float, default=1.5, help="seconds between calls (past vLLM's 1 s busy-poll)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "added_latency.json")
    args = parser.parse_args(argv)
    env = {"TSD_PRESET": "smollm2-135m", "TSD_MAX_NUM_SEQS": "32"}
    if (Path(args.adapter) / "adapter_config.json").exists():
        env["TSD_ADAPTER"] = args.adapter
    ports = {"uvloop": 8094, "asyncio": 8095}
    services = []
    try:
        for loop, port in ports.items():
            log_path = args.out.with_name(f"added_latency.{loop}.log")
            services.append(start_service({**env, "TSD_EVENT_LOOP": loop}, port, log_path))
        series = [r["values"] for r in generate_ou(args.requests + 1, seed=4343)]
        setups = asyncio.run(measure({loop: f"http://127.0.0.1:{port}" for loop, port in ports.items()}, series,
                                     args.pause))
    finally:
        for process in services:
            process.terminate()
            process.wait(timeout=120)
    result = {"date": time.strftime("%Y-%m-%d %H:%M"), "requests": args.requests, "setups": setups}
    args.out.write_text(json.dumps(result, indent=2))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
