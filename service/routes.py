"""HTTP routes: translate requests into describe calls and results into responses."""

from __future__ import annotations

import asyncio
import os
import platform
from pathlib import Path

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service import api
from service.admission import DeadlineExceeded
from service.backends.base import EngineUnavailable
from service.deployment import Deployed
from service.describe import DescribeOptions, DescribeResult, describe, describe_many
from service.security import require_api_key
from service.series import SeriesError

router = APIRouter()
INDEX_PAGE = Path(__file__).parent / "static" / "index.html"
ERRORS = {code: {"model": api.ErrorOut} for code in (400, 401, 413, 422, 429, 502, 503, 504)}


def options_of(body: api.DescribeRequest | api.BatchRequest) -> DescribeOptions:
    return DescribeOptions(
        self_check=body.self_check, repair=body.repair, temperature=body.temperature, seed=body.seed, missing=body.missing
    )


def model_out(deployed: Deployed) -> api.ModelOut:
    s = deployed.settings
    return api.ModelOut(name=s.model_name, adapter=s.adapter, backend=s.backend, prompt_style=s.prompt_style)


def response_of(result: DescribeResult, model: api.ModelOut) -> api.DescribeResponse:
    checks = None
    if result.check is not None:
        fields = {
            name: api.FieldCheckOut(stated=c.stated, computed=c.computed, agrees=c.agrees, fact=c.fact)
            for name, c in result.check.fields.items()
        }
        checks = api.ChecksOut(**fields, score=result.check.score, repaired=list(result.check.repaired))
    e = result.encoded
    return api.DescribeResponse(
        description=result.description,
        checks=checks,
        model=model,
        usage=api.UsageOut(prompt_tokens=result.prompt_tokens, completion_tokens=result.completion_tokens),
        series=api.SeriesOut(
            input_length=e.input_length,
            encoded_length=len(e.levels),
            resampled=e.resampled,
            filled_gaps=e.filled_gaps,
            min=e.input_min,
            max=e.input_max,
        ),
        latency_ms=round(result.seconds * 1000, 2),
    )


def check_ready(request: Request) -> None:
    state = request.app.state
    if not state.ready:
        raise EngineUnavailable(state.load_error or "model is still loading; retry shortly")


async def admitted(request: Request, caller: str, weight: int, work):
    """Rate limit, a place on the engine (or 429), the deadline (or 504), and the deployment it runs on."""
    state = request.app.state
    check_ready(request)
    state.rate_limiter.spend(caller, weight)
    try:
        async with asyncio.timeout(state.settings.request_timeout_s):
            async with state.admission.slot(weight), state.deployments.lease() as deployed:
                return deployed, await work(deployed)
    except TimeoutError:
        raise DeadlineExceeded(f"no answer within {state.settings.request_timeout_s:g} s; the request was "
                               "cancelled (retry later, or send fewer series per call)") from None


@router.post("/describe", response_model=api.DescribeResponse, responses=ERRORS, tags=["describe"])
async def describe_one(body: api.DescribeRequest, request: Request, response: Response,
                       caller: str = Depends(require_api_key)) -> api.DescribeResponse:
    """Describe one series: trend, noise and where its global max and min lie, checked against its features."""
    deployed, result = await admitted(
        request, caller, 1, lambda d: describe(body.series, options_of(body), d.backend, d.settings))
    request.app.state.metrics.record_result(result)
    # What the engine took vs the whole describe step: a client can see the service's own overhead per request.
    response.headers["Server-Timing"] = (f"engine;dur={result.engine_seconds * 1000:.2f}, "
                                         f"describe;dur={result.seconds * 1000:.2f}")
    return response_of(result, model_out(deployed))


@router.post("/describe/batch", response_model=api.BatchResponse, responses=ERRORS, tags=["describe"])
async def describe_batch(body: api.BatchRequest, request: Request,
                         caller: str = Depends(require_api_key)) -> api.BatchResponse:
    """Describe several series concurrently on the engine."""
    if len(body.series) > request.app.state.settings.max_batch:
        raise SeriesError(f"batch has {len(body.series)} series; send at most {request.app.state.settings.max_batch} "
                          "per call")
    deployed, results = await admitted(
        request, caller, len(body.series),
        lambda d: describe_many(body.series, options_of(body), d.backend, d.settings))
    model = model_out(deployed)
    for result in results:
        request.app.state.metrics.record_result(result)
    return api.BatchResponse(
        results=[response_of(r, model) for r in results],
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
async def health(request: Request) -> JSONResponse:
    """Alive, and the engine is not dead (a loading engine is healthy but not ready)."""
    state = request.app.state
    if state.load_error or state.engine_death:
        return JSONResponse({"status": "unhealthy", "detail": state.load_error or state.engine_death}, status_code=503)
    if state.ready:
        try:
            await state.deployments.active.backend.check_health()
        except EngineUnavailable as error:
            return JSONResponse({"status": "unhealthy", "detail": str(error)}, status_code=503)
    return JSONResponse({"status": "ok", "ready": state.ready})


@router.get("/ready", tags=["operations"])
async def ready(request: Request) -> JSONResponse:
    """200 once the model is loaded; 503 before."""
    state = request.app.state
    if not state.ready:
        detail = state.load_error or "model is loading"
        return JSONResponse({"status": "not ready", "detail": detail}, status_code=503)
    return JSONResponse({"status": "ready"})


@router.get("/metrics", tags=["operations"], response_class=PlainTextResponse)
async def metrics(request: Request) -> Response:
    """Prometheus metrics."""
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/info", tags=["operations"])
async def info(request: Request) -> dict:
    """Model, adapter, engine, versions and the settings that shape answers."""
    state = request.app.state
    active = state.deployments.active
    s = active.settings
    import fastapi

    return {
        "model": {"name": s.model_name, "path": s.model_path, "adapter": s.adapter, "preset": s.preset,
                  "version": active.version, "activated_at": active.activated_at, "student": s.student_manifest()},
        "backend": active.backend.info() if state.ready else {"engine": s.backend, "loading": True},
        "ready": state.ready,
        "pid": os.getpid(),
        "tokens_per_digit": state.tokens_per_digit,
        "settings": {
            "prompt_style": s.prompt_style,
            "trained_length": s.trained_length,
            "min_length": s.min_length,
            "max_length": s.max_length,
            "max_batch": s.max_batch,
            "max_tokens": s.max_tokens,
            "max_body_bytes": s.max_body_bytes,
        },
        "versions": {"python": platform.python_version(), "fastapi": fastapi.__version__, "service": state.version},
    }
