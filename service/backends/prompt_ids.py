"""Prompt token ids with the series part assembled from per-character ids (the tokenizer's own ids, a tenth of the time)."""

from __future__ import annotations

import re
from collections.abc import Callable

SERIES_MARKER = "Series:"
# After the marker: separators that open the list (kept in the head: tokenizers merge ' ['), then digits and separators,
# or level tokens ('<L07>', prompt style "levels"; '<B07>', '<M07>', '<E07>', style "zones"), or both mixed (style
# "marked": digits with '<L00>' and '<L99>').
LEVEL_TOKEN = r"<[LBME][0-9]{2}>"
SERIES_RUN = re.compile(rf"[ ,\[\]\n]*((?:{LEVEL_TOKEN}|[0-9])(?:{LEVEL_TOKEN}|[0-9 ,\[\]\n])*)")
UNIT = re.compile(rf"{LEVEL_TOKEN}|[\s\S]")


def units(series: str) -> list[str] | str:
    """What maps to one id each: the characters of a digit series, with each level token whole."""
    return UNIT.findall(series) if "<" in series else series


def split_series(text: str) -> tuple[str, str, str] | None:
    """(head, series, tail): from the first digit after the last 'Series:' marker to the end of the run of digits and
    separators, and what surrounds it (an opening ' [' stays in the head: tokenizers merge it)."""
    marker = text.rfind(SERIES_MARKER)
    run = SERIES_RUN.match(text, marker + len(SERIES_MARKER)) if marker >= 0 else None
    if run is None:
        return None
    start, end = run.span(1)
    return text[:start], text[start:end], text[end:]


class PromptIds:
    """Encodes a rendered prompt; the fixed text around the series is encoded once, and each character of the series
    maps to its own token, learnt from a full encode and trusted only while full encodes agree with it.

    Tokenizers that give one token per digit (SmolLM2, Qwen2, Llama 2) pass; any that merges digits or separators
    (GPT-2's) never does, and every prompt is then encoded whole."""

    def __init__(self, encode: Callable[[str], list[int]]):
        self.encode = encode
        self.frames: dict[tuple[str, str], tuple[list[int], list[int]] | None] = {}  # None: this frame merges
        self.char_ids: dict[str, int] = {}

    def __call__(self, text: str) -> list[int]:
        parts = split_series(text)
        if parts is None:
            return self.encode(text)
        head, series, tail = parts
        frame = self.frames.get((head, tail), ())
        if frame:
            try:
                return [*frame[0], *map(self.char_ids.__getitem__, units(series)), *frame[1]]
            except KeyError:  # a character not seen yet: learn it from a full encode
                pass
        ids = self.encode(text)
        if frame == ():
            self.frames[(head, tail)] = self.learn(ids, head, series, tail)
        elif frame and not self.learn_chars(ids[len(frame[0]) : len(ids) - len(frame[1])], series):
            self.frames[(head, tail)] = None
        return ids

    def learn(self, ids: list[int], head: str, series: str, tail: str) -> tuple[list[int], list[int]] | None:
        """The frame's ids if the full encode is exactly head + one id per series character + tail, else None."""
        head_ids, tail_ids = self.encode(head), self.encode(tail)
        if ids[: len(head_ids)] != head_ids or ids[len(ids) - len(tail_ids) :] != tail_ids:
            return None
        if not self.learn_chars(ids[len(head_ids) : len(ids) - len(tail_ids)], series):
            return None
        return head_ids, tail_ids

    def learn_chars(self, series_ids: list[int], series: str) -> bool:
        """Record one id per character (or level token); False (and nothing recorded) if they don't line up one to one."""
        series = units(series)
        if len(series_ids) != len(series):
            return False
        pairs = dict(self.char_ids)
        for char, token in zip(series, series_ids):
            if pairs.setdefault(char, token) != token:
                return False
        if len(set(pairs.values())) != len(pairs):
            return False
        self.char_ids = pairs
        return True
