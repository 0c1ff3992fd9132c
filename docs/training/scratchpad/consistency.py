"""Does a scratchpad student's sentence follow its own reading? (docs/training.md, train20 for the trend, train32 for
the noise)

    .venv/bin/python docs/training/scratchpad/consistency.py runs/train20 [trend|noise] [--real-world]
    .venv/bin/python docs/training/scratchpad/consistency.py runs/train54 trend --real-world   # 'change +N' read too
    .venv/bin/python docs/training/scratchpad/consistency.py runs/train54 max --real-world     # its max against its start

The whole answer generated greedily on held-out rule-teacher series (trend: 20 decreasing, 10 flat, 10 increasing at
most; noise: 20 of each class at most) or, with --real-world, on the run's real-world series (encoded as the service
does). trend: its own start/end turned into a trend by the rule's threshold, against the trend its sentence states
and the truth. noise: its own mean step (or, reading kind scratchpad-rule, its residual RMS), the noise its sentence
states and the truth; how often the stated noise is a cut of its own number (the two thresholds that fit its sentences
best) tells whether the sentence follows the reading.
"""

import json
import re
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from core.facts import compute_features
from core.features.extrema import read_extrema
from core.features.noise import read_noise
from core.features.trend import TREND_DELTA, read_trend
from core.prompt import build_messages
from core.series import encode, format_levels
from training.dataset import edge_change, edge_means, trained_length
from training.rundir import RunDir

PICKED = {"trend": (("decreasing", 20), ("flat", 10), ("increasing", 10)),
          "noise": (("low", 20), ("medium", 20), ("high", 20))}
NOISE_ORDER = {"low": 0, "medium": 1, "high": 2}
EDGES = re.compile(r"start (\d+), end (\d+)(?:, change ([+-]?\d+))?")  # a reading's edges (and change, if written)


def held_out(run: Path, field: str, real_world: bool) -> list[tuple[list[dict], str, list[int]]]:
    """(messages, true label, levels shown) of the series asked: held-out rule-teacher examples, or the run's
    real-world series at the run's own length and prompt style."""
    if real_world:
        style = json.loads((run / "manifest.json").read_text())["stages"]["dataset"]["prompt_style"]
        length = trained_length(RunDir(run))
        records = [json.loads(line) for line in (run / "realworld_series.jsonl").open()]
        shown = [list(encode(r["values"], length=length).levels) for r in records]
        return [(build_messages(format_levels(levels), style), compute_features(r["values"]).labels[field], levels)
                for r, levels in zip(records, shown)]
    examples = [json.loads(line) for line in (run / "sft" / "test.jsonl").open()]
    examples = [e for e in examples if e["teacher"] == "rules"]
    return [(e["messages"], label, e["levels"]) for label, n in PICKED[field]
            for e in [e for e in examples if e["features"][field] == label][:n]]


def own_change(edges: re.Match) -> int:
    """The change a reading writes, or its end minus its start where it writes none."""
    return int(edges[3]) if edges[3] is not None else int(edges[2]) - int(edges[1])


def edge_errors(edges: re.Match, levels: list[int]) -> tuple[int, int, int]:
    """How far its start, end and change are from those of the levels it was shown."""
    true = EDGES.search(edge_means(levels))
    return (abs(int(edges[1]) - int(true[1])), abs(int(edges[2]) - int(true[2])),
            abs(own_change(edges) - edge_change(levels)))


def best_cut_agreement(steps: list[int], said: list[str]) -> tuple[int, int, int]:
    """The two step thresholds under which a cut of its own step agrees with the stated noise most, and how often."""
    best = (0, 0, 0)
    for low in range(30):
        for high in range(low, 31):
            agree = sum((("low" if s < low else "high" if s > high else "medium") == w) for s, w in zip(steps, said))
            best = max(best, (agree, low, high))
    return best


def trend_of(delta: int) -> str:
    """The trend rule's label of an end-minus-start change in levels."""
    return "increasing" if delta > TREND_DELTA else "decreasing" if delta < -TREND_DELTA else "flat"


