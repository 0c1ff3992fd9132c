"""The service's one exception tree: each error carries its HTTP status, Retry-After and metric label; app.py maps
the base class to a response once."""

from __future__ import annotations


class ServiceError(Exception):
    """Base of every error the service answers with a status other than 200."""

    status: int = 500
    retry_after: int | None = None  # seconds, sent as Retry-After
    reason: str | None = None  # label of tsd_rejected_requests, for errors counted there

    def __init__(self, message: str, retry_after: int | None = None):
        super().__init__(message)
        if retry_after is not None:
            self.retry_after = retry_after

    def headers(self) -> dict[str, str] | None:
        return {"Retry-After": str(self.retry_after)} if self.retry_after is not None else None


class ClientError(ServiceError, ValueError):
    """The request can't be served as sent; the message says what to fix (422)."""

    status = 422


class SeriesError(ClientError):
    """A series the client sent cannot be described; the message says what to fix."""


class UnsupportedRequest(ClientError):
    """The request asks for something this engine cannot do (a client-side fix exists)."""


class TooLarge(ClientError):
    """More series in one call than the engine may run at once: it could never be admitted."""


class DeploymentError(ClientError):
    """An activation the operator can fix: unknown adapter directory, missing files, nothing to roll back to."""


class DeploymentBusy(ServiceError):
    """Another activation is already running."""

    status = 409


class Overloaded(ServiceError):
    """Both the running and the waiting places are taken: the client should retry after `retry_after` seconds."""

    status = 429
    retry_after = 1
    reason = "overloaded"


class RateLimited(ServiceError):
    """This API key spent its budget for the current window."""

    status = 429
    reason = "rate_limited"


class DeadlineExceeded(ServiceError):
    """The request did not finish within TSD_REQUEST_TIMEOUT_S (queue wait included)."""

    status = 504
    reason = "deadline"


class EngineUnavailable(ServiceError):
    """The engine is not loaded, died, or cannot be reached: retry later or elsewhere."""

    status = 503
    retry_after = 5


class EngineDead(EngineUnavailable):
    """The engine died and won't come back: the process should exit so that it is restarted."""


class ShuttingDown(ServiceError):
    """The instance is draining after SIGTERM: it takes no new work; another instance (or this one, restarted) will."""

    status = 503
    retry_after = 2
    reason = "shutting_down"


class InsufficientMemory(ServiceError):
    """A second engine for a merge-mode swap would not fit in the configured memory; the current one keeps serving."""

    status = 503
    retry_after = 60


class ModelOutputError(ServiceError):
    """The engine's output could not be read as a description (a server-side fault, not the client's)."""

    status = 502
