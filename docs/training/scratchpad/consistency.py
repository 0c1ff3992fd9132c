"""Does a scratchpad student's trend sentence follow its own reading? (docs/training.md, train20)

    .venv/bin/python docs/training/scratchpad/consistency.py runs/train20

Held-out rule-teacher series (20 decreasing, 10 flat, 10 increasing at most), the whole answer generated greedily;
its own start/end turned into a trend by the rule's threshold, against the trend its sentence states and the truth.
"""

import json
import re
import sys
from collections import Counter
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from core.features.trend import TREND_DELTA, read_trend

run = Path(sys.argv[1])
tokenizer = AutoTokenizer.from_pretrained(run / "merged")
model = AutoModelForCausalLM.from_pretrained(run / "merged", dtype=torch.bfloat16).eval()
held_out = [json.loads(line) for line in (run / "sft" / "test.jsonl").open()]
held_out = [e for e in held_out if e["teacher"] == "rules"]
picked = [e for label, n in (("decreasing", 20), ("flat", 10), ("increasing", 10))
          for e in [e for e in held_out if e["features"]["trend"] == label][:n]]
counts = Counter()
for example in picked:
    text = tokenizer.apply_chat_template(example["messages"], tokenize=False, add_generation_prompt=True)
    ids = torch.tensor([tokenizer.encode(text, add_special_tokens=False)])
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=60, do_sample=False, pad_token_id=tokenizer.eos_token_id)
    said = tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
    edges, sentence = re.search(r"start (\d+), end (\d+)", said), re.search(r'"trend":"([^"]*)', said)
    if not (edges and sentence):
        counts["unparsed"] += 1
        continue
    delta = int(edges[2]) - int(edges[1])
    own = "increasing" if delta > TREND_DELTA else "decreasing" if delta < -TREND_DELTA else "flat"
    counts[example["features"]["trend"], own, read_trend(sentence[1])] += 1
print("computed | its reading | its sentence: count")
for key, n in sorted(counts.items(), key=str):
    print(key, n)
follows = sum(n for k, n in counts.items() if isinstance(k, tuple) and k[1] == k[2])
print(f"the sentence follows the reading on {follows} of {sum(counts.values())}")
