"""Stage 3 — teacher annotations: `rules` (offline), `openai` (a multimodal model), or `import` (companion format).

    python -m training.annotate --run runs/smollm2 --teacher rules
    python -m training.annotate --run runs/smollm2 --teacher import --file ../shared/data/dlaa_teacher_150.jsonl
    TEACHER_API_KEY=... python -m training.annotate --run runs/smollm2 --teacher openai \\
        --base-url https://host/v1 --model pixtral-large-latest
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
from pathlib import Path

from core import facts
from core.prompt import series_from_prompt
from core.series import encode
from training.progress import progress
from training.rundir import RunDir
from training.teachers import OpenAITeacher, TeacherConfig, TeacherError, rule_description


def encoded(values: list[float]) -> tuple[list[int], facts.Features]:
    """Levels exactly as the service encodes a raw series, and the features the service computes on it."""
    series = encode(values, length=128, min_length=2, max_length=10**7)
    return list(series.levels), facts.compute_features(series.values)


def import_companion(path: Path) -> list[dict]:
    """Records from the companion repository's format: {"input": prompt with Series: [...], "output": JSON}."""
    records = []
    for line_number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        try:
            description = json.loads(row["output"])
        except json.JSONDecodeError:
            print(f"{path}:{line_number}: output is not JSON, skipped", file=sys.stderr)
            continue
        records.append({
            "id": f"import-{row.get('index', line_number)}",
            "family": "ou",
            "levels": series_from_prompt(row["input"]),
            "description": {k: description[k] for k in ("trend", "noise", "extrema")},
            "teacher": f"import:{path.name}",
        })
    return records


def annotate_rules(run: RunDir, seed: int) -> list[dict]:
    """Every registry field phrased by the rule teacher (a run trains the fields it picks); the paper's three
    draw from the seed's stream as before the registry, the others from their own."""
    rng, added_rng = random.Random(seed), random.Random(seed + 1)
    out = []
    for record in progress(list(run.read_jsonl("series.jsonl")), "rule teacher"):
        levels, features = encoded(record["values"])
        description = rule_description(features, rng, facts.DESCRIPTION_FIELDS, added_rng)
        out.append({"id": record["id"], "family": record["family"], "levels": levels, "features": features.record(),
                    "description": description.model_dump(), "teacher": "rules"})
    return out


async def annotate_openai(run: RunDir, config: TeacherConfig, limit: int | None) -> tuple[list[dict], dict]:
    """Annotate with bounded concurrency; answers are cached by content, so a rerun after a crash resumes. A reply
    that can't be used is a failed item (in teacher_failures.jsonl, with its reason), never the end of the run."""
    teacher = OpenAITeacher(config, run.path / "teacher_cache")
    records = list(run.read_jsonl("series.jsonl"))[:limit]
    charts = run.path / "charts"
    failures: list[dict] = []

    async def one(record: dict) -> dict | None:
        levels, features = encoded(record["values"])
        chart = charts / f"{record['id']}.png"
        try:
            description = await teacher.describe(levels, chart.read_bytes() if chart.exists() else None)
        except (TeacherError, ValueError) as error:
            print(f"{record['id']}: {error}", file=sys.stderr)
            failures.append({"id": record["id"], "reason": str(error)[:300]})
            return None
        return {"id": record["id"], "family": record["family"], "levels": levels, "features": features.record(),
                "description": description.model_dump(), "teacher": f"openai:{config.model}"}

    try:
        results = []
        for finished in progress(asyncio.as_completed([one(r) for r in records]), "teacher", total=len(records)):
            results.append(await finished)
    finally:
        await teacher.close()
    order = {r["id"]: i for i, r in enumerate(records)}
    annotated = sorted((r for r in results if r), key=lambda r: order[r["id"]])
    run.write_jsonl("teacher_failures.jsonl", sorted(failures, key=lambda f: order[f["id"]]))
    return annotated, {**teacher.usage.__dict__, "failed_items": len(failures)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True)
    parser.add_argument("--teacher", choices=["rules", "openai", "import"], required=True)
    parser.add_argument("--file", type=Path, action="append", help="companion-format file(s) for --teacher import")
    parser.add_argument("--out", default="annotations.jsonl")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--base-url", default=TeacherConfig.base_url)
    parser.add_argument("--model", default=TeacherConfig.model)
    parser.add_argument("--concurrency", type=int, default=TeacherConfig.concurrency)
    parser.add_argument("--timeout", type=float, default=TeacherConfig.timeout_s)
    parser.add_argument("--max-retries", type=int, default=TeacherConfig.max_retries)
    args = parser.parse_args(argv)
    run = RunDir(args.run)
    details: dict = {"teacher": args.teacher}
    if args.teacher == "import":
        if not args.file:
            parser.error("--teacher import needs --file")
        records = [r for path in args.file for r in import_companion(path)]
        details["files"] = [str(p) for p in args.file]
    elif args.teacher == "rules":
        records = annotate_rules(run, args.seed)
    else:
        config = TeacherConfig(base_url=args.base_url, model=args.model, concurrency=args.concurrency,
                               timeout_s=args.timeout, max_retries=args.max_retries)
        records, usage = asyncio.run(annotate_openai(run, config, args.limit))
        details.update(model=args.model, base_url=args.base_url, usage=usage)
    count = run.write_jsonl(args.out, records)
    details.update(out=args.out, count=count)
    run.record(f"annotate:{args.out}", details)
    print(f"{count} annotations in {run.path / args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
