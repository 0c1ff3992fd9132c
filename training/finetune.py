"""Stage 6 — LoRA fine-tune (peft), loss on answer tokens only, checkpoints and resume.

    python -m training.finetune --run runs/smollm2 --config training/configs/smollm2-135m.yaml [--set epochs=2 lr=1e-4]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from core.facts import CHECKED_FIELDS, label_word_spans
from core.level_tokens import prepare_model_for_levels, uses_added_tokens
from core.schema import SCRATCHPAD
from service.adapters import missing_files
from service.cpu import cpu_dtype, torch_dtype_name
from training.rundir import RunDir


@dataclass
class FinetuneConfig:
    base: str = "models/smollm2-135m-instruct"
    prompt_style: str = "compact"
    rank: int = 16
    alpha: int = 32
    dropout: float = 0.0  # LoRA dropout draws a mask per adapted layer: a third of a CPU step at 0.05
    target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )
    first_layer: int = 0  # LoRA on this decoder layer and above; backward stops there (layers 15+: 35% faster CPU step)
    lr: float = 2e-4
    warmup_steps: int = 10
    epochs: float = 1.0
    max_steps: int | None = None
    batch_size: int = 4
    grad_accum: int = 1
    max_examples: int | None = None
    dtype: str = "auto"  # auto: bf16, or float32 on a CPU without native bf16 (service.cpu; 19x faster step there)
    threads: int | None = None
    compile: bool = False  # torch.compile the decoder: ≈2× faster CPU steps after a one-off compile
    seed: int = 0
    label_weight: float = 1.0  # loss weight of the answer tokens that state a label (facts.label_word_spans); 1: plain
    label_names: list[str] | None = None  # the checked names whose label words weigh label_weight (e.g. [max]); None: all
    reading_weight: float = 1.0  # loss weight of the digits a reading turn answers (training.dataset.reading_turns)
    freeze_level_rows: bool = False  # the added rows stay as level_init starts them (still saved): with first_layer, backward stops there
    level_init: str = "digits"  # level rows start on the digits, also near "minimum"/"maximum" (words), 00/99 traded (swapped), both on 99 parted (high), or high on a number line (line)
    checkpoint_every: int = 50
    log_every: int = 5


def load_config(path: str | None, overrides: list[str]) -> FinetuneConfig:
    """A preset YAML, then key=value overrides from the command line."""
    import yaml

    values = yaml.safe_load(Path(path).read_text()) if path else {}
    values = values.get("finetune", values)
    types = {f.name: f.type for f in fields(FinetuneConfig)}
    for item in overrides:
        key, _, raw = item.partition("=")
        if key not in types:
            raise SystemExit(f"unknown setting {key!r}; known: {', '.join(sorted(types))}")
        values[key] = yaml.safe_load(raw)
        if str(types[key]) in ("float", "float | None") and isinstance(values[key], str):
            values[key] = float(values[key])  # YAML reads 1e-4 (no dot) as a string
    unknown = sorted(set(values.get("label_names") or ()) - set(CHECKED_FIELDS))
    if unknown:
        raise SystemExit(f"unknown label_names {unknown}; known: {', '.join(CHECKED_FIELDS)}")
    return FinetuneConfig(**values)


def adapted_layers(first_layer: int, num_layers: int) -> list[int] | None:
    """The decoder layers that get LoRA weights; None means all."""
    if not 0 <= first_layer < num_layers:
        raise SystemExit(f"first_layer must be between 0 and {num_layers - 1} for this {num_layers}-layer base")
    return list(range(first_layer, num_layers)) if first_layer else None


Example = tuple[list[int], list[int], list[float]]  # input ids, labels (-100 off the answer), loss weights


def tokenize_example(tokenizer, example: dict, label_weight: float = 1.0, reading_weight: float = 1.0,
                     label_names: list[str] | None = None) -> Example:
    """Prompt through the base's chat template, then the target and EOS; labels only on the answer, where the tokens
    that state a label (of `label_names`, or any) weigh `label_weight` and the template's words 1. An example with a
    reading turn goes on through the template with each of its questions (no labels) and answers (labels; digits
    weigh `reading_weight`, as do those of a scratchpad)."""
    prompt_text = tokenizer.apply_chat_template(example["messages"], tokenize=False, add_generation_prompt=True)
    prompt_ids = tokenizer.encode(prompt_text, add_special_tokens=False)
    answer = tokenizer(example["target"], add_special_tokens=False, return_offsets_mapping=True)
    spans = label_word_spans(example["target"], tuple(json.loads(example["target"])), label_names)
    weights = [label_weight if any(start < end_ and end > start_ for start_, end_ in spans) else 1.0
               for start, end in answer["offset_mapping"]]
    pad_start, pad_end = scratchpad_span(example["target"])
    weights = [reading_weight if pad_start <= start < pad_end and example["target"][start:end].strip().isdigit() else w
               for w, (start, end) in zip(weights, answer["offset_mapping"])]
    answer_ids = list(answer["input_ids"]) + [tokenizer.eos_token_id]
    ids, labels = prompt_ids + answer_ids, [-100] * len(prompt_ids) + answer_ids
    weights = [0.0] * len(prompt_ids) + weights + [1.0]
    turns = example.get("reading", [])
    history = [*example["messages"], {"role": "assistant", "content": example["target"]}]
    head = prompt_text + example["target"]
    for turn in [turns] if isinstance(turns, dict) else turns:
        between, reading_ids, reading_weights, head = reading_tokens(tokenizer, history, head, turn, reading_weight)
        ids += between + reading_ids
        labels += [-100] * len(between) + reading_ids
        weights += [0.0] * len(between) + reading_weights
        history += [{"role": "user", "content": turn["question"]}, {"role": "assistant", "content": turn["answer"]}]
    return ids, labels, weights


def scratchpad_span(target: str) -> tuple[int, int]:
    """Character span of the scratchpad's value in a target that opens with one, else (0, 0)."""
    opening = f'{{"{SCRATCHPAD}":"'
    return (len(opening), target.index('"', len(opening))) if target.startswith(opening) else (0, 0)


