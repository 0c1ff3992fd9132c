"""The output schema the engine is forced to follow, derived from the feature registry, and its parsing.

A student states the fields it was trained on (its manifest's `fields`; students from before the registry: the
paper's three), so the schema is built per field list."""

from __future__ import annotations

import json
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from core.facts import DESCRIPTION_FIELDS, PAPER_FIELDS

FIELD_MAX_CHARS = 240
SCRATCHPAD = "reading"  # a student's own reading of the series, written before its sentences and never returned
SCRATCHPAD_MAX_CHARS = 80
SCRATCHPAD_BEFORE = "trend"  # the sentence the reading serves: written right before it (first when trend is first)


class DescriptionBase(BaseModel):
    """One sentence per field of the feature registry that the student states."""

    model_config = ConfigDict(extra="forbid")


@lru_cache(maxsize=32)
def description_model(fields: tuple[str, ...], scratchpad: bool = False) -> type[DescriptionBase]:
    """The description model for a list of fields, in their order: each a required sentence, nothing else allowed;
    with `scratchpad`, what the student generates: its reading of the series right before the trend sentence (first
    when the trend comes first or is not stated), then the sentences."""
    unknown = [f for f in fields if f not in DESCRIPTION_FIELDS]
    if unknown or not fields:
        raise ValueError(f"unknown description fields {unknown}; the registry has {', '.join(DESCRIPTION_FIELDS)}")
    if len(set(fields)) < len(fields):
        raise ValueError(f"repeated description fields in {list(fields)}: each is stated once")
    sentence = (str, Field(min_length=1, max_length=FIELD_MAX_CHARS))
    reading = (str, Field(min_length=1, max_length=SCRATCHPAD_MAX_CHARS))
    order = list(fields)
    if scratchpad:
        order.insert(fields.index(SCRATCHPAD_BEFORE) if SCRATCHPAD_BEFORE in fields else 0, SCRATCHPAD)
    return create_model("Description", __base__=DescriptionBase,
                        **{name: reading if name == SCRATCHPAD else sentence for name in order})


Description = description_model(PAPER_FIELDS)


class DescriptionParseError(ValueError):
    """The model's text is not a valid description."""


def description_json_schema(fields: tuple[str, ...] = PAPER_FIELDS, scratchpad: bool = False) -> dict:
    """JSON schema handed to the engine's structured-output decoder."""
    return description_model(fields, scratchpad).model_json_schema()


def parse_description(text: str, fields: tuple[str, ...] = PAPER_FIELDS, scratchpad: bool = False) -> DescriptionBase:
    """Parse and validate the model's JSON text; a scratchpad is checked for shape and dropped."""
    try:
        parsed = description_model(fields, scratchpad).model_validate_json(text)
        return description_model(fields).model_validate(parsed.model_dump(exclude={SCRATCHPAD})) if scratchpad else parsed
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "output"
        raise DescriptionParseError(f"model output is not a valid description ({where}: {first['msg']})") from None


def render_target(description: BaseModel) -> str:
    """The exact text a student is trained to produce (compact JSON, fields in schema order)."""
    return json.dumps(description.model_dump(), ensure_ascii=False, separators=(",", ":"))
