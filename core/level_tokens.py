"""One token per level: the added tokens of prompt styles "levels" (`<L07>`, 100 tokens), "zones" (`<B07>`,
`<M07>`, `<E07>`: the level and the zone of the series it lies in, as the extrema rule draws them; 300 tokens) and
"marked" (compact's digits, with only the extremes 00 and 99 as `<L00>`/`<L99>`; 2 tokens), how a tokenizer and a
model get them, and the check that a served student has them. Training, merging and serving all call
these, so they agree on the ids."""

from __future__ import annotations

from collections.abc import Sequence

from core.facts import POSITIONS, position_label

LEVEL_TOKENS = tuple(f"<L{level:02d}>" for level in range(100))
ZONE_LETTERS = {"beginning": "B", "middle": "M", "end": "E"}
ZONE_TOKENS = tuple(f"<{ZONE_LETTERS[zone]}{level:02d}>" for zone in POSITIONS for level in range(100))
MARKED_LEVELS = ("00", "99")  # after min–max rescaling, the global min and max
ADDED_TOKENS = {"levels": LEVEL_TOKENS, "zones": ZONE_TOKENS, "marked": tuple(LEVEL_TOKENS[int(level)] for level in MARKED_LEVELS)}
# How the level rows start: on the digits only, or with levels 00 and 99 also near the answer's words for them, so
# that a head matching "minimum" in the answer has a row in the prompt to find (the max's head grew from a weak one;
# the min had none, docs/training.md); or, as a diagnostic, with the rows of levels 00 and 99 swapped (level 00
# starting where level 99 does on the digits), to tell whether the max's head grows from its row or from its task.
# The lookup follows the row (train28: swapped, the min was found on .97 of real series and the max lost it), so
# 'high' starts both extremes on level 99's row, parted by a seeded random direction (HIGH_SPLIT of the digits' norm).
# On the digits alone every level row is nearly every other (cosine .96 at one level apart, .83 at fifty), and 671
# steps move them by 14% (train29): the noise, a matter of how far neighbours lie apart, is barely visible. 'line' is
# 'high' with the levels also laid on a number line: a seeded direction off the digits, LINE_SPAN of their norm from
# level 00 to 99, so that how far two levels lie apart is how far their rows do.
LEVEL_INITS = ("digits", "words", "swapped", "high", "line")
HIGH_SPLIT = 0.5
LINE_SPAN = 2.0
EXTREME_WORDS = ("minimum", "maximum")


def uses_added_tokens(style: str | None) -> bool:
    """Whether a prompt style writes levels as added tokens (and so needs them in the tokenizer and the model)."""
    return style in ADDED_TOKENS


class LevelTokensError(ValueError):
    """A tokenizer or a student that lacks the level tokens its prompt style needs; the message says what to do."""


def level_text(tokens: Sequence[str]) -> str:
    """Two-digit levels ('07') as level tokens run together ('<L07>'): one token each, no separator."""
    return "".join(f"<L{token}>" for token in tokens)


def marked_text(tokens: Sequence[str]) -> str:
    """Two-digit levels space-separated as in the compact prompt, but levels 00 and 99 as '<L00>'/'<L99>' (one token
    each): the digits that read the noise (train25) and one unmistakable token for each extreme (train29–31)."""
    return " ".join(f"<L{token}>" if token in MARKED_LEVELS else token for token in tokens)


def zone_text(tokens: Sequence[str]) -> str:
    """Two-digit levels as zone tokens run together: '<B07>' in the series' beginning, '<M07>' in its middle, '<E07>'
    at its end, the zones of facts.position_label (so the zone of the max is in the token that holds level 99)."""
    return "".join(f"<{ZONE_LETTERS[position_label(i, len(tokens))]}{token}>" for i, token in enumerate(tokens))


