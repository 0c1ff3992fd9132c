"""Does a levels (or zones) student read where the extremes are? Teacher-forced zone accuracy and attention at the decision.

    python -m training.probe --run runs/x [--student runs/x/merged] [--per-class 12]

For held-out rule-teacher examples, the answer is fed up to the place phrase of the max (or min) ("…the global
minimum is"), and the student's own log-probabilities of each zone's phrases choose its zone; at that token, every
layer's attention to the one `<L99>` (or `<L00>`) token of the prompt (a zones student: its `<B99>`, `<M99>` or
`<E99>`) is compared with the mean attention to a series token. A student that reads the extremes attends to them there; one that guesses from the series' shape
does not. Writes RUN/eval/probe.json.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter

from core.features.extrema import MAX_PLACE, MIN_PLACE, POSITIONS
from core.level_tokens import ADDED_TOKENS, LevelTokensError, level_token_ids, uses_added_tokens
from service.atomic import atomic_write
from training.rundir import RunDir

EXTREMES = {"max": ("maximum", MAX_PLACE, 99), "min": ("minimum", MIN_PLACE, 0)}


def extreme_tokens(style: str, level: int) -> list[str]:
    """The added tokens that write a level in a style: '<L00>', or '<B00>', '<M00>', '<E00>'."""
    return [t for t in ADDED_TOKENS[style] if t.endswith(f"{level:02d}>")]


def decision_prefix(target: str, which: str) -> str | None:
    """The answer up to the place phrase of the max or min ('…,"extrema":"The global minimum is'), None if the
    extrema sentence names no place of it."""
    word, places, _ = EXTREMES[which]
    sentence = json.loads(target)["extrema"]
    start = target.find(json.dumps(sentence, ensure_ascii=False)[1:-1])
    at = sentence.find(word)
    if start < 0 or at < 0:
        return None
    other = next(w for name, (w, _, _) in EXTREMES.items() if name != which)
    stop = sentence.find(other, at) if other in sentence[at:] else len(sentence)  # its own clause only
    found = [i for phrase in (p for phrases in places.values() for p in phrases)
             if 0 <= (i := sentence.find(" " + phrase, at, stop))]
    return target[: start + min(found)] if found else None


def probe(model, tokenizer, examples: list[dict], per_class: int, style: str = "levels") -> dict:
    """Per extreme: (true, chosen) zone counts and, per layer, the best head's attention to the extreme's token
    against its mean attention to a series token."""
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
            label, prefix = example["features"][which], decision_prefix(example["target"], which)
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


def read_decision(model, tokenizer, ids: list[int], phrases: list[str]):
    """log P(' ' + phrase | ids) for each phrase and every layer's attention at the last token of ids: one forward of
    the prompt, whose KV cache each phrase continues (cropped back after it)."""
    import torch

    with torch.no_grad():
        out = model(torch.tensor([ids]), output_attentions=True, use_cache=True)
        cache, last = out.past_key_values, out.logits[0, -1:].float()
        logprobs = []
        for phrase in phrases:
            tail = tokenizer.encode(" " + phrase, add_special_tokens=False)
            logits = torch.cat([last, model(torch.tensor([tail]), past_key_values=cache, use_cache=True)
                                .logits[0, :-1].float()])
            cache.crop(-len(tail))
            logprobs.append(float(torch.log_softmax(logits, -1)[torch.arange(len(tail)), torch.tensor(tail)].sum()))
    return logprobs, out.attentions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True)
    parser.add_argument("--student", help="a merged levels or zones model directory (default RUN/merged)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--per-class", type=int, default=12)
    args = parser.parse_args(argv)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run = RunDir(args.run)
    style = run.manifest()["stages"].get("dataset", {}).get("prompt_style", "levels")
    if not uses_added_tokens(style):
        raise SystemExit(f"{args.run} was trained on prompt style {style!r}; the probe reads students of added level "
                         "tokens ('levels', 'zones')")
    student = args.student or str(run.path / "merged")
    tokenizer = AutoTokenizer.from_pretrained(student)
    model = AutoModelForCausalLM.from_pretrained(student, dtype=torch.float32, attn_implementation="eager").eval()
    examples = [e for e in run.read_jsonl(f"sft/{args.split}.jsonl") if e["teacher"] == "rules" and "asked" not in e]
    random.Random(0).shuffle(examples)
    try:
        result = probe(model, tokenizer, examples, args.per_class, style)
    except LevelTokensError as error:
        raise SystemExit(f"{student}: {error}") from None
    (run.path / "eval").mkdir(exist_ok=True)
    atomic_write(run.path / "eval" / "probe.json", json.dumps(result, indent=1))
    for which, found in result.items():
        strongest = max(found["attention"], key=lambda a: a["to_extreme"])
        print(f"{which}: teacher-forced {found['right']}; strongest attention to its token: layer {strongest['layer']} "
              f"head {strongest['head']} {strongest['to_extreme']:.3f} (a series token: {strongest['to_series_token']:.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
