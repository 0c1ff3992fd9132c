"""HTTP routes: translate requests into describe calls and results into responses."""

from __future__ import annotations

import asyncio
import os
import platform
from pathlib import Path

from fastapi import APIRouter, Depends, Response
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from core import facts
from core.series import EncodedSeries
from service import api
from service.deployment import Deployed
from service.describe import DescribeOptions, DescribeResult, describe_all, describe_encoded, prepare, prepare_batch
from service.errors import DeadlineExceeded, EngineUnavailable, SeriesError, ShuttingDown
from service.security import require_api_key
from service.state import ServiceState, service_state

router = APIRouter()
INDEX_PAGE = Path(__file__).parent / "static" / "index.html"
ERRORS = {code: {"model": api.ErrorOut} for code in (400, 401, 413, 422, 429, 502, 503, 504)}


def options_of(body: api.DescribeRequest | api.BatchRequest) -> DescribeOptions:
    return DescribeOptions(
        self_check=body.self_check, repair=body.repair, temperature=body.temperature, seed=body.seed, missing=body.missing,
        all_features=body.all_features,
    )


def model_out(deployed: Deployed) -> api.ModelOut:
    s = deployed.settings
    return api.ModelOut(name=s.model_name, adapter=s.adapter, backend=s.backend, prompt_style=s.prompt_style)


def evidence_and_times(name: str, result: DescribeResult) -> tuple[dict, dict | None]:
    """The rules' numbers behind one label and, with timestamps, its positions and periods as times."""
    feature = facts.FEATURE_OF[name]
    evidence = feature.evidence_of(name, result.features.evidence)
    timeline = result.encoded.timeline
    return evidence, None if timeline is None else timeline.times_of(evidence, feature.positions, feature.durations)


def field_check_of(name: str, check: facts.FieldCheck, result: DescribeResult) -> api.FieldCheckOut:
    evidence, times = evidence_and_times(name, result)
    return api.FieldCheckOut(stated=check.stated, computed=check.computed, agrees=check.agrees, fact=check.fact,
                             evidence=evidence, times=times)


def features_of(result: DescribeResult) -> dict[str, api.FeatureOut]:
    """Every label the rules computed for this request, with its fact and evidence."""
    sentences = facts.fact_sentences(result.features)
    out = {}
    for name, label in result.features.labels.items():
        evidence, times = evidence_and_times(name, result)
        out[name] = api.FeatureOut(computed=label, fact=sentences[name], evidence=evidence, times=times)
    return out


def response_of(result: DescribeResult, model: api.ModelOut, all_features: bool = False) -> api.DescribeResponse:
    checks = None
    if result.check is not None:
        fields = {name: field_check_of(name, c, result) for name, c in result.check.fields.items()}
        checks = api.ChecksOut(**fields, score=result.check.score, repaired=list(result.check.repaired))
    e = result.encoded
    return api.DescribeResponse(
        description=result.description.model_dump(),
        checks=checks,
        features=features_of(result) if all_features else None,
        model=model,
        usage=api.UsageOut(prompt_tokens=result.prompt_tokens, completion_tokens=result.completion_tokens),
        series=api.SeriesOut(
            input_length=e.input_length,
            encoded_length=len(e.levels),
            resampled=e.resampled,
            filled_gaps=e.filled_gaps,
            min=e.input_min,
            max=e.input_max,
            time_resampled=e.time_resampled,
        ),
        latency_ms=round(result.seconds * 1000, 2),
    )


def check_ready(state: ServiceState) -> None:
    if state.draining:
        raise ShuttingDown("this instance is shutting down; retry (another instance, or this one restarted, will answer)")
    if not state.ready:
        raise EngineUnavailable(state.load_error or "model is still loading; retry shortly")


async def admitted(state: ServiceState, caller: str, encoded: list[EncodedSeries], work):
    """Rate limit, a place on the engine (or 429), the deadline (or 504; on SIGTERM 503), and the deployment it runs
    on. Series are validated before this, so nothing invalid waits in the queue; the rate budget is charged only for
    series that reach the engine."""
    check_ready(state)
    weight, points = len(encoded), sum(e.input_length for e in encoded)
    state.rate_limiter.spend(caller, weight)
    reached = False
    try:
        async with asyncio.timeout(state.settings.request_timeout_s) as deadline:
            state.deadlines.add(deadline)
            try:
                async with state.admission.slot(weight, points), state.deployments.lease() as deployed:
                    reached = True
                    return deployed, await work(deployed)
            finally:
                state.deadlines.discard(deadline)
    except TimeoutError:
        if state.draining:
            raise ShuttingDown("this instance shut down before the request finished; retry") from None
        raise DeadlineExceeded(f"no answer within {state.settings.request_timeout_s:g} s; the request was "
                               "cancelled (retry later, or send fewer series per call)") from None
    finally:
        if not reached:
            state.rate_limiter.refund(caller, weight)


