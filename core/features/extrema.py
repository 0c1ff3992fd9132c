"""Extrema: where the global maximum and minimum lie (beginning, middle or end), from the raw values' argmax/argmin."""

from __future__ import annotations

import random
import re

import numpy as np

from core.features.base import REFERENCE_LENGTH, Feature, Labels, SeriesView, pick

BEGINNING_BEFORE, END_AFTER = 32, 96  # of 128
POSITIONS = ("beginning", "middle", "end")
POSITION_WORDS = {
    "beginning": r"\b(?:beginning|begin\w*|start\w*|early|earliest|first|outset|initial\w*|onset)\b",
    "middle": r"\b(?:middle|mid\w*|cent(?:er|re|ral))\b",
    "end": r"\b(?:end\w*|final\w*|late\w*|last|finish\w*|close)\b",
}
MAX_WORDS = r"\b(?:maximum|maxima|max|peak|highest)\b"
MIN_WORDS = r"\b(?:minimum|minima|min|trough|lowest)\b"
# Every zone's place shares the words before the zone word ("at the", "near the"), so the first token that decides
# is the zone word itself: with "at the beginning / in the middle / at the end" the preposition decided first, and
# "at" (two zones' worth of probability) outvoted "middle" under greedy decoding (docs/training.md, 2026-12-04).
PLACE_LEADS = ("at the", "near the")
MAX_PLACE = {zone: [f"{lead} {zone}" for lead in PLACE_LEADS] for zone in POSITIONS}
MIN_PLACE = MAX_PLACE
PHRASINGS = [
    "The global maximum is located {max}, while the global minimum is {min}.",
    "The global maximum is located {max}, and the global minimum is located {min}.",
    "The global minimum is located {min}, while the global maximum is {max}.",
]


def position_label(index: int, length: int) -> str:
    """Beginning before 32/128 of the series, end after 96/128, middle otherwise."""
    scaled = index * REFERENCE_LENGTH / length
    if scaled < BEGINNING_BEFORE:
        return "beginning"
    if scaled > END_AFTER:
        return "end"
    return "middle"


def compute(view: SeriesView) -> tuple[dict[str, str], dict[str, int]]:
    """The raw values' argmax and argmin (ties: the first), placed in the thirds of the rule."""
    argmax, argmin = int(np.argmax(view.values)), int(np.argmin(view.values))
    n = view.values.size
    evidence = {"argmax": argmax, "argmin": argmin, "max_value": float(view.values[argmax]),
                "min_value": float(view.values[argmin])}
    return {"max": position_label(argmax, n), "min": position_label(argmin, n)}, evidence


def extrema_fact(max_label: str, min_label: str, max_time: str | None = None, min_time: str | None = None) -> str:
    """The rule's sentence; with timestamps it names the instants too ("at the middle (on 2024-03-17)")."""
    max_on = f" ({max_time})" if max_time else ""
    min_on = f" ({min_time})" if min_time else ""
    return (f"The global maximum is at the {max_label}{max_on} and the global minimum is at the {min_label}{min_on} "
            "of the series.")


def first_mentions(text: str) -> list[tuple[int, int, str]]:
    """(start, end, "max"/"min") of each extreme's first mention in a lowered text, in the text's order."""
    return sorted((m.start(), m.end(), name) for name, words in (("max", MAX_WORDS), ("min", MIN_WORDS))
                  if (m := re.search(words, text)))


def read_extrema(sentence: str) -> tuple[str | None, str | None]:
    """The (max, min) positions a sentence states, handling 'respectively' and shared locations."""
    text = sentence.lower()
    mentions = first_mentions(text)
    if not mentions:
        return None, None
    positions = [
        (m.start(), label) for label, pattern in POSITION_WORDS.items() for m in re.finditer(pattern, text)
    ]
    positions.sort()
    found: dict[str, str | None] = {"max": None, "min": None}
    if "respectively" in text and len(mentions) == 2:
        after = [label for start, label in positions if start > mentions[1][1]]
        if len(after) >= 2:
            found[mentions[0][2]], found[mentions[1][2]] = after[0], after[1]
            return found["max"], found["min"]
    for i, (_, end, name) in enumerate(mentions):
        stop = mentions[i + 1][0] if i + 1 < len(mentions) else len(text)
        inside = [label for pos, label in positions if end <= pos < stop]
        if inside:
            found[name] = inside[0]
    if len(mentions) == 2:
        first, second = mentions[0][2], mentions[1][2]
        if found[first] is None and found[second] is not None:
            found[first] = found[second]  # "the maximum and minimum are both at the end"
    return found["max"], found["min"]


def regions(text: str) -> dict[str, tuple[int, int]]:
    """Each extreme's clause in a (lowered) text: from its first mention to the other's, or to the text's end."""
    mentions = first_mentions(text)
    stops = [start for start, _, _ in mentions[1:]] + [len(text)]
    return {name: (start, stop) for (start, _, name), stop in zip(mentions, stops)}


def read(sentence: str) -> dict[str, str | None]:
    max_label, min_label = read_extrema(sentence)
    return {"max": max_label, "min": min_label}


def phrase(labels: Labels, rng: random.Random) -> str:
    return pick(PHRASINGS, rng).format(max=pick(MAX_PLACE[labels["max"]], rng), min=pick(MIN_PLACE[labels["min"]], rng))


FEATURE = Feature(
    field="extrema", labels={"max": POSITIONS, "min": POSITIONS}, compute=compute,
    fact=lambda labels: extrema_fact(labels["max"], labels["min"], labels.get("argmax_time"),
                                     labels.get("argmin_time")),
    constant_fact="The series is constant, so the global maximum and the global minimum are both at the beginning.",
    read=read, phrase=phrase, instruction="global max/min position",
    evidence={"max": ("argmax", "max_value"), "min": ("argmin", "min_value")}, positions=("argmax", "argmin"),
    label_words=tuple(POSITION_WORDS.values()), regions=regions,
)
