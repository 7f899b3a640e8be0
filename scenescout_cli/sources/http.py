"""HTTP for every source, in one place: rate limit, concurrency cap, per-request
deadline, bounded retries with jittered backoff, and the translation of httpx and
JSON errors into our ``SourceError`` tree (the one seam for httpx).

All timing reads Trio's clock, so tests drive it with ``autojump_clock``.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import attrs
import httpx
import trio

from ..errors import SourceError, SourceRateLimited, UpstreamError
from ..model import Page, Query
from .base import ApiRequest, SourceAdapter

REDACTED = "***"
#: A Retry-After longer than this is treated as this long (the query's deadline decides).
MAX_RETRY_AFTER = 3600.0
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class TokenBucket:
    """A token bucket on ``trio.current_time()``: ``rate`` tokens per second, ``burst`` at most.

    ``acquire`` waits (cancellably) until a token is free. Tasks are served in
    arrival order because each reserves its slot before sleeping.
    """

    def __init__(self, rate: float, burst: float = 1.0) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._stamp: float | None = None

    async def acquire(self) -> None:
        now = trio.current_time()
        if self._stamp is None:
            self._stamp = now
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        self._tokens -= 1.0
        if self._tokens >= 0:
            await trio.lowlevel.checkpoint()
            return
        await trio.sleep(-self._tokens / self.rate)


@attrs.frozen
class RetryPolicy:
    """How often and how patiently a failed request is tried again.

    Delay before try n (n ≥ 1): uniform in [0, min(max_backoff, base * multiplier**(n-1))]
    ("full jitter"), and never shorter than a ``Retry-After`` the server sent.
    """

    max_retries: int = 4
    base: float = 0.5
    multiplier: float = 2.0
    max_backoff: float = 30.0

    def delay(self, retry: int, rng: random.Random) -> float:
        ceiling = min(self.max_backoff, self.base * self.multiplier ** (retry - 1))
        return rng.uniform(0, ceiling)


def redacted_url(url: httpx.URL | str, secret_params: frozenset[str]) -> str:
    """``url`` with the values of ``secret_params`` replaced, safe to log, show or store."""
    url = httpx.URL(str(url))
    if not secret_params or not url.query:
        return str(url)
    params = [(k, REDACTED if k in secret_params else v) for k, v in url.params.multi_items()]
    return str(url.copy_with(query=urlencode(params, safe="*,:").encode()))


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP-date: rare from APIs; fall back to our own backoff
    if not math.isfinite(seconds):
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER)


@attrs.define
class SourceClient:
    """Sends one source's requests and parses its pages.

    ``fetch_page`` is the whole contract: it returns a ``Page`` or raises a
    ``SourceError``; it retries what is worth retrying (transport errors, timeouts,
    429 rate limits, 500/502/503/504, truncated or malformed JSON) and nothing else.
    Cancellation propagates at once, mid-request or mid-backoff.
    """

    adapter: SourceAdapter
    base_url: str
    http: httpx.AsyncClient
    bucket: TokenBucket
    concurrency: trio.CapacityLimiter
    request_timeout: float = 30.0
    retry: RetryPolicy = RetryPolicy()
    rng: random.Random = attrs.field(factory=random.Random)
    on_request: Callable[[int | None], None] = lambda status: None
    on_retry: Callable[[SourceError], None] = lambda exc: None

    def build(self, api_request: ApiRequest) -> httpx.Request:
        url = self.base_url.rstrip("/") + "/" + api_request.path.lstrip("/")
        return self.http.build_request(
            api_request.method,
            url,
            params=api_request.params or None,
            headers=api_request.headers or None,
            json=api_request.json,
        )

    async def fetch_page(self, query: Query, cursor: Any | None) -> Page:
        api_request = self.adapter.request(query, cursor)
        retries = 0
        while True:
            try:
                return await self._attempt(query, cursor, api_request)
            except _Retryable as exc:
                retries += 1
                if retries > self.retry.max_retries:
                    raise exc.error from None
                self.on_retry(exc.error)
                delay = self.retry.delay(retries, self.rng)
                if exc.retry_after is not None:
                    delay = max(delay, exc.retry_after)
                await trio.sleep(delay)

    async def _attempt(self, query: Query, cursor: Any | None, api_request: ApiRequest) -> Page:
        name = self.adapter.name
        request = self.build(api_request)
        safe_url = redacted_url(request.url, api_request.secret_params)
        await self.bucket.acquire()
        async with self.concurrency:
            with trio.move_on_after(self.request_timeout) as scope:
                try:
                    response = await self.http.send(request)
                except httpx.HTTPError as exc:
                    self.on_request(None)
                    # httpx messages may quote the URL; ours never does.
                    raise _Retryable(
                        UpstreamError(name, f"{type(exc).__name__} on {_path(safe_url)}")
                    ) from None
            if scope.cancelled_caught:
                self.on_request(None)
                raise _Retryable(
                    UpstreamError(
                        name, f"no answer within {self.request_timeout:g}s on {_path(safe_url)}"
                    )
                )
        self.on_request(response.status_code)
        try:
            body = response.json() if response.content else None
        except (json.JSONDecodeError, UnicodeDecodeError):
            if response.status_code < 400:
                raise _Retryable(
                    UpstreamError(
                        name,
                        f"HTTP {response.status_code}: malformed JSON body on {_path(safe_url)}",
                    ),
                    _retry_after(response),
                ) from None
            body = None  # an error page in HTML or text: the adapter classifies the status
        try:
            return self.adapter.parse_page(query, cursor, response.status_code, body)
        except SourceRateLimited as exc:
            raise _Retryable(exc, _retry_after(response)) from None
        except UpstreamError as exc:
            if response.status_code in _RETRY_STATUSES:
                raise _Retryable(exc, _retry_after(response)) from None
            raise


class _Retryable(Exception):
    """Internal: an attempt failed in a way worth trying again."""

    def __init__(self, error: SourceError, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


def _path(url: str) -> str:
    """The path of a (redacted) URL, short enough for a one-line message."""
    parsed = httpx.URL(url)
    return parsed.path


def backoff_bound(policy: RetryPolicy) -> float:
    """The longest total backoff a policy can sleep (for documentation and tests)."""
    return math.fsum(
        min(policy.max_backoff, policy.base * policy.multiplier ** (n - 1))
        for n in range(1, policy.max_retries + 1)
    )
