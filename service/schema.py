"""The output schema the engine is forced to follow, and its parsing."""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict, Field, ValidationError

FIELD_MAX_CHARS = 240
FIELDS = ("trend", "noise", "extrema")


class Description(BaseModel):
    """Three sentences: trend, noise intensity, and where the global max and min lie."""

    model_config = ConfigDict(extra="forbid")

    trend: str = Field(min_length=1, max_length=FIELD_MAX_CHARS)
    noise: str = Field(min_length=1, max_length=FIELD_MAX_CHARS)
    extrema: str = Field(min_length=1, max_length=FIELD_MAX_CHARS)


class DescriptionParseError(ValueError):
    """The model's text is not a valid description."""


def description_json_schema() -> dict:
    """JSON schema handed to the engine's structured-output decoder."""
    return Description.model_json_schema()


def parse_description(text: str) -> Description:
    """Parse and validate the model's JSON text."""
    try:
        return Description.model_validate_json(text)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "output"
        raise DescriptionParseError(f"model output is not a valid description ({where}: {first['msg']})") from None


def render_target(description: Description) -> str:
    """The exact text a student is trained to produce (compact JSON, fields in schema order)."""
    return json.dumps(description.model_dump(), ensure_ascii=False, separators=(",", ":"))
