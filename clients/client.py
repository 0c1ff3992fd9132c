"""Python clients for tsdescribe: sync and async, typed results, retries on 429/503 honouring Retry-After."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx

DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=5.0)
RETRY_STATUSES = (429, 503)


class TsdescribeError(Exception):
    """Base of every error this client raises."""


class TransportError(TsdescribeError):
    """The service could not be reached (connection refused, timeout, DNS)."""


class ClientError(TsdescribeError):
    """The service refused the request (4xx); `detail` says what to fix."""

    def __init__(self, status: int, detail: str):
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


class ServerError(TsdescribeError):
    """The service failed (5xx, or 429/503 after every retry)."""

    def __init__(self, status: int, detail: str):
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class FieldCheck:
    stated: str | None
    computed: str
    agrees: bool
    fact: str
    evidence: dict = field(default_factory=dict)  # the rules' numbers (argmax, period, outlier_indices, ...)
    times: dict | None = None  # with timestamps: the positions as times, periods in seconds


@dataclass(frozen=True)
class Result:
    """One description, as the service returned it: one sentence per field the student states (a mapping, so that
    fields added by a newer service never break this client)."""

    description: dict[str, str]
    checks: dict[str, FieldCheck] | None
    score: float | None
    repaired: list[str]
    model: dict
    usage: dict
    series: dict
    latency_ms: float
    features: dict[str, dict] | None = None  # with all_features: every label the rules computed, with evidence

    @property
    def trend(self) -> str | None:
        return self.description.get("trend")

    @property
    def noise(self) -> str | None:
        return self.description.get("noise")

    @property
    def extrema(self) -> str | None:
        return self.description.get("extrema")

    @classmethod
    def from_json(cls, body: dict) -> Result:
        checks = body.get("checks")
        return cls(
            description=dict(body["description"]),
            checks={k: FieldCheck(**{f: v[f] for f in ("stated", "computed", "agrees", "fact")},
                                  evidence=v.get("evidence") or {}, times=v.get("times"))
                    for k, v in checks.items() if isinstance(v, dict)} if checks else None,
            score=checks["score"] if checks else None,
            repaired=checks["repaired"] if checks else [],
            model=body["model"],
            usage=body["usage"],
            series=body["series"],
            latency_ms=body["latency_ms"],
            features=body.get("features"),
        )


def _request_body(series: Sequence[float | None], options: dict) -> dict:
    return {"series": list(series), **{k: v for k, v in options.items() if v is not None}}


def _retry_delay(response: httpx.Response, attempt: int, backoff: float) -> float:
    """Retry-After (seconds) when the server gives one, else exponential backoff."""
    header = response.headers.get("retry-after", "")
    try:
        return min(60.0, float(header))
    except ValueError:
        return min(60.0, backoff * 2**attempt)


def _delay_or_raise(response: httpx.Response, attempt: int, retries: int, backoff: float) -> float:
    """Seconds to wait before retrying a 429/503 with attempts left; any other failure raises."""
    if response.status_code in RETRY_STATUSES and attempt < retries:
        return _retry_delay(response, attempt, backoff)
    _raise_for(response)


def _raise_for(response: httpx.Response) -> None:
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        detail = response.text
    if 400 <= response.status_code < 500 and response.status_code not in RETRY_STATUSES:
        raise ClientError(response.status_code, str(detail))
    raise ServerError(response.status_code, str(detail))


class Client:
    """Synchronous client: `Client("http://127.0.0.1:8000").describe([1, 2, 3, ...])`."""

    def __init__(self, base_url: str = "http://127.0.0.1:8000", *, api_key: str | None = None,
                 timeout: httpx.Timeout | float = DEFAULT_TIMEOUT, retries: int = 3, backoff: float = 0.5,
                 transport: httpx.BaseTransport | None = None):
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(base_url=base_url, timeout=timeout, headers=headers, transport=transport)
        self.retries = retries
        self.backoff = backoff

    def _post(self, path: str, body: dict) -> dict:
        for attempt in range(self.retries + 1):
            try:
                response = self.http.post(path, json=body)
            except httpx.HTTPError as error:
                raise TransportError(f"{type(error).__name__}: {error}") from error
            if response.status_code == 200:
                return response.json()
            time.sleep(_delay_or_raise(response, attempt, self.retries, self.backoff))
        raise AssertionError("unreachable")

    def describe(self, series: Sequence[float | None], **options) -> Result:
        """Describe one series; options: timestamps, self_check, repair, all_features, temperature, seed, missing."""
        return Result.from_json(self._post("/describe", _request_body(series, options)))

    def describe_batch(self, batch: Sequence[Sequence[float | None]], **options) -> list[Result]:
        """Describe several series in one call (the server caps the count)."""
        body = {"series": [list(s) for s in batch], **{k: v for k, v in options.items() if v is not None}}
        return [Result.from_json(r) for r in self._post("/describe/batch", body)["results"]]

    def info(self) -> dict:
        return self.http.get("/info").json()

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class AsyncClient:
    """Asynchronous client with a bounded-concurrency helper for many series."""

    def __init__(self, base_url: str = "http://127.0.0.1:8000", *, api_key: str | None = None,
                 timeout: httpx.Timeout | float = DEFAULT_TIMEOUT, retries: int = 3, backoff: float = 0.5,
                 transport: httpx.AsyncBaseTransport | None = None):
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.AsyncClient(base_url=base_url, timeout=timeout, headers=headers, transport=transport)
        self.retries = retries
        self.backoff = backoff

    async def _post(self, path: str, body: dict) -> dict:
        for attempt in range(self.retries + 1):
            try:
                response = await self.http.post(path, json=body)
            except httpx.HTTPError as error:
                raise TransportError(f"{type(error).__name__}: {error}") from error
            if response.status_code == 200:
                return response.json()
            await asyncio.sleep(_delay_or_raise(response, attempt, self.retries, self.backoff))
        raise AssertionError("unreachable")

    async def describe(self, series: Sequence[float | None], **options) -> Result:
        return Result.from_json(await self._post("/describe", _request_body(series, options)))

    async def describe_many(self, batch: Sequence[Sequence[float | None]], concurrency: int = 8,
                            **options) -> list[Result | TsdescribeError]:
        """One request per series, at most `concurrency` at once; a failed series yields its error, in order."""
        semaphore = asyncio.Semaphore(concurrency)

        async def one(series):
            async with semaphore:
                try:
                    return await self.describe(series, **options)
                except TsdescribeError as error:
                    return error

        return list(await asyncio.gather(*(one(s) for s in batch)))

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()
