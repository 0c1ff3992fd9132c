"""Prompts: the paper's prompt (default) and compact ones, as chat messages for the model's own template."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

from core.facts import active_features
from core.level_tokens import level_text, marked_text, zone_text
from core.schema import PAPER_FIELDS

PromptStyle = Literal["paper", "compact", "rows", "dense", "levels", "zones", "marked"]
PROMPT_STYLES: tuple[str, ...] = get_args(PromptStyle)
ROWS = 4  # "rows": the series in four lines, so that beginning/middle/end are the first/middle two/last line

# arXiv 2507.07439, as in its companion data (without the reasoning teacher's "/think" tag).
PAPER_INSTRUCTION = (
    "Describe the time series in three sentences. First sentence: describe trend "
    "(increasing/decreasing/flat). Second sentence: noise intensity (low/medium/high). Third sentence: "
    "approximate localisation of global maximum (beginning/middle/end) and global minimum "
    "(beginning/middle/end).\n"
    "Put the description in a JSON format with the following pattern\n"
    "```json\n"
    '{ "trend": <sentence1>,\n'
    '  "noise": <sentence2>,\n'
    '  "extrema": <sentence3> }\n'
    "```\n"
)


def compact_instruction(fields: Sequence[str] = PAPER_FIELDS) -> str:
    """'Describe trend, noise and global max/min position as JSON.' — each feature's words, from the registry."""
    words = [f.instruction for f in active_features(fields)]
    listed = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
    return f"Describe {listed} as JSON.\n"


COMPACT_INSTRUCTION = compact_instruction()


def series_text(tokens: Sequence[str], style: PromptStyle) -> str:
    """The series part of the prompt: the paper's bracketed list, space-separated levels, those in four lines, or
    the levels run together (every level is two digits, so no separator is needed: 2 tokens a level, not 3)."""
    if style == "paper":
        return " Series: [" + ", ".join(tokens) + "]"
    if style == "dense":
        return "Series: " + "".join(tokens)
    if style == "levels":  # one added token per level: '<L07><L12>…' (core.level_tokens)
        return "Series: " + level_text(tokens)
    if style == "zones":  # one added token per level and zone: '<B07>…<M12>…<E03>' (core.level_tokens)
        return "Series: " + zone_text(tokens)
    if style == "marked":  # compact's digits, the extremes as one added token each: '07 <L99> 12 <L00>' (core.level_tokens)
        return "Series: " + marked_text(tokens)
    if style == "rows":
        width = -(-len(tokens) // ROWS)
        return "Series:\n" + "\n".join(" ".join(tokens[i : i + width]) for i in range(0, len(tokens), width))
    return "Series: " + " ".join(tokens)


def user_prompt(tokens: Sequence[str], style: PromptStyle = "paper", fields: Sequence[str] = PAPER_FIELDS) -> str:
    """The user turn for an encoded series (the paper's prompt asks for the paper's three fields, whatever `fields`)."""
    if style == "paper":
        return PAPER_INSTRUCTION + series_text(tokens, style)
    if style in PROMPT_STYLES:  # every other style: the compact instruction
        return compact_instruction(tuple(fields)) + series_text(tokens, style)
    raise ValueError(f"unknown prompt style {style!r}; choose one of {', '.join(PROMPT_STYLES)}")


def build_messages(tokens: Sequence[str], style: PromptStyle = "paper",
                   fields: Sequence[str] = PAPER_FIELDS) -> list[dict[str, str]]:
    """Chat messages for one series; the model's chat template renders them (same in training and serving)."""
    return [{"role": "user", "content": user_prompt(tokens, style, fields)}]


def series_from_prompt(prompt: str) -> list[int]:
    """The encoded levels inside a prompt in the paper's format ('Series: [07, 12, ...]')."""
    marker = "Series: ["
    start = prompt.rfind(marker)
    if start < 0:
        raise ValueError("prompt has no 'Series: [...]' part")
    end = prompt.index("]", start)
    return [int(p) for p in prompt[start + len(marker) : end].split(",") if p.strip()]
