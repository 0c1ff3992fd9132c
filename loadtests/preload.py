"""tcmalloc and Intel OpenMP in LD_PRELOAD, as vLLM's CPU guide asks: the raw engine at concurrency 32 on the same
series, each variant in its own process (LD_PRELOAD acts at exec), the variants interleaved A B C A B C so that this
VM's drift over minutes falls on all of them alike. Writes docs/preload.json and the table in docs/performance.md.

    make preload-libs && python -m loadtests.preload [--reps 2 --rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from service.cpu import bf16_label

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- preload:begin -->", "<!-- preload:end -->"
TCMALLOC_PATTERNS = ("/usr/lib/*-linux-gnu/libtcmalloc_minimal.so.4", "/usr/lib/*-linux-gnu/libtcmalloc.so.4")


def find_libraries() -> dict[str, str | None]:
    """Debian's tcmalloc and the Intel OpenMP runtime that PyPI's intel-openmp puts in the venv's lib/."""
    tcmalloc = next((hit for pattern in TCMALLOC_PATTERNS for hit in sorted(glob.glob(pattern))), None)
    iomp = Path(sys.prefix) / "lib" / "libiomp5.so"
    return {"tcmalloc": tcmalloc, "iomp5": str(iomp) if iomp.is_file() else None}


def variants(libraries: dict[str, str | None]) -> dict[str, str]:
    """Variant name → LD_PRELOAD; vLLM itself adds torch's libgomp when no OpenMP runtime is preloaded."""
    out = {"none (vLLM's default: torch's libgomp)": ""}
    if libraries["tcmalloc"]:
        out["tcmalloc"] = libraries["tcmalloc"]
        if libraries["iomp5"]:
            out["tcmalloc + Intel OpenMP"] = f"{libraries['tcmalloc']}:{libraries['iomp5']}"
    return out


async def child(rounds: int, requests: int) -> dict:
    """In the child process: start the engine, warm it up, time `rounds` full batches at concurrency `requests`."""
    from loadtests.bench import RawEngine, bounded, workload
    from service.settings import Settings
    from training.generate import generate_ou

    adapter = ROOT / "models" / "adapters" / "smollm2-135m"
    settings = Settings(preset="smollm2-135m", model=str(ROOT / "models" / "smollm2-135m-instruct"),
                        adapter=str(adapter) if (adapter / "adapter_config.json").is_file() else None,
                        merge_cache_dir=str(ROOT / "models" / ".merged"), cpu_kv_cache_gib=1)
    plan = {requests: requests * rounds}
    series = [r["values"] for r in generate_ou(4 + sum(plan.values()), seed=4242)]  # the series make bench uses
    warmup, runs = workload(series, plan)
    engine = RawEngine(settings)
    started = time.monotonic()
    await engine.start()
    load_s = time.monotonic() - started
    await bounded(len(warmup), [engine.job(v) for v in warmup])
    per_round = []
    batch = runs[requests]
    for r in range(rounds):
        wall, _, _, completion = await bounded(requests, [engine.job(v) for v in batch[r * requests:(r + 1) * requests]])
        per_round.append({"series_per_s": requests / wall, "output_tokens_per_s": sum(completion) / wall})
    await engine.close()
    return {"load_s": load_s, "rounds": per_round}


def run_variant(preload: str, rounds: int, requests: int) -> dict:
    env = {**os.environ, "LD_PRELOAD": preload} if preload else {k: v for k, v in os.environ.items()
                                                                  if k != "LD_PRELOAD"}
    done = subprocess.run([sys.executable, "-m", "loadtests.preload", "--child", "--rounds", str(rounds),
                           "--requests", str(requests)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"child failed ({preload or 'no preload'}):\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["warned"] = [line.strip()[-160:] for line in done.stderr.splitlines()
                        if "LD_PRELOAD" in line or "tcmalloc" in line.lower()][:3]
    return result


def markdown(result: dict) -> str:
    cpu = result["cpu"]
    lines = [f"Measured {result['date']} on {cpu['model']} ({bf16_label(cpu)}"
             f", dtype {result['dtype']}); raw vLLM engine, concurrency {result['requests']}, {result['reps']} "
             f"interleaved repetitions × {result['rounds']} rounds per variant; command: `{result['command']}`.", "",
             "| LD_PRELOAD | series/s (median of rounds) | output tokens/s | vs none |", "| --- | --- | --- | --- |"]
    base = result["variants"][next(iter(result["variants"]))]["median_series_per_s"]
    for name, v in result["variants"].items():
        lines.append(f"| {name} | {v['median_series_per_s']:.2f} (rounds {', '.join(f'{x:.2f}' for x in v['all'])}) | "
                     f"{v['median_output_tokens_per_s']:.0f} | {v['median_series_per_s'] / base:.2f}× |")
    return "\n".join(lines)


def write_report(result: dict, doc: Path) -> None:
    text = doc.read_text()
    block = f"{BEGIN}\n{markdown(result)}\n{END}"
    if BEGIN in text:
        text = text[:text.index(BEGIN)] + block + text[text.index(END) + len(END):]
    else:
        text += f"\n## tcmalloc and Intel OpenMP (LD_PRELOAD)\n\n{block}\n"
    doc.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--reps", type=int, default=2, help="interleaved repetitions of every variant")
    parser.add_argument("--rounds", type=int, default=2, help="timed batches per process")
    parser.add_argument("--requests", type=int, default=32, help="concurrency (one full batch per round)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "preload.json")
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "performance.md")
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(asyncio.run(child(args.rounds, args.requests))))
        return 0
    from service.cpu import cpu_dtype, host_cpu

    libraries = find_libraries()
    chosen = variants(libraries)
    if len(chosen) == 1:
        print("no tcmalloc found: run `make preload-libs` first", file=sys.stderr)
        return 2
    measured: dict[str, list] = {name: [] for name in chosen}
    for rep in range(args.reps):
        for name, preload in chosen.items():
            print(f"rep {rep + 1}/{args.reps}: {name}", file=sys.stderr, flush=True)
            measured[name].append(run_variant(preload, args.rounds, args.requests))
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M"), "cpu": host_cpu(), "dtype": cpu_dtype("auto"),
        "libraries": libraries, "reps": args.reps, "rounds": args.rounds, "requests": args.requests,
        "command": f"python -m loadtests.preload --reps {args.reps} --rounds {args.rounds}",
        "variants": {name: {
            "preload": chosen[name],
            "all": [r["series_per_s"] for run in runs for r in run["rounds"]],
            "median_series_per_s": statistics.median(r["series_per_s"] for run in runs for r in run["rounds"]),
            "median_output_tokens_per_s": statistics.median(r["output_tokens_per_s"] for run in runs
                                                            for r in run["rounds"]),
            "load_s": [round(run["load_s"], 1) for run in runs], "warned": runs[0]["warned"]}
            for name, runs in measured.items()},
    }
    args.out.write_text(json.dumps(result, indent=2))
    write_report(result, args.doc)
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
