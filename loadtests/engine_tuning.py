"""Engine settings one at a time against a baseline: the raw vLLM engine, same model and series, each variant in a
fresh process. Writes docs/engine_tuning.json and the table in docs/performance.md.

    python -m loadtests.engine_tuning [--requests 48] [--only baseline no-prefix-cache ...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

from loadtests.bench import bench_raw_engine, workload
from service.settings import Settings
from training.generate import generate_ou

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- tuning:begin -->", "<!-- tuning:end -->"
BASELINE = {"TSD_PRESET": "smollm2-135m", "TSD_MAX_NUM_SEQS": "32", "TSD_ENFORCE_EAGER": "true",
            "TSD_ENABLE_PREFIX_CACHING": "true", "TSD_DTYPE": "auto", "TSD_CPU_KV_CACHE_GIB": "2",
            "TSD_CPU_RESERVED_CORES": "1"}  # vLLM's own default on this machine
VARIANTS = {
    "baseline": {},
    "no-prefix-cache": {"TSD_ENABLE_PREFIX_CACHING": "false"},
    "max-num-seqs-8": {"TSD_MAX_NUM_SEQS": "8"},
    "batched-tokens-1024": {"TSD_MAX_NUM_BATCHED_TOKENS": "1024"},
    "batched-tokens-8192": {"TSD_MAX_NUM_BATCHED_TOKENS": "8192"},
    "float32": {"TSD_DTYPE": "float32"},
    "kv-cache-1gib": {"TSD_CPU_KV_CACHE_GIB": "1"},
    "compiled": {"TSD_ENFORCE_EAGER": "false"},
    # vLLM's CPU worker keeps one core for the frontend by default; on 2 cores that halves the compute.
    "no-reserved-core": {"TSD_CPU_RESERVED_CORES": "0"},  # the service's default since this run
    "no-reserved-core+batched-8192": {"TSD_CPU_RESERVED_CORES": "0", "TSD_MAX_NUM_BATCHED_TOKENS": "8192"},
}


def measure_here(requests: int) -> dict:
    """One variant in this process (settings from the environment): load time, then concurrency 1 and 32."""
    settings = Settings()
    plan = {1: 4, 32: requests}
    warmup, runs = workload([r["values"] for r in generate_ou(4 + sum(plan.values()), seed=4242)], plan)
    started = time.monotonic()
    rows, _ = asyncio.run(bench_raw_engine(settings, warmup, runs))
    return {"rows": [asdict(r) for r in rows], "wall_s": round(time.monotonic() - started, 1)}


def measure(name: str, requests: int, adapter: str | None) -> dict:
    env = {**os.environ, **BASELINE, **VARIANTS[name], "TSD_LOG_LEVEL": "warning",
           **({"TSD_ADAPTER": adapter} if adapter else {})}
    for derived in ("VLLM_CPU_KVCACHE_SPACE", "VLLM_CPU_NUM_OF_RESERVED_CPU"):  # the child sets them from TSD_*
        env.pop(derived, None)
    done = subprocess.run([sys.executable, "-m", "loadtests.engine_tuning", "--child", "--requests", str(requests)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        return {"variant": name, "error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {"variant": name, "settings": VARIANTS[name], **result}


def markdown(runs: list[dict], command: str) -> str:
    lines = [f"Raw vLLM CPU engine, SmolLM2-135M student (merged), a distinct OU series per request, `{command}`; baseline: "
             "max_num_seqs 32, eager, prefix caching on, bf16, KV cache 2 GiB, vLLM's default batched-token budget, "
             "one core reserved for vLLM's frontend (vLLM's default). "
             "Wall = engine load + warm-up + the runs.", "",
             "| variant | setting | req/s at 32 | output tok/s at 32 | p50 ms at 32 | p50 ms at 1 | wall s |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for run in runs:
        if "error" in run:
            lines.append(f"| {run['variant']} | {VARIANTS.get(run['variant'], {})} | failed: {run['error'][:120]} | | | | |")
            continue
        at = {r["concurrency"]: r for r in run["rows"]}
        setting = ", ".join(f"{k.removeprefix('TSD_').lower()}={v}" for k, v in run["settings"].items()) or "—"
        lines.append(f"| {run['variant']} | {setting} | {at[32]['requests_per_s']:.2f} | {at[32]['output_tokens_per_s']:.0f} "
                     f"| {at[32]['p50_ms']:.0f} | {at[1]['p50_ms']:.0f} | {run['wall_s']:.0f} |")
    return "\n".join(lines)


def write_report(text: str, doc: Path) -> None:
    body = doc.read_text() if doc.exists() else "# Performance\n"
    block = f"{BEGIN}\n{text}\n{END}"
    if BEGIN in body:
        body = body[: body.index(BEGIN)] + block + body[body.index(END) + len(END):]
    else:
        body += f"\n## Engine settings (`python -m loadtests.engine_tuning`)\n\n{block}\n"
    doc.write_text(body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=48, help="requests at concurrency 32")
    parser.add_argument("--only", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--adapter", default=None, help="default: the shipped student, if any")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "engine_tuning.json")
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "performance.md")
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure_here(args.requests)))
        return 0
    shipped = ROOT / "models" / "adapters" / "smollm2-135m"
    adapter = args.adapter or (str(shipped) if (shipped / "adapter_config.json").exists() else None)
    runs = []
    for name in args.only:
        runs.append(measure(name, args.requests, adapter))
        print(json.dumps(runs[-1])[:400], flush=True)
    args.out.write_text(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M"), "cpus": os.cpu_count(), "runs": runs},
                                   indent=2))
    text = markdown(runs, "python -m loadtests.engine_tuning")
    write_report(text, args.doc)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
