"""Where the app's own milliseconds go inside the running service: wall-clock stamps around each step of /describe
(real engine, real HTTP, paced single requests), medians per step. A diagnostic: it wraps the service's functions in
this process, so run it alone on the machine.

    python -m loadtests.stage_timing [--requests 24] [--pause 1.5] [--adapter models/adapters/smollm2-135m]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import threading
import time

import httpx
import uvicorn

from service import describe as describe_module
from service import routes
from service.app import create_app
from service.backends.vllm_engine import VLLMBackend
from service.settings import Settings
from training.generate import generate_ou

STAMPS: dict[str, float] = {}
STEPS = (  # (label, from stamp, to stamp)
    ("HTTP in: client send → app called", "client>", "asgi>"),
    ("body read, parsed, validated; admission", "asgi>", "describe>"),
    ("prepare: resample, rescale, encode", "describe>", "prepare<"),
    ("prompt built, sampling params", "prepare<", "tokenize>"),
    ("prompt token ids", "tokenize>", "tokenize<"),
    ("engine (generate)", "tokenize<", "generate<"),
    ("parse the answer", "generate<", "parse<"),
    ("features", "parse<", "features<"),
    ("self-check, result", "features<", "describe<"),
    ("response model, metrics, headers", "describe<", "start"),
    ("response body sent", "start", "body<"),
    ("HTTP out: body sent → client has it", "body<", "client<"),
)


def stamped(function, before: str | None, after: str):
    """The function, stamping the clock before and after each call."""
    if asyncio.iscoroutinefunction(function):
        async def wrapper(*args, **kwargs):
            if before:
                STAMPS[before] = time.perf_counter()
            result = await function(*args, **kwargs)
            STAMPS[after] = time.perf_counter()
            return result
    else:
        def wrapper(*args, **kwargs):
            if before:
                STAMPS[before] = time.perf_counter()
            result = function(*args, **kwargs)
            STAMPS[after] = time.perf_counter()
            return result
    return wrapper


def instrument() -> None:
    """Wrap the steps of one /describe call (module globals are looked up at call time)."""
    routes.describe = stamped(routes.describe, "describe>", "describe<")
    describe_module.prepare = stamped(describe_module.prepare, None, "prepare<")
    describe_module.parse_description = stamped(describe_module.parse_description, None, "parse<")
    describe_module.facts.compute_features = stamped(describe_module.facts.compute_features, None, "features<")
    VLLMBackend.prompt_token_ids = stamped(VLLMBackend.prompt_token_ids, "tokenize>", "tokenize<")
    VLLMBackend.generate = stamped(VLLMBackend.generate, None, "generate<")


class Stamps:
    """Outermost ASGI layer: stamps when the app is called and when the response goes out."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        STAMPS["asgi>"] = time.perf_counter()

        async def stamped_send(message):
            if message["type"] == "http.response.start":
                STAMPS["start"] = time.perf_counter()
            await send(message)
            if message["type"] == "http.response.body":
                STAMPS["body<"] = time.perf_counter()

        await self.app(scope, receive, stamped_send)


async def measure(url: str, requests: int, pause: float) -> list[dict[str, float]]:
    """Paced /describe calls once the service is ready; the stamps of each (after 3 warm-up calls)."""
    async with httpx.AsyncClient(base_url=url, timeout=600) as client:
        while True:
            try:
                if (await client.get("/ready")).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            await asyncio.sleep(1)
        rows = []
        for index, record in enumerate(generate_ou(requests + 3, seed=11)):
            await asyncio.sleep(pause)
            STAMPS.clear()
            STAMPS["client>"] = time.perf_counter()
            response = await client.post("/describe", json={"series": record["values"]})
            STAMPS["client<"] = time.perf_counter()
            response.raise_for_status()
            if index >= 3:
                rows.append(dict(STAMPS))
        return rows


def table(rows: list[dict[str, float]]) -> str:
    """Median milliseconds per step, as Markdown."""
    lines = ["| step | p50 ms | mean ms |", "| --- | --- | --- |"]
    for label, start, end in STEPS:
        ms = [(row[end] - row[start]) * 1000 for row in rows if start in row and end in row]
        lines.append(f"| {label} | {statistics.median(ms):.3f} | {statistics.mean(ms):.3f} |")
    outside = [((r["client<"] - r["client>"]) - (r["generate<"] - r["tokenize<"])) * 1000 for r in rows]
    lines.append(f"| **client latency − engine step** | **{statistics.median(outside):.3f}** | "
                 f"{statistics.mean(outside):.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=24)
    parser.add_argument("--pause", type=float, default=1.5, help="seconds between calls")
    parser.add_argument("--adapter", default="models/adapters/smollm2-135m")
    parser.add_argument("--port", type=int, default=8123)
    args = parser.parse_args(argv)
    instrument()
    settings = Settings(preset="smollm2-135m", adapter=args.adapter or None, port=args.port)
    config = uvicorn.Config(Stamps(create_app(settings)), host="127.0.0.1", port=args.port,
                            loop=settings.event_loop, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run)
    thread.start()
    try:
        rows = asyncio.run(measure(f"http://127.0.0.1:{args.port}", args.requests, args.pause))
    finally:
        server.should_exit = True
        thread.join()  # the app's lifespan shuts the engine down
    print(f"{len(rows)} calls, {args.pause} s apart\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