def reading_tokens(tokenizer, history: list[dict], head: str, turn: dict,
                   weight: float) -> tuple[list[int], list[int], list[float], str]:
    """For one reading turn after the conversation `history` (rendered up to its last answer as `head`): the
    template's tokens between that answer's EOS and this turn's answer (its user turn, the assistant header), the
    answer's ids with EOS, their loss weights (digits `weight`, the rest 1), and the new head."""
    full = tokenizer.apply_chat_template([*history, {"role": "user", "content": turn["question"]}], tokenize=False,
                                         add_generation_prompt=True)
    after = tokenizer.encode(full[len(head):], add_special_tokens=False) if full.startswith(head) else []
    if not after or after[0] != tokenizer.eos_token_id:
        raise ValueError("this chat template does not close an answer with the EOS token; reading turns need it")
    text = turn["answer"]
    answer = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    weights = [weight if text[start:end].strip().isdigit() else 1.0 for start, end in answer["offset_mapping"]]
    return after[1:], list(answer["input_ids"]) + [tokenizer.eos_token_id], weights + [1.0], full + text


def batches(examples: list[Example], size: int, pad_id: int, rng: random.Random,
            width: int | None = None, drop_last: bool = False):
    """Shuffled, left-padded batches as tensors (every answer ends at the last column): ids, labels, weights, mask.

    A fixed width and full batches only keep one tensor shape, so a compiled model never recompiles.
    """
    import torch

    order = list(range(len(examples)))
    rng.shuffle(order)
    stop = len(order) - len(order) % size if drop_last and len(order) >= size else len(order)
    for start in range(0, stop, size):
        chunk = [examples[i] for i in order[start : start + size]]
        columns = width or max(len(ids) for ids, _, _ in chunk)
        ids = torch.full((len(chunk), columns), pad_id)
        labels = torch.full((len(chunk), columns), -100)
        weights = torch.zeros((len(chunk), columns))
        mask = torch.zeros((len(chunk), columns), dtype=torch.long)
        for row, (x, y, w) in enumerate(chunk):
            ids[row, columns - len(x) :] = torch.tensor(x)
            labels[row, columns - len(y) :] = torch.tensor(y)
            weights[row, columns - len(w) :] = torch.tensor(w)
            mask[row, columns - len(x) :] = 1
        yield ids, labels, weights, mask


def answer_loss(model, ids, labels, weights, mask):
    """Weighted mean cross-entropy over answer tokens (all weights 1: the plain mean), with logits computed only
    where an answer token is predicted."""
    import torch

    answer_columns = (labels != -100).any(dim=0).nonzero()
    keep = ids.shape[1] - int(answer_columns.min()) + 1 if answer_columns.numel() else 2
    position_ids = (mask.cumsum(dim=1) - 1).clamp(min=0)
    logits = model(input_ids=ids, attention_mask=mask, position_ids=position_ids, logits_to_keep=keep).logits
    targets, token_weights = labels[:, -keep + 1 :].reshape(-1), weights[:, -keep + 1 :].reshape(-1)
    losses = torch.nn.functional.cross_entropy(
        logits[:, :-1].float().reshape(-1, logits.shape[-1]), targets, ignore_index=-100, reduction="none")
    token_weights = token_weights * (targets != -100)
    return (losses * token_weights).sum() / token_weights.sum().clamp(min=1e-6)