def level_token_ids(tokenizer, style: str = "levels") -> list[int]:
    """The id of each added token of a style, in order; refuses a tokenizer in which any of them is not one token."""
    ids = []
    for text in ADDED_TOKENS[style]:
        encoded = tokenizer.encode(text, add_special_tokens=False)
        if len(encoded) != 1:
            raise LevelTokensError(
                f"{text!r} is {len(encoded)} tokens for this tokenizer, not one: a student of prompt style {style!r} "
                "needs the tokenizer it was trained with (saved beside its merged model by training.merge)"
            )
        ids.append(encoded[0])
    return ids


def add_level_tokens(tokenizer, style: str = "levels") -> list[int]:
    """Add a style's tokens to a tokenizer (a no-op where they are there) and return their ids."""
    tokenizer.add_tokens([t for t in ADDED_TOKENS[style] if t not in tokenizer.get_vocab()])
    return level_token_ids(tokenizer, style)


def zone_word_ids(tokenizer) -> list[int]:
    """The first token of ' beginning', ' middle' and ' end': the words the zone tokens start near."""
    return [tokenizer.encode(f" {zone}", add_special_tokens=False)[0] for zone in POSITIONS]


def digit_ids(tokenizer) -> list[int]:
    """The tokenizer's own ids of the digits 0–9 (each one token in SmolLM2's and Qwen2's vocabularies)."""
    ids = [tokenizer.encode(str(d), add_special_tokens=False) for d in range(10)]
    if any(len(i) != 1 for i in ids):
        raise LevelTokensError("this tokenizer does not give each digit one token; level embeddings start from digits")
    return [i[0] for i in ids]


def initial_level_embeddings(digits, spread: float = 1.0, extremes=None, share: float = 0.5):
    """Starting rows for levels 00–99: the tens digit's embedding plus half the units digit's (so neighbours differ
    as '07' differs from '08'), and the two extremes pushed apart along their difference, so that level 00 and
    level 99 (the global min and max, after rescaling) are unmistakable. With `extremes` (the rows of the words for
    the min and the max, centred), level 00 and level 99 also carry `share` of those words, at the digits' norm."""
    import torch

    digits = digits.float()
    tens, units = torch.arange(100) // 10, torch.arange(100) % 10
    rows = digits[tens] + 0.5 * digits[units]
    norm = digits.norm(dim=1).mean()
    rows = rows / rows.norm(dim=1, keepdim=True) * norm
    apart = rows[99] - rows[0]
    rows[99] += spread * apart
    rows[0] -= spread * apart
    if extremes is not None:
        words = extremes.float() / extremes.float().norm(dim=1, keepdim=True) * norm
        rows[0] += share * words[0]
        rows[99] += share * words[1]
    return rows


def initial_zone_embeddings(digits, zone_words, share: float = 0.5):
    """Starting rows for the zone tokens: each zone's 100 level rows (as initial_level_embeddings) plus `share` of
    that zone's word embedding, rescaled to the digits' norm: level order within a zone, the zone visible in every
    token (a head that finds level 99 reads the max's zone from the token itself, not from its position)."""
    import torch

    levels = initial_level_embeddings(digits)
    zone_words = zone_words.float()
    zone_words = zone_words / zone_words.norm(dim=1, keepdim=True) * digits.float().norm(dim=1).mean()
    rows = torch.cat([levels + share * word for word in zone_words])
    return rows / rows.norm(dim=1, keepdim=True) * levels.norm(dim=1, keepdim=True).repeat(len(zone_words), 1)


def parted(row, along, size: float, seed: int = 0):
    """Two rows that start from one: `row` plus and minus a seeded random direction (orthogonal to `along`, so both
    keep `row`'s place along it) of length `size`."""
    import torch

    direction = torch.randn(row.shape[0], generator=torch.Generator().manual_seed(seed))
    along = along.float() / along.float().norm()
    direction -= (direction @ along) * along
    direction = direction / direction.norm() * size
    return row + direction.to(row.dtype), row - direction.to(row.dtype)


