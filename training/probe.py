"""Does a levels (or zones) student read where the extremes are? Teacher-forced zone accuracy and attention at the decision.

    python -m training.probe --run runs/x [--student runs/x/merged] [--per-class 12]

For held-out rule-teacher examples, the answer is fed up to the place phrase of the max (or min) ("…the global
minimum is"), and the student's own log-probabilities of each zone's phrases choose its zone; at that token, every
layer's attention to the one `<L99>` (or `<L00>`) token of the prompt (a zones student: its `<B99>`, `<M99>` or
`<E99>`) is compared with the mean attention to a series token. A student that reads the extremes attends to them there; one that guesses from the series' shape
does not. A student trained with reading turns or a scratchpad (training.dataset --reading) is also asked its
reading of held-out series, greedily, after the true answers before it: is the reading learnt at all, even where the
description does not use it? — and, teacher-forced, which head attends to `<L00>` (`<L99>`) where it names the
lowest (highest) level's tenth. With --label-mass trend noise, the run's real-world series are scored per label by the
summed probability of each label's trained sentences against its single likeliest sentence: does the student know
the label that greedy decoding does not write? Writes RUN/eval/probe.json.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import Counter

from core.features.extrema import MAX_PLACE, MIN_PLACE, POSITIONS
from core.level_tokens import ADDED_TOKENS, LevelTokensError, level_token_ids, uses_added_tokens
from core.prompt import build_messages
from core.schema import SCRATCHPAD
from core.series import encode
from service.atomic import atomic_write
from training.dataset import SCRATCHPAD_KINDS, reading_turns, trained_length
from training.rundir import RunDir

EXTREMES = {"max": ("maximum", MAX_PLACE, 99), "min": ("minimum", MIN_PLACE, 0)}


def extreme_tokens(style: str, level: int) -> list[str]:
    """The added tokens that write a level in a style: '<L00>', or '<B00>', '<M00>', '<E00>'."""
    return [t for t in ADDED_TOKENS[style] if t.endswith(f"{level:02d}>")]


def other_extreme(which: str) -> str:
    """'min' for 'max' and 'max' for 'min'."""
    return next(name for name in EXTREMES if name != which)


def extrema_sentence(target: str) -> tuple[str, int]:
    """The answer's extrema sentence and where it starts in the answer's JSON text (-1 if not found)."""
    sentence = json.loads(target)["extrema"]
    return sentence, target.find(json.dumps(sentence, ensure_ascii=False)[1:-1])


def decision_prefix(target: str, which: str) -> str | None:
    """The answer up to the place phrase of the max or min ('…,"extrema":"The global minimum is'), None if the
    extrema sentence names no place of it."""
    word, places, _ = EXTREMES[which]
    sentence, start = extrema_sentence(target)
    at = sentence.find(word)
    if start < 0 or at < 0:
        return None
    other = EXTREMES[other_extreme(which)][0]
    stop = sentence.find(other, at) if other in sentence[at:] else len(sentence)  # its own clause only
    found = [i for phrase in (p for phrases in places.values() for p in phrases)
             if 0 <= (i := sentence.find(" " + phrase, at, stop))]
    return target[: start + min(found)] if found else None


def ordered_prefix(target: str, features: dict, which: str, first: bool) -> str:
    """The answer up to the place of the max or min in an extrema sentence that names it first or second (the other
    extreme's true place before it): the same series asked in both orders tells an order effect from a reading one."""
    word, other = EXTREMES[which][0], other_extreme(which)
    _, start = extrema_sentence(target)
    if first:
        return target[:start] + f"The global {word} is located"
    other_word, other_places, _ = EXTREMES[other]
    return (target[:start] + f"The global {other_word} is located {other_places[features[other]][0]}, "
            f"and the global {word} is located")


def probe(model, tokenizer, examples: list[dict], per_class: int, style: str = "levels",
          order: str | None = None) -> dict:
    """Per extreme: (true, chosen) zone counts and, per layer, the best head's attention to the extreme's token
    against its mean attention to a series token; with `order` ('first'/'second') the extreme is asked in that place
    of the sentence instead of where the target put it."""
    import torch

    level_ids = set(level_token_ids(tokenizer, style))  # refuses a student without them, saying why
    result = {}
    for which, (_, places, level) in EXTREMES.items():
        extreme_ids = set(tokenizer.convert_tokens_to_ids(extreme_tokens(style, level)))
        taken, chosen = Counter(), Counter()
        phrases = [(zone, p) for zone, options in places.items() for p in options]
        to_extreme: list[list[list[float]]] = []
        to_series: list[list[list[float]]] = []
        for example in examples:
            label = example["features"][which]
            prefix = (decision_prefix(example["target"], which) if order is None else
                      ordered_prefix(example["target"], example["features"], which, order == "first"))
            if taken[label] >= per_class or prefix is None:
                continue
            prompt = tokenizer.apply_chat_template(example["messages"], tokenize=False, add_generation_prompt=True)
            ids = tokenizer.encode(prompt + prefix, add_special_tokens=False)
            at = next((i for i, t in enumerate(ids) if t in extreme_ids), None)
            if at is None:
                continue
            taken[label] += 1
            logprobs, attentions = read_decision(model, tokenizer, ids, [p for _, p in phrases])
            scores = {zone: max(lp for (z, _), lp in zip(phrases, logprobs) if z == zone) for zone in places}
            chosen[label, max(scores, key=scores.get)] += 1
            series = [i for i, t in enumerate(ids) if t in level_ids]
            to_extreme.append([a[0, :, -1, at].tolist() for a in attentions])
            to_series.append([a[0, :, -1, series].mean(-1).tolist() for a in attentions])
        extreme, series = torch.tensor(to_extreme).mean(0), torch.tensor(to_series).mean(0)  # layers x heads
        best = extreme.argmax(-1)
        result[which] = {
            "right": {zone: f"{chosen[zone, zone]}/{taken[zone]}" for zone in POSITIONS},
            "chosen": {f"{t}→{c}": n for (t, c), n in sorted(chosen.items())},
            "attention": [{"layer": layer, "head": int(h), "to_extreme": round(float(extreme[layer, h]), 4),
                           "to_series_token": round(float(series[layer, h]), 5)} for layer, h in enumerate(best)],
        }
    return result


def read_decision(model, tokenizer, ids: list[int], phrases: list[str], lead: str = " "):
    """log P(lead + phrase | ids) for each phrase and every layer's attention at the last token of ids: one forward
    of the prompt, whose KV cache each phrase continues (cropped back after it)."""
    import torch

    with torch.no_grad():
        out = model(torch.tensor([ids]), output_attentions=True, use_cache=True)
        cache, last = out.past_key_values, out.logits[0, -1:].float()
        logprobs = []
        for phrase in phrases:
            tail = tokenizer.encode(lead + phrase, add_special_tokens=False)
            logits = torch.cat([last, model(torch.tensor([tail]), past_key_values=cache, use_cache=True)
                                .logits[0, :-1].float()])
            cache.crop(-len(tail))
            logprobs.append(float(torch.log_softmax(logits, -1)[torch.arange(len(tail)), torch.tensor(tail)].sum()))
    return logprobs, out.attentions


def sentences_by_label(examples: list[dict], field: str) -> dict[str, list[str]]:
    """The distinct sentences the rule teacher wrote for a field in these examples, by the label they were written for."""
    found: dict[str, dict[str, None]] = {}
    for example in examples:
        if example["teacher"] == "rules" and "asked" not in example:
            found.setdefault(example["features"][field], {})[json.loads(example["target"])[field]] = None
    return {label: list(sentences) for label, sentences in sorted(found.items())}


def label_mass(model, tokenizer, items: list[tuple[list[dict], str]], field: str,
               sentences: dict[str, list[str]]) -> dict:
    """Per true label: how often the student's probability summed over each label's trained sentences, and its single
    likeliest sentence, pick the truth. Where the sum is right and the likeliest sentence wrong, the student knows the
    label and its phrasings, not the series, decide what greedy decoding writes."""
    import math

    right: dict[str, Counter] = {}
    phrases = [(label, sentence) for label, options in sentences.items() for sentence in options]
    for messages, truth in items:
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        ids = tokenizer.encode(text + f'{{"{field}":"', add_special_tokens=False)
        logprobs, _ = read_decision(model, tokenizer, ids, [s + '"' for _, s in phrases], lead="")
        mass = {label: sum(math.exp(lp) for (said, _), lp in zip(phrases, logprobs) if said == label) for label in sentences}
        likeliest = phrases[max(range(len(phrases)), key=logprobs.__getitem__)][0]
        counts = right.setdefault(truth, Counter())
        counts["count"] += 1
        counts["by_mass"] += max(mass, key=mass.get) == truth
        counts["by_likeliest_sentence"] += likeliest == truth
    return {truth: dict(counts) for truth, counts in sorted(right.items())}


def real_world_label_mass(model, tokenizer, run: RunDir, fields: list[str], style: str) -> dict:
    """label_mass of each field on the run's real-world series, over the sentences its training set stated."""
    real_world = list(run.read_jsonl("realworld_series.jsonl"))  # read once, used for every field
    length = trained_length(run)  # as the service would send them
    prompts = [build_messages(encode(r["values"], length=length).tokens, style) for r in real_world]
    trained = list(run.read_jsonl("sft/train.jsonl"))
    return {field: label_mass(model, tokenizer, [(messages, r["features"][field]) for messages, r in
                                                 zip(prompts, real_world)], field, sentences_by_label(trained, field))
            for field in fields}


def named_numbers(question: str, answer: str) -> dict[str, int]:
    """The quantities a reading states ('lowest 6, start 23' → lowest 6, start 23); a bare digit answers the one
    extreme its question names."""
    pairs = re.findall(r"([a-z]+) (\d+)", answer)
    if not pairs and answer.strip().isdigit():
        pairs = [(next((w for w in ("lowest", "highest") if w in question), "answer"), answer.strip())]
    return {name: int(value) for name, value in pairs}


def score_readings(pairs: list[tuple[dict[str, int], dict[str, int]]]) -> dict:
    """Per quantity, over (true, said) readings: the extremes' tenths right, the levels' mean absolute error."""
    scores = {}
    for name in dict.fromkeys(n for truth, _ in pairs for n in truth):
        asked = [(truth[name], said.get(name)) for truth, said in pairs if name in truth]
        if name in ("lowest", "highest"):
            scores[name] = f"{sum(t == s for t, s in asked)}/{len(asked)}"
        else:
            errors = [abs(t - s) for t, s in asked if s is not None]
            scores[f"{name}_mean_error"] = round(sum(errors) / len(errors), 2) if errors else None
            scores[f"{name}_stated"] = f"{len(errors)}/{len(asked)}"
    return scores


def reading_attention(model, tokenizer, text: str, question: str, truth: str,
                      style: str) -> dict[str, list[list[float]]]:
    """Per extreme a reading names ('lowest 6'; a bare digit: the one its question names), teacher-forced up to its
    number: every layer's and head's attention from there to the prompt's token of level 00 (99). Does a head find
    the extreme when asked to read it, even where the description's decision does not?"""
    import torch

    found = {}
    for name, level in (("lowest", 0), ("highest", 99)):
        at = truth.find(f"{name} ")
        if at >= 0:
            prefix = text + truth[: at + len(name) + 1]
        elif truth.strip().isdigit() and name in question:
            prefix = text
        else:
            continue
        ids = tokenizer.encode(prefix, add_special_tokens=False)
        extreme_ids = set(tokenizer.convert_tokens_to_ids(extreme_tokens(style, level)))
        where = next((i for i, t in enumerate(ids) if t in extreme_ids), None)
        if where is None:
            continue
        with torch.no_grad():
            attentions = model(torch.tensor([ids]), output_attentions=True).attentions
        found[name] = [a[0, :, -1, where].tolist() for a in attentions]
    return found


def strongest_head(per_example: list[list[list[float]]]) -> dict:
    """The layer and head whose mean attention over the examples is the largest, and that mean."""
    import torch

    mean = torch.tensor(per_example).mean(0)  # layers x heads
    layer, head = divmod(int(mean.argmax()), mean.shape[1])
    return {"layer": layer, "head": head, "to_extreme": round(float(mean[layer, head]), 4)}


def reading_probe(model, tokenizer, examples: list[dict], count: int, kind: str, style: str = "levels") -> dict:
    """The student's own reading of `count` examples (greedy), against the truth: a scratchpad is continued from the
    prompt, a reading turn is asked after the true description and the true answers of the turns before it; and,
    teacher-forced, the strongest head's attention to each extreme's token where the reading names its tenth."""
    import torch

    pairs, attention = [], {}
    for example in examples[:count]:
        if kind in SCRATCHPAD_KINDS:  # every split of such a run answers with its scratchpad
            truth = json.loads(example["target"])[SCRATCHPAD]
            asks = [(tokenizer.apply_chat_template(example["messages"], tokenize=False, add_generation_prompt=True)
                     + f'{{"{SCRATCHPAD}":"', "", truth)]
        else:
            (read,) = reading_turns([example], 1.0, 0, kind)
            turns = [read["reading"]] if isinstance(read["reading"], dict) else read["reading"]
            history = [*example["messages"], {"role": "assistant", "content": example["target"]}]
            asks = []
            for turn in turns:
                asks.append((tokenizer.apply_chat_template([*history, {"role": "user", "content": turn["question"]}],
                                                           tokenize=False, add_generation_prompt=True),
                             turn["question"], turn["answer"]))
                history += [{"role": "user", "content": turn["question"]},
                            {"role": "assistant", "content": turn["answer"]}]
        truth_all, said_all = {}, {}
        for text, question, truth in asks:
            for name, heads in reading_attention(model, tokenizer, text, question, truth, style).items():
                attention.setdefault(name, []).append(heads)
            ids = torch.tensor([tokenizer.encode(text, add_special_tokens=False)])
            with torch.no_grad():
                out = model.generate(ids, max_new_tokens=32, do_sample=False, pad_token_id=tokenizer.eos_token_id)
            said = tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True).split('"')[0]
            truth_all |= named_numbers(question, truth)
            said_all |= named_numbers(question, said)
        pairs.append((truth_all, said_all))
    return {"count": len(pairs), **score_readings(pairs),
            "attention": {name: strongest_head(heads) for name, heads in attention.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True)
    parser.add_argument("--student", help="a merged levels or zones model directory (default RUN/merged)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--per-class", type=int, default=12)
    parser.add_argument("--readings", type=int, default=40, help="held-out series whose reading is asked (0: none)")
    parser.add_argument("--orders", action="store_true",
                        help="also ask each extreme first and second in its sentence, on the same series")
    parser.add_argument("--label-mass", nargs="*", default=[], metavar="FIELD",
                        help="fields (trend, noise) whose summed sentence probability is compared per label on the "
                             "run's real-world series (a non-scratchpad student)")
    args = parser.parse_args(argv)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run = RunDir(args.run)
    dataset_stage = run.manifest()["stages"].get("dataset", {})
    style = dataset_stage.get("prompt_style", "levels")
    if not uses_added_tokens(style):
        raise SystemExit(f"{args.run} was trained on prompt style {style!r}; the probe reads students of added level "
                         "tokens ('levels', 'zones')")
    if args.label_mass and dataset_stage.get("reading") in SCRATCHPAD_KINDS and dataset_stage.get("reading_share", 0):
        raise SystemExit("--label-mass scores the description right after the prompt; a scratchpad student "
                         "writes its reading there first")
    student = args.student or str(run.path / "merged")
    tokenizer = AutoTokenizer.from_pretrained(student)
    model = AutoModelForCausalLM.from_pretrained(student, dtype=torch.float32, attn_implementation="eager").eval()
    examples = [e for e in run.read_jsonl(f"sft/{args.split}.jsonl") if e["teacher"] == "rules" and "asked" not in e]
    random.Random(0).shuffle(examples)
    try:
        result = probe(model, tokenizer, examples, args.per_class, style)
        if args.orders:
            result["orders"] = {order: probe(model, tokenizer, examples, args.per_class, style, order)
                                for order in ("first", "second")}
        if dataset_stage.get("reading_share", 0) > 0 and args.readings > 0:
            result["reading"] = reading_probe(model, tokenizer, examples, args.readings,
                                              dataset_stage.get("reading", "extremes"), style)
        if args.label_mass:
            result["label_mass_real_world"] = real_world_label_mass(model, tokenizer, run, args.label_mass, style)
    except LevelTokensError as error:
        raise SystemExit(f"{student}: {error}") from None
    (run.path / "eval").mkdir(exist_ok=True)
    atomic_write(run.path / "eval" / "probe.json", json.dumps(result, indent=1))
    for field, found in result.get("label_mass_real_world", {}).items():
        print(f"{field} on real-world series, per true label: {found}")
    if "reading" in result:
        print(f"its own reading ({dataset_stage.get('reading', 'extremes')}): {result['reading']}")
    for title, found_all in [("as the targets put them", result),
                             *((f"asked {order}", found) for order, found in result.get("orders", {}).items())]:
        for which, found in (item for item in found_all.items() if item[0] in EXTREMES):
            strongest = max(found["attention"], key=lambda a: a["to_extreme"])
            print(f"{which} {title}: teacher-forced {found['right']}; strongest attention to its token: layer "
                  f"{strongest['layer']} head {strongest['head']} {strongest['to_extreme']:.3f} (a series token: "
                  f"{strongest['to_series_token']:.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