def evaluate_loss(model, examples, config: FinetuneConfig, pad_id: int, width: int | None) -> float:
    """Mean answer loss; grad mode stays on so that a compiled model reuses its training graph."""
    total, count = 0.0, 0
    for ids, labels, weights, mask in batches(examples, config.batch_size, pad_id, random.Random(0), width, drop_last=True):
        total += float(answer_loss(model, ids, labels, weights, mask).detach()) * ids.shape[0]
        count += ids.shape[0]
    return total / max(1, count)


def padded_width(examples: list[Example], multiple: int = 8) -> int:
    """The longest example rounded up: one shape for every batch (to 8, not 32: levels examples of 222–263 tokens
    padded to 288 spent ≈ 8% of every step on padding)."""
    longest = max(len(ids) for ids, _, _ in examples)
    return -(-longest // multiple) * multiple


NOT_TRAINING = ("threads", "checkpoint_every", "log_every")  # settings that change how, not what, is trained


def config_hash(config: FinetuneConfig) -> str:
    """What a checkpoint was trained with: a resume under another config would record one it wasn't trained with."""
    values = {k: v for k, v in asdict(config).items() if k not in NOT_TRAINING}
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:16]


def resumable_state(checkpoint: Path, identity: dict, fresh: bool) -> dict | None:
    """The checkpoint's state when it may be resumed: None when there is none or `fresh`; refuses (SystemExit) a
    checkpoint of another config or other data."""
    if fresh or not (checkpoint / "state.json").is_file() or bool(missing_files(checkpoint)):
        return None
    state = json.loads((checkpoint / "state.json").read_text())
    changed = [name for name in ("config", "data") if state.get(name) != identity[name]]
    if changed:
        raise SystemExit(f"{checkpoint} was trained with another {' and '.join(changed)} than this run now has; "
                         "pass --fresh to start over (the checkpoint is then discarded)")
    return {"epoch": 0, "batches_done": 0, **state}


