"""The describe service: series → prompt → engine → parsed, checked description."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from core import facts, prompt, series
from core.schema import DescriptionBase, description_json_schema, parse_description
from core.timeline import Timestamp
from service.backends.base import Backend, GenerationParams
from service.errors import ModelOutputError
from service.settings import Settings


@dataclass(frozen=True)
class DescribeOptions:
    self_check: bool = True
    repair: bool = False
    temperature: float = 0.0
    seed: int | None = None
    missing: series.MissingPolicy = "reject"
    all_features: bool = False  # compute every registry feature, not only those the student states


@dataclass(frozen=True)
class DescribeResult:
    description: DescriptionBase  # the fields the deployed student states (settings.description_fields)
    check: facts.SelfCheck | None
    features: facts.Features
    encoded: series.EncodedSeries
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    engine_seconds: float


@lru_cache(maxsize=16)
def json_schema(fields: tuple[str, ...], scratchpad: bool = False) -> dict:
    """The schema the engine is forced to follow for a student of these fields (built once per field list)."""
    return description_json_schema(fields, scratchpad)


def prepare(values: Sequence[float | None], options: DescribeOptions, settings: Settings,
            timestamps: Sequence[Timestamp] | None = None) -> series.EncodedSeries:
    """Validate and encode a raw series (and its timestamps) with the deployment's limits (raises SeriesError)."""
    return series.encode(
        values,
        length=settings.trained_length,
        min_length=settings.min_length,
        max_length=settings.max_length,
        missing=options.missing,
        max_abs=settings.max_abs_value,
        timestamps=timestamps,
    )


async def describe(
    values: Sequence[float | None], options: DescribeOptions, backend: Backend, settings: Settings
) -> DescribeResult:
    """Describe one raw series."""
    return await describe_encoded(prepare(values, options, settings), options, backend, settings)


async def describe_encoded(
    encoded: series.EncodedSeries,
    options: DescribeOptions,
    backend: Backend,
    settings: Settings,
    features: facts.Features | None = None,
) -> DescribeResult:
    """Describe an encoded series; the self-check and repair use the same rules as training's fact-check (features
    computed on the full-resolution series; evaluation passes those a test record was labelled with)."""
    started = time.perf_counter()
    messages = prompt.build_messages(encoded.tokens, settings.prompt_style, settings.description_fields)
    params = GenerationParams(
        json_schema=json_schema(settings.description_fields, settings.scratchpad), max_tokens=settings.max_tokens, temperature=options.temperature, seed=options.seed
    )
    computing = None
    if features is None:  # the rules run in a thread while the engine generates, off the event loop
        fields = None if options.all_features else settings.description_fields
        computing = asyncio.ensure_future(asyncio.to_thread(facts.compute_features, encoded.values, fields))
    engine_started = time.perf_counter()
    try:
        generation = await backend.generate(messages, params)
    finally:
        if computing is not None:
            features = await computing
    engine_seconds = generation.engine_seconds or time.perf_counter() - engine_started
    try:
        description = parse_description(generation.text, settings.description_fields, settings.scratchpad)
    except ValueError as error:
        raise ModelOutputError(f"{error} (finish reason: {generation.finish_reason})") from None
    if encoded.timeline is not None:
        features = features.timed(encoded.timeline)  # the fact sentences name the caller's times
    check = None
    if options.self_check or options.repair:
        check = facts.check(description, features)
        if options.repair:
            description, replaced = facts.repair(description, check)
            check = facts.SelfCheck(fields=check.fields, repaired=replaced)
    return DescribeResult(
        description=description,
        check=check,
        features=features,
        encoded=encoded,
        prompt_tokens=generation.prompt_tokens,
        completion_tokens=generation.completion_tokens,
        seconds=time.perf_counter() - started,
        engine_seconds=engine_seconds,
    )


def prepare_batch(
    batch: Sequence[Sequence[float | None]], options: DescribeOptions, settings: Settings,
    timestamps: Sequence[Sequence[Timestamp] | None] | None = None,
) -> list[series.EncodedSeries]:
    """Validate and encode every series of a batch (one bad series fails the call, naming its index)."""
    if timestamps is not None and len(timestamps) != len(batch):
        raise series.SeriesError(f"timestamps has {len(timestamps)} entries but the batch has {len(batch)} series; "
                                 "send one list (or null) per series")
    encoded = []
    for index, values in enumerate(batch):
        try:
            encoded.append(prepare(values, options, settings, None if timestamps is None else timestamps[index]))
        except series.SeriesError as error:
            raise series.SeriesError(f"batch item {index}: {error}") from None
    return encoded


async def describe_all(
    encoded: Sequence[series.EncodedSeries], options: DescribeOptions, backend: Backend, settings: Settings
) -> list[DescribeResult]:
    """Describe encoded series concurrently; the first failure cancels the others, and this returns (or raises)
    only once every one has ended, so the caller's place on the engine is never freed under running work."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(describe_encoded(e, options, backend, settings)) for e in encoded]
    except BaseExceptionGroup as failures:
        raise failures.exceptions[0] from None
    return [task.result() for task in tasks]


async def describe_many(
    batch: Sequence[Sequence[float | None]], options: DescribeOptions, backend: Backend, settings: Settings
) -> list[DescribeResult]:
    """Validate every series first (one bad series fails the call before any engine work), then run concurrently."""
    return await describe_all(prepare_batch(batch, options, settings), options, backend, settings)
