"""Which starting rows for levels 00 and 99 give the untrained base a head that already looks at them where the answer
places the min and the max? (issue 15: the max's lookup grows from such a seed; train28 showed it follows the row.)
Per variant: at the decision token of each extreme (teacher-forced, training.probe.decision_prefix), the head with the
largest mean attention to that extreme's token, and the same head's attention to the other extreme's token.
Usage: .venv/bin/python docs/training/swapped-init/seed_screen.py runs/train28 [PER_CLASS]  (≈ 3 min)."""

import json
import sys
from collections import Counter
from pathlib import Path

import torch
import transformers

from core import level_tokens
from training.probe import decision_prefix

BASE = "models/smollm2-135m-instruct"


def variants(rows: torch.Tensor, words: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """(row of level 00, row of level 99) per way of starting them, from the digits init's rows."""
    apart = rows[99] - rows[0]
    norm = rows[1:99].norm(dim=1).mean()
    minimum, maximum = (w / w.norm() * norm for w in words)
    return {
        "digits": (rows[0], rows[99]),
        "swapped": (rows[99], rows[0]),
        "both 99": (rows[99], rows[99]),
        "99 + words": (rows[99] + 0.5 * minimum, rows[99] + 0.5 * maximum),
        "88-pushed / 99": (rows[88] + 0.5 * apart, rows[99]),
        "99 / 88-pushed": (rows[99], rows[88] + 0.5 * apart),
        "00 unpushed / 99": (rows[0] + 0.5 * apart, rows[99]),
    }


def main() -> None:
    run, per_class = Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 6
    examples = [json.loads(line) for line in (run / "sft" / "test.jsonl").open()]
    examples = [e for e in examples if e["teacher"] == "rules"]
    tokenizer = transformers.AutoTokenizer.from_pretrained(BASE)
    model = transformers.AutoModelForCausalLM.from_pretrained(BASE, dtype=torch.float32,
                                                              attn_implementation="eager").eval()
    ids = level_tokens.prepare_model_for_levels(model, tokenizer)
    weight = model.get_input_embeddings().weight
    rows = weight[ids].detach().clone()
    vocab_mean = weight[: ids[0]].detach().mean(0)
    words = weight[level_tokens.extreme_word_ids(tokenizer)].detach() - vocab_mean
    chosen = {}
    for which, label_level in (("max", 99), ("min", 0)):
        taken, chosen[which] = Counter(), []
        for e in examples:
            prefix = decision_prefix(e["target"], which)
            if prefix is None or taken[e["features"][which]] >= per_class:
                continue
            taken[e["features"][which]] += 1
            prompt = tokenizer.apply_chat_template(e["messages"], tokenize=False, add_generation_prompt=True)
            chosen[which].append(tokenizer.encode(prompt + prefix, add_special_tokens=False))
    print(f"{'variant':18} | max: best head → L99 (its → L00) | min: best head → L00 (its → L99)")
    for name, (low, high) in variants(rows, words).items():
        with torch.no_grad():
            weight[ids[0]], weight[ids[99]] = low, high
        cells = []
        for which, own, other in (("max", ids[99], ids[0]), ("min", ids[0], ids[99])):
            to_own, to_other = [], []
            for seq in chosen[which]:
                with torch.no_grad():
                    att = torch.stack(model(torch.tensor([seq]), output_attentions=True).attentions)[:, 0, :, -1]
                to_own.append(att[:, :, seq.index(own)])
                to_other.append(att[:, :, seq.index(other)])
            own_mean, other_mean = torch.stack(to_own).mean(0), torch.stack(to_other).mean(0)
            layer, head = divmod(int(own_mean.argmax()), own_mean.shape[1])
            cells.append(f"{own_mean[layer, head]:.3f} L{layer}H{head} ({other_mean[layer, head]:.3f})")
        print(f"{name:18} | {cells[0]:32} | {cells[1]}")


if __name__ == "__main__":
    main()
