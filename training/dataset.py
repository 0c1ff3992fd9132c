"""Stage 5 — SFT examples with the service's own prompt builder; split by series into train/validation/test.

    python -m training.dataset --run runs/smollm2 --sources checked.jsonl checked_teacher.jsonl --prompt-style compact
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from collections import Counter
from itertools import pairwise

import numpy as np

from core.facts import (
    DESCRIPTION_FIELDS,
    FEATURE_OF,
    FEATURES,
    checked_names,
    compute_features,
    fact_sentences,
    stored_features,
)
from core.features.noise import NOISE_LOW, noise_label
from core.features.trend import edge_points, trend_label
from core.prompt import PROMPT_STYLES, build_messages
from core.schema import PAPER_FIELDS, SCRATCHPAD, description_model, render_target
from core.series import TRAINED_LENGTH, encode, format_levels
from training.rundir import RunDir

SPLITS = ("train", "validation", "test")
READING_QUESTION = "In which tenth of the series (0-9) are its lowest and its highest level?"
READING_KINDS = ("extremes", "all", "rule", "rule-change", "split", "scratchpad", "scratchpad-rule", "scratchpad-change")
SCRATCHPAD_KINDS = ("scratchpad", "scratchpad-rule", "scratchpad-change")  # a reading written first in the answer
PAPER_NAMES = checked_names(PAPER_FIELDS)  # trend, noise, max, min
STEEP_DELTA = 15.0  # edge-mean change (0–99 scale) above which a trend is steep, not gentle
SMOOTH_AC1 = 0.5  # lag-1 autocorrelation of the detrended levels from which a series is smooth, not rough
NEAR_LOW_CUT = (0.75 * NOISE_LOW, 2 * NOISE_LOW)  # noise RMS band (0–99 scale) around the low/medium cut that the margin stratum draws


def slope_of(record: dict) -> str:
    """'steep' or 'shallow' (flat or gentle): how far the edge means part (the trend rule's delta), a stratum of the
    draw (not flat/gentle/steep: a 'flat' here counted flat twice in the draw's rarity and kept steep rare).
    Balanced on the labels alone, noisy trends came mostly gentle (high noise and steep: 6% of train43's draw), and
    the student called steep noisy real declines (Lake Huron, the Nile) flat."""
    delta = abs(stored_features(record).trend_delta)
    return "steep" if delta > STEEP_DELTA else "shallow"


def texture_of(record: dict) -> str:
    """'smooth' or 'rough': whether the record's levels, less their line, follow on from point to point (lag-1
    autocorrelation ≥ SMOOTH_AC1: cycles, wanders) or jump about (white noise), a stratum of the draw. Train45's draw
    had 323 rough flat high-noise series and 78 smooth ones (its 128 levels); the student read real flat cycles
    (lynx, WWWusage) as trends."""
    levels = np.asarray(record["levels"], dtype=float)
    x = np.arange(levels.size)
    residual = levels - np.polyval(np.polyfit(x, levels, 1), x) if levels.size > 2 else np.zeros(levels.size)
    if residual.std() == 0:
        return "smooth"
    return "smooth" if float(np.corrcoef(residual[:-1], residual[1:])[0, 1]) >= SMOOTH_AC1 else "rough"


def margin_of(record: dict) -> str:
    """'near' or 'far': whether the record's noise RMS lies in the band NEAR_LOW_CUT around the low/medium cut
    (NOISE_LOW, 2 on the 0–99 scale), a stratum of the draw. Train50's draw had 51 of 2,887 examples with an RMS of
    2–3 and 68 of 3–4 against 20% of the real teacher's series; the student called smooth medium OU series (RMS 2–4)
    low."""
    low, high = NEAR_LOW_CUT
    return "near" if low <= stored_features(record).noise_rms < high else "far"


def flat_texture_of(record: dict) -> str:
    """texture_of for flat series ('smooth' or 'rough'), 'sloped' for the others: a stratum of the draw that asks for
    smooth flat series (cycles, wanders) without changing how trends are drawn. The real-world flat series train50
    called trends were all smooth cycles or wanders (lynx, sunspot.year, treering, beaver1, WWWusage); its draw's flat
    series were mostly rough (white noise, changing variance); the texture stratum on every series took noise away from
    the OU series (train51)."""
    return texture_of(record) if stored_features(record).label("trend") == "flat" else "sloped"


STRATA = {"slope": slope_of, "texture": texture_of, "margin": margin_of, "flat_texture": flat_texture_of}  # draw keys that are not labels the student states


def draw_label(record: dict, name: str) -> str:
    """The record's class on a checked name or a stratum."""
    return STRATA[name](record) if name in STRATA else stored_features(record).label(name)


def unit_hash(text: str) -> float:
    """A number in [0, 1) fixed by the text: deterministic choices by content or id."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") / 2**64


def split_of(levels: list[int], validation: float, test: float) -> str:
    """Deterministic split by the series' content: the same series always lands in the same split."""
    u = unit_hash(",".join(map(str, levels)))
    if u < test:
        return "test"
    if u < test + validation:
        return "validation"
    return "train"


def class_weight(record: dict, shares: dict[str, Counter], power: float) -> float:
    """Inverse class frequency (to a power), multiplied over the checked fields: rare classes are drawn more often."""
    weight = 1.0
    for name, counts in shares.items():
        weight *= (counts[draw_label(record, name)] / sum(counts.values())) ** -power
    return weight


def balanced_subset(records: list[dict], size: int, power: float, rng: random.Random,
                    names: tuple[str, ...] = PAPER_NAMES) -> list[dict]:
    """A weighted draw without replacement of `size` records, favouring rare classes of the checked names."""
    if size >= len(records):
        return records
    shares = {name: Counter(draw_label(r, name) for r in records) for name in names}
    keyed = [(rng.random() ** (1.0 / class_weight(r, shares, power)), i) for i, r in enumerate(records)]
    chosen = sorted(i for _, i in sorted(keyed, reverse=True)[:size])
    return [records[i] for i in chosen]


def cell_of(record: dict, names: tuple[str, ...] = PAPER_NAMES) -> str:
    """The record's joint class, e.g. trend/noise/max/min (and any strata, e.g. /steep)."""
    return "/".join(draw_label(record, name) for name in names)


def rarity(labels: dict[str, str], counts: dict[str, Counter], pair_counts: dict[tuple[str, str], Counter]) -> float:
    """How rare a cell's labels are in the draw so far: the sum over the fields (and, if counted, over the pairs of
    fields) of 1 / (1 + count)."""
    return sum(1 / (1 + counts[n][labels[n]]) for n in counts) + \
        sum(1 / (1 + c[labels[a], labels[b]]) for (a, b), c in pair_counts.items())


def cell_balanced_subset(records: list[dict], size: int, rng: random.Random,
                         names: tuple[str, ...] = PAPER_NAMES, pairs: bool = False) -> list[dict]:
    """`size` records: first one of every joint trend × noise × max × min cell that occurs, then always one more of
    the cell whose labels are rarest so far, field by field (so flat, low noise and middle extrema are drawn as often
    as the others while the pool has them). With `pairs`, every pair of fields counts too, so that no label predicts
    another beyond what the pool forces (field by field alone, flat series brought most of the high noise: the
    student learnt "high noise, so flat" and called real declines, which are noisy, flat)."""
    if size >= len(records):
        return records
    cells: dict[str, list[int]] = {}
    for i, record in enumerate(records):
        cells.setdefault(cell_of(record, names), []).append(i)
    for members in cells.values():
        rng.shuffle(members)
    labels = {cell: dict(zip(names, cell.split("/"))) for cell in cells}
    counts = {name: Counter() for name in names}
    pair_counts = {(a, b): Counter() for i, a in enumerate(names) for b in names[i + 1:]} if pairs else {}
    taken = Counter()
    chosen: list[int] = []

    def take(cell: str) -> None:
        chosen.append(cells[cell][taken[cell]])
        taken[cell] += 1
        for name in names:
            counts[name][labels[cell][name]] += 1
        for (a, b), c in pair_counts.items():
            c[labels[cell][a], labels[cell][b]] += 1

    order = sorted(cells)
    rng.shuffle(order)
    for cell in order[:size]:
        take(cell)
    while len(chosen) < size:
        open_cells = [c for c in order if taken[c] < len(cells[c])]
        take(max(open_cells, key=lambda c: (rarity(labels[c], counts, pair_counts), -taken[c])))
    return [records[i] for i in sorted(chosen)]


def drawn_subset(records: list[dict], size: int, draw: str, balance: float, rng: random.Random,
                 names: tuple[str, ...] = PAPER_NAMES, ou_share: float | None = None) -> list[dict]:
    """`size` records drawn as `draw` ('weighted', 'cells' or 'pairs'); with `ou_share`, that share of them from the
    paper's OU series and the rest from the other families, each part balanced on its own (in the records' order)."""
    if ou_share is None:
        return balanced_subset(records, size, balance, rng, names) if draw == "weighted" \
            else cell_balanced_subset(records, size, rng, names, pairs=draw == "pairs")
    ou = [r for r in records if r.get("family", "ou") == "ou"]
    others = [r for r in records if r.get("family", "ou") != "ou"]
    from_ou = min(len(ou), round(size * ou_share))
    chosen = {id(r) for part, n in ((ou, from_ou), (others, size - from_ou))
              for r in drawn_subset(part, n, draw, balance, rng, names)}
    return [r for r in records if id(r) in chosen]


def class_table(examples: list[dict], names: tuple[str, ...] = PAPER_NAMES) -> dict:
    """Per-field classes, every pair of fields' joint classes ("trend×noise": {"flat/high": 675, …}) and the joint
    cells of a split, for the manifest."""
    labels = [{name: draw_label(e, name) for name in names} for e in examples]
    pairs = {f"{a}×{b}": dict(sorted(Counter(f"{x[a]}/{x[b]}" for x in labels).items()))
             for i, a in enumerate(names) for b in names[i + 1:]}
    return {**{name: dict(Counter(x[name] for x in labels)) for name in names}, "pairs": pairs,
            "cells": dict(sorted(Counter(cell_of(e, names) for e in examples).items()))}


def view_labels(levels: list[int], names: tuple[str, ...]) -> dict[str, str]:
    """The labels the rules give the levels a prompt shows (the student's view), for these checked names."""
    labels = compute_features(levels, {FEATURE_OF[name].field for name in names}).labels
    return {name: labels[name] for name in names}


def view_agrees(example: dict, names: tuple[str, ...]) -> bool:
    """Whether the student's view carries the example's full-resolution labels of these names: at 64 points half
    the flat examples show edge means that the trend rule itself calls a trend (train57's draw: 340 of 677)."""
    return not names or view_labels(example["levels"], names) == {name: example["features"][name] for name in names}


def trained_length(run: RunDir) -> int:
    """The points a run's prompts show (its dataset stage's --length; 128 for runs before it was recorded)."""
    return run.manifest()["stages"].get("dataset", {}).get("length", TRAINED_LENGTH)


def at_length(values: list[float], length: int) -> list[int]:
    """Levels as the service would send them to a student trained on `length` points: from the raw series where the
    record has it (the resample picks its grid on the full series), else from its 128 levels (the real teacher's,
    encoded by the paper, may repeat 99 or 00 where the service marks only the true max and min)."""
    return list(encode(values, length=length, min_length=2, max_length=10**7).levels)


def sft_example(record: dict, style: str, fields: tuple[str, ...] = PAPER_FIELDS,
                asked: tuple[str, ...] | None = None, length: int = TRAINED_LENGTH) -> dict:
    """Chat messages exactly as the service sends them, and the compact JSON the student must answer (a field its
    teacher did not write, e.g. the real teacher's records beyond the paper's three, is the rules' fact sentence).
    `asked`: a question about only these of the fields (the compact instruction of those, the answer of those);
    `length`: the points the prompt shows (the labels stay those computed at full resolution); a record with its
    raw `values` is shown as the service shows that series."""
    fields = asked or fields
    stated = record["description"]
    missing = [f for f in fields if f not in stated]
    if missing:
        facts_of = fact_sentences(stored_features(record))
        stated = {**stated, **{f.field: facts_of[next(iter(f.labels))] for f in FEATURES if f.field in missing}}
    description = description_model(fields).model_validate({f: stated[f] for f in fields})
    levels = at_length(record.get("values") or record["levels"], length)
    return {
        "id": record["id"],
        "family": record.get("family", "ou"),
        "teacher": record.get("teacher"),
        "levels": levels,
        "features": stored_features(record).record(),
        "messages": build_messages(format_levels(levels), style, fields),
        "target": render_target(description),
        **({"asked": list(asked)} if asked else {}),
    }


def one_field_questions(examples: list[dict], records: dict[str, dict], share: float, style: str,
                        fields: tuple[str, ...], seed: int) -> list[dict]:
    """The examples with `share` of the rule teacher's (chosen by id, the fields taken in turn) asking about one
    field only: the same series and steps, but an answer that cannot lean on the sentences before it (the trend
    written first was steering where the student put the extrema)."""
    if share <= 0 or style == "paper":  # the paper's prompt always asks for its three fields
        return examples
    out, turn = [], 0
    for example in examples:
        if unit_hash(f"{seed}:{example['id']}") < share and not str(example["teacher"]).startswith("import"):
            example = sft_example(records[example["id"]], style, fields, asked=(fields[turn % len(fields)],),
                                  length=len(example["levels"]))
            turn += 1
        out.append(example)
    return out


def extreme_tenths(levels: list[int]) -> dict[str, int]:
    """The tenth of the encoded series holding its first lowest and first highest level."""
    return {name: levels.index(extreme(levels)) * 10 // len(levels) for name, extreme in (("lowest", min), ("highest", max))}


def reading_answer(levels: list[int]) -> str:
    """'lowest 6, highest 0': the tenth of the encoded series holding its first lowest and first highest level."""
    tenths = extreme_tenths(levels)
    return f"lowest {tenths['lowest']}, highest {tenths['highest']}"


def edge_means(levels: list[int]) -> str:
    """'start 23, end 71': the mean level of the edges the trend rule compares."""
    k = edge_points(len(levels))
    return f"start {round(sum(levels[:k]) / k)}, end {round(sum(levels[-k:]) / k)}"


def edges_and_step(levels: list[int]) -> str:
    """'start 23, end 71, step 4': the edge means and the mean absolute step."""
    step = round(sum(abs(b - a) for a, b in pairwise(levels)) / max(1, len(levels) - 1))
    return f"{edge_means(levels)}, step {step}"


def edge_change(levels: list[int]) -> int:
    """End edge mean minus start edge mean, in levels: the quantity the trend rule thresholds (±3)."""
    return round(trend_label(np.asarray(levels, dtype=np.float64))[1])


def edges_and_change(levels: list[int]) -> str:
    """'start 23, end 71, change +48': the edge means and the trend rule's own quantity, end minus start."""
    return f"{edge_means(levels)}, change {edge_change(levels):+d}"


def edges_and_residual(levels: list[int], change: bool = False) -> str:
    """'start 23, end 71, noise 7': the edge means and, in place of the mean step, the quantity the noise rule
    thresholds (the RMS of the residual of a cubic fit, here of the levels; low below 2, high above 12); with
    `change`, the trend rule's own quantity after the edges ('start 23, end 71, change +48, noise 7')."""
    edges = edges_and_change(levels) if change else edge_means(levels)
    return f"{edges}, noise {round(noise_label(np.asarray(levels, dtype=np.float64))[1])}"


def full_reading(levels: list[int], highest_first: bool, residual: bool = False,
                 change: bool = False) -> tuple[str, str]:
    """A question and its answer on every quantity a rule reads: the tenths of the extremes (in the asked order), the
    mean level of the edges the trend rule compares, the mean step from point to point (what noise moves) or, with
    `residual`, the noise rule's own residual RMS (and with `change` the end minus the start before it), e.g.
    'highest 0, lowest 6, start 23, end 71, step 4'."""
    tenths = extreme_tenths(levels)
    order = ("highest", "lowest") if highest_first else ("lowest", "highest")
    spread = "how far it strays from a smooth curve" if residual else "its mean step"
    moved = " and by how much it changed" if change else ""
    question = (f"In which tenth (0-9) are its {order[0]} and {order[1]} level, what is its mean level at the start "
                f"and at the end{moved}, and {spread}?")
    quantities = edges_and_residual(levels, change) if residual else edges_and_step(levels)
    return question, f"{order[0]} {tenths[order[0]]}, {order[1]} {tenths[order[1]]}, {quantities}"


def split_reading(levels: list[int], highest_first: bool) -> list[dict]:
    """The full reading as three turns: each extreme asked alone (in the drawn order, so that neither rides on the
    other's answer), then the edge means and the mean step."""
    tenths = extreme_tenths(levels)
    order = ("highest", "lowest") if highest_first else ("lowest", "highest")
    alone = [{"question": f"In which tenth of the series (0-9) is its {name} level?", "answer": str(tenths[name])}
             for name in order]
    return [*alone, {"question": "What is its mean level at the start and at the end, and its mean step?",
                     "answer": edges_and_step(levels)}]


def with_scratchpad(example: dict, residual: bool = False, change_only: bool = False) -> dict:
    """The example answered with the full reading first (its `reading` field; the extremes max first, as the
    sentences state them; with `residual` the noise rule's residual RMS in place of the mean step; with
    `change_only` the edge means and their change alone), then the same sentences: the student reads before it
    describes."""
    stated = json.loads(example["target"])
    reading = edges_and_change(example["levels"]) if change_only else \
        full_reading(example["levels"], highest_first=True, residual=residual)[1]
    description = description_model(tuple(stated), scratchpad=True).model_validate({SCRATCHPAD: reading, **stated})
    return {**example, "target": render_target(description)}


def reading_turns(examples: list[dict], share: float, seed: int, kind: str = "extremes", turns: bool = True) -> list[dict]:
    """The examples with `share` of them (chosen by id) followed by a second turn that asks what a rule reads,
    finer than the description says (tenths and levels, so the first answer cannot simply be copied). 'extremes':
    in which tenth the one lowest and the one highest level token lie, the lookup the extrema sentence needs; 'all':
    those (in an order drawn per example) and the edge means and the mean step behind trend and noise; 'rule': the
    same with the noise rule's residual RMS in place of the mean step; 'rule-change': that with the trend rule's
    own quantity (end minus start) after the edge means; 'split': the same as three turns, each
    extreme asked alone; 'scratchpad': no turn, the full reading written first in the answer itself (every split;
    the service asks for it and drops it); 'scratchpad-rule': the same with the residual RMS in place of the step;
    'scratchpad-change': only the edge means and their change written first (the trend word then follows a number
    on the page), and, with `turns`, the 'rule' turn after the description as well.
    The service never asks a turn; the description turn is unchanged."""
    if share <= 0:
        return examples
    if kind in SCRATCHPAD_KINDS:
        residual, change_only = kind == "scratchpad-rule", kind == "scratchpad-change"
        written = [with_scratchpad(e, residual, change_only) if unit_hash(f"{seed}:reading:{e['id']}") < share else e
                   for e in examples]
        return reading_turns(written, share, seed, "rule") if change_only and turns else written
    out = []
    for e in examples:
        if unit_hash(f"{seed}:reading:{e['id']}") >= share:
            out.append(e)
            continue
        highest_first = unit_hash(f"{seed}:order:{e['id']}") < 0.5
        if kind == "split":
            out.append({**e, "reading": split_reading(e["levels"], highest_first)})
            continue
        if kind in ("all", "rule", "rule-change"):
            question, answer = full_reading(e["levels"], highest_first, residual=kind != "all", change=kind == "rule-change")
        else:
            question, answer = READING_QUESTION, reading_answer(e["levels"])
        out.append({**e, "reading": {"question": question, "answer": answer}})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True)
    parser.add_argument("--sources", nargs="+", default=["checked.jsonl"])
    parser.add_argument("--prompt-style", choices=PROMPT_STYLES, default="compact")
    parser.add_argument("--validation", type=float, default=0.05)
    parser.add_argument("--test", type=float, default=0.15)
    parser.add_argument("--train-size", type=int, default=None,
                        help="draw this many rule-teacher training examples, class-balanced (imported ones are all kept)")
    parser.add_argument("--draw", choices=["cells", "pairs", "weighted"], default="cells",
                        help="cells: round-robin over the joint trend × noise × max × min cells, rarest labels first; "
                             "pairs: the same, rarest labels and pairs of labels first (decorrelates the fields); "
                             "weighted: inverse class frequency to the power --balance, field by field (train5's)")
    parser.add_argument("--balance", type=float, default=0.5, help="power of the inverse class frequency (--draw weighted)")
    parser.add_argument("--ou-share", type=float, default=None,
                        help="share of the drawn examples taken from the paper's OU series, the rest from the other "
                             "families, each part drawn as --draw (default: one draw over all; 0.5 measured in "
                             "docs/training.md, train34)")
    parser.add_argument("--strata", nargs="*", choices=sorted(STRATA), default=[],
                        help="draw keys beyond the labels, balanced with them: slope (steep or shallow edge change), "
                             "texture (smooth or rough residual)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--length", type=int, default=TRAINED_LENGTH,
                        help="points each prompt shows, resampled as the service does (the student's trained length)")
    parser.add_argument("--fields", nargs="+", choices=DESCRIPTION_FIELDS, default=list(PAPER_FIELDS),
                        help="the description fields the student learns to state, in the order its answer states "
                             "them (a scratchpad goes right before the trend; the draw balances their classes)")
    parser.add_argument("--one-field-share", type=float, default=0.0,
                        help="share of the rule teacher's training examples that ask about one field only (in turn)")
    parser.add_argument("--reading-share", type=float, default=0.0,
                        help="share of the training examples followed by a reading turn (in which tenth the lowest "
                             "and the highest level lie); loss weight: finetune's reading_weight")
    parser.add_argument("--reading", choices=READING_KINDS, default="extremes",
                        help="what the reading turn asks: extremes (the tenths of the lowest and highest level) or "
                             "all (those, the mean level at start and end, the mean step) or rule (the same with the noise rule's "
                             "residual RMS in place of the step) or rule-change (that and the end minus the start) or split (the same in three turns, each "
                             "extreme alone) or scratchpad (the full reading first in the answer, every split) or "
                             "scratchpad-rule (the same with the residual RMS in place of the step) or "
                             "scratchpad-change (the edge means and their change first, and the rule turn after)")
    parser.add_argument("--view-agrees", nargs="*", choices=PAPER_NAMES, default=[],
                        help="draw only rule-teacher series whose view (the levels the prompt shows) the rules give "
                             "these full-resolution labels, e.g. trend")
    parser.add_argument("--imported-test", type=float, default=0.34,
                        help="test share for imported real-teacher records (held out for the style metric)")
    args = parser.parse_args(argv)
    run = RunDir(args.run)
    fields = tuple(dict.fromkeys(args.fields))  # the answer's order; the prompt names them in the registry's
    names = checked_names(fields)
    drawn_names = (*names, *args.strata)
    (run.path / "sft").mkdir(exist_ok=True)
    buckets: dict[str, list[dict]] = {s: [] for s in SPLITS}
    seen: set[tuple[int, ...]] = set()
    records: dict[str, dict] = {}
    view_dropped: dict = {}
    raw = {r["id"]: r["values"] for r in run.read_jsonl("series.jsonl")} if (run.path / "series.jsonl").exists() else {}
    for source in args.sources:
        for record in run.read_jsonl(source):
            key = tuple(record["levels"])
            if key in seen:  # one series, one example: no leakage of duplicates across splits
                continue
            seen.add(key)
            if record["id"] in raw:
                record = {**record, "values": raw[record["id"]]}
            imported = str(record.get("teacher", "")).startswith("import")
            test_share = args.imported_test if imported else args.test
            # Other families only ever train: validation and test stay the paper's distribution.
            split = split_of(record["levels"], args.validation, test_share) if record.get("family", "ou") == "ou" else "train"
            buckets[split].append(sft_example(record, args.prompt_style, fields, length=args.length))
            records[record["id"]] = record
    if args.train_size is not None:
        imported = [e for e in buckets["train"] if str(e["teacher"]).startswith("import")]
        generated = [e for e in buckets["train"] if not str(e["teacher"]).startswith("import")]
        agrees = [view_agrees(e, tuple(args.view_agrees)) for e in generated]
        dropped = [e for e, ok in zip(generated, agrees) if not ok]
        view_dropped = {name: dict(Counter(draw_label(e, name) for e in dropped)) for name in names}
        generated = [e for e, ok in zip(generated, agrees) if ok]
        rng = random.Random(args.seed)
        drawn = drawn_subset(generated, args.train_size, args.draw, args.balance, rng, drawn_names, args.ou_share)
        buckets["train"] = imported + drawn
    buckets["train"] = one_field_questions(buckets["train"], records, args.one_field_share, args.prompt_style, fields,
                                           args.seed)
    for split in SPLITS if args.reading in SCRATCHPAD_KINDS else ("train",):  # turns only where the student trains
        buckets[split] = reading_turns(buckets[split], args.reading_share, args.seed, args.reading, turns=split == "train")
    counts = {s: run.write_jsonl(f"sft/{s}.jsonl", buckets[s]) for s in SPLITS}
    teachers = {s: dict(Counter(e["teacher"] for e in buckets[s])) for s in SPLITS}
    classes = {s: class_table(buckets[s], drawn_names) for s in SPLITS}
    run.record("dataset", {"sources": args.sources, "prompt_style": args.prompt_style, "fields": list(fields),
                           "length": args.length,
                           "counts": counts, "train_size": args.train_size, "draw": args.draw, "balance": args.balance,
                           "strata": args.strata, "seed": args.seed,
                           "view_agrees": args.view_agrees, "view_dropped": view_dropped,
                           "ou_share": args.ou_share,
                           "families": dict(Counter(e["family"] for e in buckets["train"])), "classes": classes,
                           "one_field_share": args.one_field_share, "reading_share": args.reading_share, "reading": args.reading,
                           "reading_turns": sum("reading" in e for e in buckets["train"]),
                           "asked": dict(Counter("/".join(e.get("asked", fields)) for e in buckets["train"])),
                           "teachers": teachers, "hash": {s: run.file_hash(f"sft/{s}.jsonl") for s in SPLITS}})
    print(counts, teachers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
