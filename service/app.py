"""App factory: settings, backend loaded in the lifespan, error mapping, metrics and body limits."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.series import tokens_per_digit
from service import logs
from service.admin import router as admin_router
from service.admission import Admission, RateLimiter
from service.backends import Backend, make_backend
from service.deployment import Deployed, Deployments
from service.errors import EngineDead, EngineUnavailable, ModelOutputError, ServiceError
from service.logs import request_id_from
from service.metrics import Metrics
from service.routes import router
from service.security import Unauthorized, caller_identity
from service.settings import Settings
from service.state import ServiceState

log = logging.getLogger("service")
STATIC_DIR = Path(__file__).parent / "static"
DESCRIBE_ROUTES = ("/describe", "/describe/batch")
QUIET_ROUTES = ("/health", "/ready", "/metrics")  # probes and scrapes are logged only when they fail


def service_version() -> str:
    try:
        return version("tsdescribe")
    except PackageNotFoundError:
        return "dev"


async def load_backend(state: ServiceState) -> None:
    """Start the engine; on failure record why and ask the server to stop."""
    backend = state.deployments.active.backend
    try:
        await backend.start()
        try:
            state.tokens_per_digit = tokens_per_digit(backend.count_tokens)
        except NotImplementedError:
            state.tokens_per_digit = None
        if state.tokens_per_digit not in (None, 1.0):
            log.warning("tokenizer spends %.2f tokens per digit; the encoding expects 1", state.tokens_per_digit)
        state.ready = True
        state.metrics.set_model(state.deployments.active)
    except Exception as error:
        state.load_error = f"model failed to load: {type(error).__name__}: {error}"
        log.exception("model failed to load")
        if state.on_load_failure:
            state.on_load_failure()


async def watch_engine(state: ServiceState, every_s: float) -> None:
    """Exit on engine death even when no request comes to notice it (a health probe alone restarts nothing)."""
    while state.engine_death is None:
        await asyncio.sleep(every_s)
        if not state.ready:
            continue
        try:
            await state.deployments.active.backend.check_health()
        except EngineDead as error:
            state.engine_died(str(error))
        except EngineUnavailable:
            pass  # a remote engine out of reach may come back; /health reports it


def create_app(
    settings: Settings | None = None,
    backend: Backend | None = None,
    on_load_failure: Callable[[], None] | None = None,
    backend_factory: Callable[[Settings], Backend] = make_backend,
    on_engine_death: Callable[[], None] | None = None,
) -> FastAPI:
    """Build the app; the model loads in the background once the server starts."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state.loading = asyncio.create_task(load_backend(state))
        watcher = asyncio.create_task(watch_engine(state, settings.engine_watch_s))
        try:
            yield
        finally:
            state.loading.cancel()
            watcher.cancel()
            await state.deployments.active.backend.close()

    app = FastAPI(
        title="tsdescribe",
        version=service_version(),
        description="Short, checked JSON descriptions of numeric time series by a distilled language model.",
        lifespan=lifespan,
    )
    admission = Admission(settings.max_in_flight, settings.max_queue, settings.max_points_held)
    state = ServiceState(
        settings=settings,
        deployments=Deployments(Deployed(settings, backend or backend_factory(settings)), backend_factory),
        metrics=Metrics(),
        admission=admission,
        rate_limiter=RateLimiter(settings.rate_limit_per_minute, max_callers=settings.rate_limit_callers),
        version=service_version(),
        on_load_failure=on_load_failure,
        on_engine_death=on_engine_death,
    )
    state.metrics.queued.set_function(lambda: admission.waiting)
    app.state.service = state
    app.include_router(router)
    app.include_router(admin_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    add_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(ApiKeyGate, hashes=settings.api_key_hashes)
    app.add_middleware(ObserveRequests)  # outermost: every response, 401 and 413 included, is logged and counted
    return app


def error(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def readable_location(loc: tuple) -> str:
    """('body', 'series', 3) -> 'series[3]'."""
    parts = [p for p in loc if p != "body"]
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"


def validation_message(exc: RequestValidationError) -> str:
    """The first few validation errors as one sentence a person can act on."""
    messages = []
    for item in exc.errors()[:3]:
        msg = str(item.get("msg", "")).removeprefix("Value error, ")
        if item.get("type") == "json_invalid":
            messages.append(f"body is not valid JSON ({item.get('ctx', {}).get('error', msg)})")
        elif item.get("type") == "missing":
            messages.append(f"{readable_location(item['loc'])} is required")
        elif item.get("type") == "extra_forbidden":
            messages.append(f"{readable_location(item['loc'])} is not a known field")
        else:
            separator = " " if item.get("type") == "value_error" else ": "
            messages.append(f"{readable_location(item['loc'])}{separator}{msg}")
    more = len(exc.errors()) - 3
    return "; ".join(messages) + (f" (and {more} more)" if more > 0 else "")


def add_error_handlers(app: FastAPI) -> None:
    """Map request validation, Starlette's HTTP errors and the service's exception tree to HTTP, once."""

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        return JSONResponse({"detail": validation_message(exc), "errors": _plain_errors(exc)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
            return error(400, "request body could not be parsed; send UTF-8 encoded JSON")
        return error(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError):
        state: ServiceState = request.app.state.service
        if isinstance(exc, EngineDead):
            state.engine_died(str(exc))
        if isinstance(exc, ModelOutputError):
            state.metrics.model_errors.inc()
        if exc.reason is not None:
            state.metrics.rejected.labels(exc.reason).inc()
        return error(exc.status, str(exc), headers=exc.headers())


def _plain_errors(exc: RequestValidationError) -> list[dict]:
    return [{"loc": list(e["loc"]), "msg": str(e["msg"]), "type": e["type"]} for e in exc.errors()[:20]]


def with_app_timing(headers, seconds: float) -> list:
    """Response headers with `app;dur=` (time inside the app, body rendered) added to Server-Timing, one header."""
    timing = f"app;dur={seconds * 1000:.2f}".encode()
    out, merged = [], False
    for name, value in headers:
        if name.lower() == b"server-timing":
            value, merged = value + b", " + timing, True
        out.append((name, value))
    return out if merged else [*out, (b"server-timing", timing)]


class ObserveRequests:
    """Request id, one JSON log line per request, requests by route and status, latency, in-flight describe calls.

    Plain ASGI rather than BaseHTTPMiddleware: no extra task and body streaming per request (the service's own
    latency is a measured target)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        metrics: Metrics = scope["app"].state.service.metrics
        header = next((v for k, v in scope["headers"] if k == b"x-request-id"), None)
        rid = request_id_from(header.decode("latin-1") if header is not None else None)
        token = logs.request_id.set(rid)
        describing = scope["path"] in DESCRIBE_ROUTES
        started = time.perf_counter()
        status = 500

        started_response = False

        async def send_with_id(message):
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                status, started_response = message["status"], True
                headers = with_app_timing(message.get("headers", []), time.perf_counter() - started)
                message = {**message, "headers": [*headers, (b"x-request-id", rid.encode())]}
            await send(message)

        if describing:
            metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error", extra={"request_id": rid})
            if not started_response:
                await send_with_id({"type": "http.response.start", "status": 500,
                                    "headers": [(b"content-type", b"application/json")]})
                await send_with_id({"type": "http.response.body",
                                    "body": b'{"detail": "internal error; the request id in X-Request-Id is logged"}'})
        finally:
            if describing:
                metrics.in_flight.dec()
            route = scope.get("route")
            path = route.path if route is not None else "unmatched"
            seconds = time.perf_counter() - started
            metrics.requests.labels(path, str(status)).inc()
            metrics.latency.labels(path).observe(seconds)
            if path not in QUIET_ROUTES or status >= 400:
                log.info("request", extra={"request_id": rid, "method": scope["method"], "path": scope["path"],
                                           "status": status, "ms": round(seconds * 1000, 1)})
            logs.request_id.reset(token)


async def send_json(send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    """A JSON error answered by a middleware, before the app has read the body."""
    body = json.dumps({"detail": detail}).encode()
    extra = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *extra]})
    await send({"type": "http.response.body", "body": body})


class ApiKeyGate:
    """401 for the describe routes before the body is read or parsed: unauthenticated callers cost no parsing."""

    def __init__(self, app, hashes: list[str]):
        self.app = app
        self.hashes = hashes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not self.hashes or scope["path"] not in DESCRIBE_ROUTES:
            return await self.app(scope, receive, send)
        authorization = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"), None)
        try:
            caller_identity(authorization, None, self.hashes)
        except Unauthorized as refused:
            return await send_json(send, refused.status, str(refused), refused.headers())
        return await self.app(scope, receive, send)


class BodySizeLimit:
    """413 for bodies over the limit, by Content-Length or by counting a streamed body."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or {}).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self.reject(send)
        received = 0
        rejected = False

        async def limited_receive():
            nonlocal received, rejected
            if rejected:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    rejected = True
                    await self.reject(send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            if not rejected:  # once the 413 is out, whatever the app answers is dropped
                await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not rejected:
                raise

    async def reject(self, send):
        await send_json(send, 413, f"request body exceeds {self.max_bytes} bytes; send fewer or shorter series")