def main() -> None:
    run, field = Path(sys.argv[1]), (sys.argv[2] if len(sys.argv) > 2 and not sys.argv[2].startswith("--") else "trend")
    tokenizer = AutoTokenizer.from_pretrained(run / "merged")
    model = AutoModelForCausalLM.from_pretrained(run / "merged", dtype=torch.float32).eval()
    counts, own_steps, errors, by_edges = Counter(), [], [], Counter()
    for messages, truth, levels in held_out(run, field, "--real-world" in sys.argv):
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        ids = torch.tensor([tokenizer.encode(text, add_special_tokens=False)])
        with torch.no_grad():
            out = model.generate(ids, max_new_tokens=120 if field == "max" else 60, do_sample=False,
                                 pad_token_id=tokenizer.eos_token_id)
        said = tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
        if field == "max":
            edges, sentence = EDGES.search(said), re.search(r'"extrema":"([^"]*)', said)
            if not (edges and sentence):
                counts["unparsed"] += 1
                continue
            stated_max = read_extrema(sentence[1])[0]
            counts[truth, stated_max] += 1
            own_steps.append((truth, stated_max, int(edges[1]), int(EDGES.search(edge_means(levels))[1])))
            continue
        if field == "trend":
            edges, sentence = EDGES.search(said), re.search(r'"trend":"([^"]*)', said)
            if not (edges and sentence):
                counts["unparsed"] += 1
                continue
            errors.append(edge_errors(edges, levels))
            by_edges[truth, trend_of(int(edges[2]) - int(edges[1]))] += 1
            counts[truth, trend_of(own_change(edges)), read_trend(sentence[1])] += 1
        else:
            step, sentence = re.search(r"(?:step|noise) (\d+)", said), re.search(r'"noise":"([^"]*)', said)
            stated = read_noise(sentence[1]) if sentence else None
            if not (step and stated):
                counts["unparsed"] += 1
                continue
            own_steps.append((int(step[1]), stated, truth))
            counts[truth, int(step[1]), stated] += 1
    if field == "max":
        print("computed max | its sentence: count")
        for key, n in sorted(counts.items(), key=str):
            print(key, n)
        for truth, said_max, start, true_start in sorted(own_steps, key=lambda row: (row[0], row[3])):
            if truth == "beginning":
                print(f"max at the beginning, said {said_max}: its start {start}, the levels' start {true_start}")
        return
    print("computed | its reading | its sentence: count")
    for key, n in sorted(counts.items(), key=str):
        print(key, n)
    if field == "trend":
        follows = sum(n for k, n in counts.items() if isinstance(k, tuple) and k[1] == k[2])
        print(f"the sentence follows the reading on {follows} of {sum(counts.values())}")
        if errors:
            start, end, change = np.asarray(errors).T
            print(f"its reading against the levels shown (mean absolute error, median): start {start.mean():.1f} "
                  f"({np.median(start):.0f}), end {end.mean():.1f} ({np.median(end):.0f}), change {change.mean():.1f} "
                  f"({np.median(change):.0f}); change within 3 on {int((change <= 3).sum())} of {len(change)}")
            right = {label: f"{by_edges[label, label]}/{sum(n for k, n in by_edges.items() if k[0] == label)}"
                     for label in sorted({k[0] for k in by_edges})}
            print(f"the rule's trend of its own end minus its own start, right per class: {right}")
        return
    steps, said, truth = zip(*own_steps)
    agree, low, high = best_cut_agreement(list(steps), list(said))
    right = sum(s == t for s, t in zip(said, truth))
    print(f"stated noise right {right} of {len(said)}; a cut of its own step (low < {low}, high > {high}) agrees with "
          f"its sentence on {agree} of {len(said)}; truth (0/1/2) vs own number, Pearson r: "
          f"{np.corrcoef([NOISE_ORDER[t] for t in truth], steps)[0, 1]:.2f}")


if __name__ == "__main__":
    main()
