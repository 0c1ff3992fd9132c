"""One token per level (prompt style "levels"): the 100 added tokens, how a tokenizer and a model get them, and the
check that a served student has them. Training, merging and serving all call these, so they agree on the ids."""

from __future__ import annotations

from collections.abc import Sequence

LEVEL_TOKENS = tuple(f"<L{level:02d}>" for level in range(100))


class LevelTokensError(ValueError):
    """A tokenizer or a student that lacks the level tokens its prompt style needs; the message says what to do."""


def level_text(tokens: Sequence[str]) -> str:
    """Two-digit levels ('07') as level tokens run together ('<L07>'): one token each, no separator."""
    return "".join(f"<L{token}>" for token in tokens)


def level_token_ids(tokenizer) -> list[int]:
    """The id of each level token, in level order; refuses a tokenizer in which any of them is not one token."""
    ids = []
    for text in LEVEL_TOKENS:
        encoded = tokenizer.encode(text, add_special_tokens=False)
        if len(encoded) != 1:
            raise LevelTokensError(
                f"{text!r} is {len(encoded)} tokens for this tokenizer, not one: a student of prompt style 'levels' "
                "needs the tokenizer it was trained with (saved beside its merged model by training.merge)"
            )
        ids.append(encoded[0])
    return ids


def add_level_tokens(tokenizer) -> list[int]:
    """Add the level tokens to a tokenizer (a no-op where they are there) and return their ids."""
    tokenizer.add_tokens([t for t in LEVEL_TOKENS if t not in tokenizer.get_vocab()])
    return level_token_ids(tokenizer)


def digit_ids(tokenizer) -> list[int]:
    """The tokenizer's own ids of the digits 0–9 (each one token in SmolLM2's and Qwen2's vocabularies)."""
    ids = [tokenizer.encode(str(d), add_special_tokens=False) for d in range(10)]
    if any(len(i) != 1 for i in ids):
        raise LevelTokensError("this tokenizer does not give each digit one token; level embeddings start from digits")
    return [i[0] for i in ids]


def initial_level_embeddings(digits, spread: float = 1.0):
    """Starting rows for levels 00–99: the tens digit's embedding plus half the units digit's (so neighbours differ
    as '07' differs from '08'), and the two extremes pushed apart along their difference, so that level 00 and
    level 99 (the global min and max, after rescaling) are unmistakable."""
    import torch

    digits = digits.float()
    tens, units = torch.arange(100) // 10, torch.arange(100) % 10
    rows = digits[tens] + 0.5 * digits[units]
    rows = rows / rows.norm(dim=1, keepdim=True) * digits.norm(dim=1).mean()
    apart = rows[99] - rows[0]
    rows[99] += spread * apart
    rows[0] -= spread * apart
    return rows


def prepare_model_for_levels(model, tokenizer) -> list[int]:
    """Add the tokens, grow the embedding matrix only where the ids go past it (Qwen2.5 has spare rows beyond its
    151,665 ids; SmolLM2 has none) and initialise the level rows; a tied output layer shares them."""
    import torch

    ids = add_level_tokens(tokenizer)
    if max(ids) >= model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(max(ids) + 1, pad_to_multiple_of=64, mean_resizing=False)
    weight = model.get_input_embeddings().weight
    with torch.no_grad():
        rows = initial_level_embeddings(weight[digit_ids(tokenizer)])
        weight[ids] = rows.to(weight.dtype)
        output = model.get_output_embeddings()
        if output is not None and output.weight.data_ptr() != weight.data_ptr():
            output.weight[ids] = rows.to(output.weight.dtype)
    return ids


def check_student(manifest: dict | None, tokenizer) -> None:
    """Refuse a levels student whose manifest or tokenizer lacks the tokens (or whose ids moved) with a clear message."""
    if not manifest or manifest.get("prompt_style") != "levels":
        return
    recorded = manifest.get("level_token_ids")
    if not recorded:
        raise LevelTokensError("the student's manifest says prompt style 'levels' but records no level_token_ids: "
                               "re-ship it with training.merge, which writes them")
    if level_token_ids(tokenizer) != list(recorded):
        raise LevelTokensError("the tokenizer's level token ids differ from those the student was trained with: "
                               "serve the tokenizer saved with the student (its merged model directory)")