def on_a_line(rows, off, span: float, seed: int = 1):
    """`rows` (one per level, in order) moved along a seeded direction orthogonal to the rows of `off`, evenly from
    −span/2 (level 00) to +span/2 (the last level)."""
    import torch

    direction = torch.randn(rows.shape[1], generator=torch.Generator().manual_seed(seed))
    basis, _ = torch.linalg.qr(off.float().T)
    direction -= basis @ (basis.T @ direction)
    direction = direction / direction.norm()
    place = torch.linspace(-0.5, 0.5, rows.shape[0]).unsqueeze(1)
    return rows + (span * place * direction).to(rows.dtype)


def extreme_word_ids(tokenizer) -> list[int]:
    """The first token of ' minimum' and ' maximum': the words the answer uses where it places level 00 and 99."""
    return [tokenizer.encode(f" {word}", add_special_tokens=False)[0] for word in EXTREME_WORDS]


def prepare_model_for_levels(model, tokenizer, style: str = "levels", init: str = "digits") -> list[int]:
    """Add the style's tokens, grow the embedding matrix only where the ids go past it (Qwen2.5 has spare rows beyond
    its 151,665 ids, enough for 'levels' but not for 'zones'; SmolLM2 has none) and initialise the rows (init
    'words': levels 00 and 99 also start near the words 'minimum' and 'maximum'; 'swapped': their rows traded; 'high':
    both on level 99's row, parted; 'line': 'high' on a number line; style 'marked' takes rows 00 and 99 of these);
    a tied output layer shares them."""
    if init not in LEVEL_INITS:
        raise LevelTokensError(f"unknown level init {init!r}; known: {', '.join(LEVEL_INITS)}")
    if init != "digits" and style == "zones":
        raise LevelTokensError(f"level init {init!r} places the rows of levels 00 and 99 (and 'line' their order): it is "
                               f"for prompt styles 'levels' and 'marked'; style {style!r} starts on the digits only")
    import torch

    ids = add_level_tokens(tokenizer, style)
    if max(ids) >= model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(max(ids) + 1, pad_to_multiple_of=64, mean_resizing=False)
    weight = model.get_input_embeddings().weight
    with torch.no_grad():
        digits = weight[digit_ids(tokenizer)]
        digits_norm = digits.float().norm(dim=1).mean()
        # Centred on the vocabulary's mean row: the part every row shares would, through SmolLM2's tied output
        # layer, raise these two tokens' logits everywhere (start loss 13.2 uncentred at share 1, 3.64 centred at
        # 0.5, 3.28 on the digits alone; docs/training.md).
        extremes = weight[extreme_word_ids(tokenizer)] - weight[: min(ids)].mean(dim=0) if init == "words" else None
        rows = (initial_zone_embeddings(digits, weight[zone_word_ids(tokenizer)]) if style == "zones"
                else initial_level_embeddings(digits, extremes=extremes))
        if init == "swapped":
            rows[[0, 99]] = rows[[99, 0]]
        if init == "line":
            rows = on_a_line(rows, digits, LINE_SPAN * digits_norm)
        if init in ("high", "line"):
            rows[0], rows[99] = parted(rows[99], rows[99] - rows[0], HIGH_SPLIT * digits_norm)
        if style == "marked":  # only levels 00 and 99 are tokens: their rows as the levels style starts them
            rows = rows[[int(level) for level in MARKED_LEVELS]]
        weight[ids] = rows.to(weight.dtype)
        output = model.get_output_embeddings()
        if output is not None and output.weight.data_ptr() != weight.data_ptr():
            output.weight[ids] = rows.to(output.weight.dtype)
    return ids


def check_student(manifest: dict | None, tokenizer) -> None:
    """Refuse a student of added tokens whose manifest or tokenizer lacks them (or whose ids moved), clearly."""
    style = (manifest or {}).get("prompt_style")
    if not uses_added_tokens(style):
        return
    recorded = manifest.get("level_token_ids")
    if not recorded:
        raise LevelTokensError(f"the student's manifest says prompt style {style!r} but records no level_token_ids: "
                               "re-ship it with training.merge, which writes them")
    if level_token_ids(tokenizer, style) != list(recorded):
        raise LevelTokensError("the tokenizer's level token ids differ from those the student was trained with: "
                               "serve the tokenizer saved with the student (its merged model directory)")
