"""Greedy decoding vs the zone's total probability at the place phrase of the max/min (teacher-forced prefix)."""
import json, sys, random, collections
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
# run from the project root: PYTHONPATH=. .venv/bin/python docs/training/pairs/split_decoding.py runs/train15/merged runs/train15/sft/test.jsonl 15
from training.probe import decision_prefix, EXTREMES
torch.set_num_threads(1)
model_dir, sft, per_class = sys.argv[1], sys.argv[2], int(sys.argv[3])
tok = AutoTokenizer.from_pretrained(model_dir)
model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
rows = [json.loads(l) for l in open(sft)]
rows = [r for r in rows if r["teacher"] == "rules" and "asked" not in r]
random.Random(1).shuffle(rows)
for which, (_, places, _) in EXTREMES.items():
    greedy, marginal, taken = collections.Counter(), collections.Counter(), collections.Counter()
    firsts = collections.Counter()
    for r in rows:
        label = r["features"][which]; prefix = decision_prefix(r["target"], which)
        if prefix is None or taken[label] >= per_class: continue
        taken[label] += 1
        ids = tok.encode(tok.apply_chat_template(r["messages"], tokenize=False, add_generation_prompt=True) + prefix, add_special_tokens=False)
        total = {}
        for zone, phrases in places.items():
            p = 0.0
            for ph in phrases:
                tail = tok.encode(" " + ph, add_special_tokens=False)
                with torch.no_grad():
                    lp = torch.log_softmax(model(torch.tensor([ids + tail])).logits[0, len(ids)-1:-1].float(), -1)
                p += float(lp[torch.arange(len(tail)), torch.tensor(tail)].sum().exp())
            total[zone] = p
        marginal[label, max(total, key=total.get)] += 1
        out = model.generate(torch.tensor([ids]), max_new_tokens=4, do_sample=False)
        text = tok.decode(out[0, len(ids):])
        g = next((z for z in ("beginning", "middle", "end") if z in text), "?")
        greedy[label, g] += 1
        firsts[label, text.split()[0] if text.split() else "?"] += 1
    print(which)
    for z in ("beginning", "middle", "end"):
        print(f"  {z}: greedy {greedy[z, z]}/{taken[z]}  by zone probability {marginal[z, z]}/{taken[z]}")
    print("  first word generated:", dict(firsts))
