"""The untrained base's loss on a run's first training examples, per way of starting the level rows (issue 15: the
words init, through SmolLM2's tied output layer). Usage: .venv/bin/python docs/training/words-init-start/start_loss.py
runs/train21 [N]  (≈ 1 min; needs a levels run's sft/train.jsonl)."""

import json
import sys
from pathlib import Path

import torch
import transformers

from core import level_tokens
from training.finetune import tokenize_example

BASE = "models/smollm2-135m-instruct"


def mean_loss(examples: list[dict], init: str, shift=None, share: float = 0.5) -> float:
    """Mean answer loss after prepare_model_for_levels; `shift` re-centres the words' rows (None: as the code does)."""
    tokenizer = transformers.AutoTokenizer.from_pretrained(BASE)
    model = transformers.AutoModelForCausalLM.from_pretrained(BASE, dtype=torch.float32)
    plain = level_tokens.initial_level_embeddings

    def variant(digits, spread=1.0, extremes=None, share_=0.5):
        return plain(digits, spread, extremes if extremes is None or shift is None else shift(extremes), share)

    level_tokens.initial_level_embeddings = variant
    try:
        level_tokens.prepare_model_for_levels(model, tokenizer, "levels", init)
    finally:
        level_tokens.initial_level_embeddings = plain
    with torch.no_grad():
        losses = [model(input_ids=torch.tensor([ids]), labels=torch.tensor([labels])).loss.item()
                  for ids, labels, _ in (tokenize_example(tokenizer, e) for e in examples)]
    return sum(losses) / len(losses)


def main() -> None:
    run, n = Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 8
    examples = [json.loads(line) for _, line in zip(range(n), (run / "sft" / "train.jsonl").open())]
    mean = transformers.AutoModelForCausalLM.from_pretrained(BASE).get_input_embeddings().weight.detach().float().mean(0)
    uncentred = lambda words: words + mean
    print(f"digits                 {mean_loss(examples, 'digits'):.2f}")
    print(f"words uncentred, 1.0   {mean_loss(examples, 'words', uncentred, 1.0):.2f}")
    print(f"words centred, 1.0     {mean_loss(examples, 'words', lambda w: w, 1.0):.2f}")
    print(f"words centred, 0.5     {mean_loss(examples, 'words'):.2f}  (the init)")


if __name__ == "__main__":
    main()