@router.post("/describe", response_model=api.DescribeResponse, responses=ERRORS, tags=["describe"])
async def describe_one(body: api.DescribeRequest, response: Response, caller: str = Depends(require_api_key),
                       state: ServiceState = Depends(service_state)) -> api.DescribeResponse:
    """Describe one series: trend, noise and where its global max and min lie, checked against its features."""
    options = options_of(body)
    encoded = prepare(body.series, options, state.deployments.active.settings, body.timestamps)
    deployed, result = await admitted(
        state, caller, [encoded], lambda d: describe_encoded(encoded, options, d.backend, d.settings))
    state.metrics.record_result(result)
    # What the engine took vs the whole describe step: a client can see the service's own overhead per request.
    response.headers["Server-Timing"] = (f"engine;dur={result.engine_seconds * 1000:.2f}, "
                                         f"describe;dur={result.seconds * 1000:.2f}")
    return response_of(result, model_out(deployed), body.all_features)


@router.post("/describe/batch", response_model=api.BatchResponse, responses=ERRORS, tags=["describe"])
async def describe_batch(body: api.BatchRequest, caller: str = Depends(require_api_key),
                         state: ServiceState = Depends(service_state)) -> api.BatchResponse:
    """Describe several series concurrently on the engine."""
    if len(body.series) > state.settings.max_batch:
        raise SeriesError(f"batch has {len(body.series)} series; send at most {state.settings.max_batch} per call")
    options = options_of(body)
    encoded = prepare_batch(body.series, options, state.deployments.active.settings, body.timestamps)
    deployed, results = await admitted(
        state, caller, encoded, lambda d: describe_all(encoded, options, d.backend, d.settings))
    model = model_out(deployed)
    for result in results:
        state.metrics.record_result(result)
    return api.BatchResponse(
        results=[response_of(r, model, body.all_features) for r in results],
        usage=api.UsageOut(
            prompt_tokens=sum(r.prompt_tokens for r in results),
            completion_tokens=sum(r.completion_tokens for r in results),
        ),
    )


@router.get("/", include_in_schema=False)
async def index() -> HTMLResponse:
    """The web page: paste or upload a series, see it drawn, described and checked."""
    return HTMLResponse(INDEX_PAGE.read_text())


@router.get("/health", tags=["operations"])
async def health(state: ServiceState = Depends(service_state)) -> JSONResponse:
    """Alive, and the engine is not dead (a loading engine is healthy but not ready)."""
    if state.load_error or state.engine_death:
        return JSONResponse({"status": "unhealthy", "detail": state.load_error or state.engine_death}, status_code=503)
    if state.ready:
        try:
            await state.deployments.active.backend.check_health()
        except EngineUnavailable as error:
            return JSONResponse({"status": "unhealthy", "detail": str(error)}, status_code=503)
    return JSONResponse({"status": "ok", "ready": state.ready})


@router.get("/ready", tags=["operations"])
async def ready(state: ServiceState = Depends(service_state)) -> JSONResponse:
    """200 once the model is loaded; 503 before, and while draining after SIGTERM."""
    if state.draining:
        return JSONResponse({"status": "draining", "detail": "shutting down"}, status_code=503)
    if not state.ready:
        detail = state.load_error or "model is loading"
        return JSONResponse({"status": "not ready", "detail": detail}, status_code=503)
    return JSONResponse({"status": "ready"})


@router.get("/metrics", tags=["operations"], response_class=PlainTextResponse)
async def metrics(state: ServiceState = Depends(service_state)) -> Response:
    """Prometheus metrics."""
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/info", tags=["operations"])
async def info(state: ServiceState = Depends(service_state)) -> dict:
    """Model, adapter, engine, versions and the settings that shape answers (what is loaded, not what is on disk)."""
    active = state.deployments.active
    s = active.settings
    import fastapi

    return {
        "model": {"name": s.model_name, "path": s.model_path, "adapter": s.adapter, "preset": s.preset,
                  "version": active.version, "activated_at": active.activated_at, "student": active.manifest},
        "backend": active.backend.info() if state.ready else {"engine": s.backend, "loading": True},
        "ready": state.ready,
        "pid": os.getpid(),
        "tokens_per_digit": state.tokens_per_digit,
        "settings": {
            "prompt_style": s.prompt_style,
            "fields": list(s.description_fields),
            "scratchpad": s.scratchpad,
            "checked_fields": [name for f in facts.active_features(s.description_fields) for name in f.labels],
            "trained_length": s.trained_length,
            "min_length": s.min_length,
            "max_length": s.max_length,
            "max_batch": s.max_batch,
            "max_tokens": s.max_tokens,
            "max_body_bytes": s.max_body_bytes,
        },
        "versions": {"python": platform.python_version(), "fastapi": fastapi.__version__, "service": state.version},
    }