def finetune(run: RunDir, config: FinetuneConfig, fresh: bool = False) -> dict:
    """Train a LoRA adapter into run/adapter; resumes from run/checkpoints/last (same config and data) at the exact
    batch it stopped before."""
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model
    from tqdm.auto import tqdm
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    tokenizer = AutoTokenizer.from_pretrained(config.base)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    dataset_style = run.manifest()["stages"].get("dataset", {}).get("prompt_style")
    if dataset_style and dataset_style != config.prompt_style:
        raise SystemExit(f"the dataset was built with prompt style {dataset_style!r} but the config says "
                         f"{config.prompt_style!r}; rebuild it or pass --set prompt_style={dataset_style}")
    dtype = cpu_dtype(config.dtype, on_cpu=not torch.cuda.is_available())
    model = AutoModelForCausalLM.from_pretrained(config.base, dtype=getattr(torch, torch_dtype_name(dtype)))
    level_ids = (prepare_model_for_levels(model, tokenizer, config.prompt_style, config.level_init)
                 if uses_added_tokens(config.prompt_style) else None)
    train = [tokenize_example(tokenizer, e, config.label_weight, config.reading_weight, config.label_names)
             for e in run.read_jsonl("sft/train.jsonl")][: config.max_examples]
    validation = [tokenize_example(tokenizer, e) for e in run.read_jsonl("sft/validation.jsonl")][:64]  # unweighted
    checkpoint = run.path / "checkpoints" / "last"
    identity = {"config": config_hash(config), "data": run.file_hash("sft/train.jsonl")}
    state = resumable_state(checkpoint, identity, fresh)
    if state is not None:
        model = PeftModel.from_pretrained(model, checkpoint, is_trainable=True)
        print(f"resuming from step {state['step']} (epoch {state['epoch']}, batch {state['batches_done']})",
              file=sys.stderr)
    else:
        shutil.rmtree(checkpoint, ignore_errors=True)
        state = {"step": 0, "losses": [], "epoch": 0, "batches_done": 0, **identity}
        lora = LoraConfig(r=config.rank, lora_alpha=config.alpha, lora_dropout=config.dropout,
                          target_modules=config.target_modules, task_type="CAUSAL_LM",
                          layers_to_transform=adapted_layers(config.first_layer, model.config.num_hidden_layers),
                          # the level rows train as themselves; a tied output layer shares them (peft ties them)
                          trainable_token_indices={"embed_tokens": level_ids} if level_ids else None)
        model = get_peft_model(model, lora)
    if config.freeze_level_rows:
        freeze_trainable_tokens(model)
    model.train()
    width = None
    if config.compile:
        width = padded_width(train + validation)
        model.get_base_model().model.compile(dynamic=False)
    steps_per_epoch = max(1, len(train) // (config.batch_size * config.grad_accum)) if config.compile else \
        math.ceil(len(train) / (config.batch_size * config.grad_accum))
    total_steps = config.max_steps or max(1, round(steps_per_epoch * config.epochs))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.lr)
    if state["step"] and (checkpoint / "optimizer.pt").exists():
        optimizer.load_state_dict(torch.load(checkpoint / "optimizer.pt"))

    def lr_at(step: int) -> float:
        if step < config.warmup_steps:
            return config.lr * (step + 1) / config.warmup_steps
        progress = (step - config.warmup_steps) / max(1, total_steps - config.warmup_steps)
        return config.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    started = time.monotonic()
    bar = tqdm(total=total_steps, initial=state["step"], desc="finetune", file=sys.stderr, dynamic_ncols=True)
    while state["step"] < total_steps:
        epoch, skip = state["epoch"], state["batches_done"]  # after a resume: the exact batch it stopped before
        epoch_rng = random.Random(config.seed + epoch)
        accumulated = 0
        for index, (ids, labels, weights, mask) in enumerate(
                batches(train, config.batch_size, pad_id, epoch_rng, width, drop_last=config.compile)):
            if index < skip:
                continue
            state["batches_done"] = index + 1
            loss = answer_loss(model, ids, labels, weights, mask) / config.grad_accum
            loss.backward()
            accumulated += 1
            if accumulated % config.grad_accum:
                continue
            for group in optimizer.param_groups:
                group["lr"] = lr_at(state["step"])
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad()
            state["step"] += 1
            state["losses"].append(round(float(loss.detach()) * config.grad_accum, 4))
            bar.update(1)
            bar.set_postfix(loss=f"{state['losses'][-1]:.3f}", epoch=state["epoch"])
            if state["step"] % config.checkpoint_every == 0:
                save_checkpoint(model, optimizer, state, checkpoint)
            if state["step"] >= total_steps:
                break
        else:
            state["epoch"], state["batches_done"] = epoch + 1, 0
    bar.close()
    validation_loss = evaluate_loss(model, validation, config, pad_id, width) if validation else None
    adapter_dir = run.path / "adapter"
    model.save_pretrained(adapter_dir, save_embedding_layers=False)  # the level rows only, not the whole matrix
    tokenizer.save_pretrained(adapter_dir)
    result = {"steps": state["step"], "train_examples": len(train), "final_loss": state["losses"][-1] if state["losses"] else None,
              "validation_loss": validation_loss, "seconds": round(time.monotonic() - started, 1),
              "dtype": str(model.dtype).removeprefix("torch."), "level_token_ids": level_ids}
    (run.path / "train_log.json").write_text(json.dumps({"losses": state["losses"], **result}))
    return result


def freeze_trainable_tokens(model) -> None:
    """Stop the added rows' training; peft still saves them, so the adapter carries its tokens as before."""
    for name, parameter in model.named_parameters():
        if "trainable_tokens_delta" in name:
            parameter.requires_grad_(False)


def save_checkpoint(model, optimizer, state: dict, path: Path) -> None:
    """Adapter, optimizer and step, written to a temp dir then swapped in."""
    import torch

    partial = path.with_name(path.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial, save_embedding_layers=False)
    torch.save(optimizer.state_dict(), partial / "optimizer.pt")
    (partial / "state.json").write_text(json.dumps(state))
    shutil.rmtree(path, ignore_errors=True)
    partial.rename(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True)
    parser.add_argument("--config", default="training/configs/smollm2-135m.yaml")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    parser.add_argument("--fresh", action="store_true", help="discard a checkpoint and start from step 0")
    args = parser.parse_args(argv)
    config = load_config(args.config, args.set)
    run = RunDir(args.run)
    result = finetune(run, config, fresh=args.fresh)
    run.record("finetune", {"config": asdict(config), **result})
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
