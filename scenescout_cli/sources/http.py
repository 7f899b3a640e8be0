"""HTTP for every source, in one place: the governor (rate, AIMD, quota, breaker —
``governor.py``), a concurrency cap, per-request deadlines, bounded retries with
jittered backoff, and the translation of httpx and JSON errors into our
``SourceError`` tree (the one seam for httpx).

All timing reads Trio's clock, so tests drive it with ``autojump_clock``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import attrs
import httpx
import trio

from .. import jsonio
from ..errors import SourceError, SourceRateLimited, UpstreamError
from ..model import Page, Query
from .base import ApiRequest, SourceAdapter
from .governor import AdaptiveRate, CircuitBreaker, QuotaBudget, TokenBucket

__all__ = ["RetryPolicy", "SourceClient", "TokenBucket", "redacted_url"]

REDACTED = "***"
#: A Retry-After longer than this is treated as this long (the query's deadline decides).
MAX_RETRY_AFTER = 3600.0
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


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


_DRAINED = httpx.ByteStream(b"")


def _release(response: httpx.Response) -> None:
    """Break the reference cycle of a read response (httpx's ``Response.stream`` is a
    stream that points back at its response), so that it and its body — a page of up
    to ~1 MB — are freed as soon as the last reference goes, not at the next
    collection of the cyclic garbage collector. The body was read and the stream
    closed by ``send``."""
    response.stream = _DRAINED


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
    adaptive: AdaptiveRate | None = None
    breaker: CircuitBreaker | None = None
    quota: QuotaBudget | None = None
    on_request: Callable[[int | None], None] = lambda status: None
    on_retry: Callable[[SourceError], None] = lambda exc: None

    def build(self, api_request: ApiRequest) -> httpx.Request:
        path = api_request.path.lstrip("/")
        url = self.base_url.rstrip("/") + ("/" + path if path else "")
        return self.http.build_request(
            api_request.method,
            url,
            params=api_request.params or None,
            headers=api_request.headers or None,
            json=api_request.json,
        )

    async def fetch_page(self, query: Query, cursor: Any | None, *, packed: bool = False) -> Page:
        """One page of ``query``. ``packed``: its records come as ``jsonio.PackedRecords``,
        parsed and packed with the garbage collector paused (a crawl's pages: see
        ``jsonio.collector_paused``)."""
        api_request = self.adapter.request(query, cursor)
        retries = 0
        while True:
            try:
                return await self._attempt(query, cursor, api_request, packed)
            except _Retryable as exc:
                retries += 1
                if retries > self.retry.max_retries:
                    raise exc.error from None
                self.on_retry(exc.error)
                delay = self.retry.delay(retries, self.rng)
                if exc.retry_after is not None:
                    delay = max(delay, exc.retry_after)
                await trio.sleep(delay)

    async def _attempt(
        self, query: Query, cursor: Any | None, api_request: ApiRequest, packed: bool
    ) -> Page:
        name = self.adapter.name
        request = self.build(api_request)
        safe_url = redacted_url(request.url, api_request.secret_params)
        if self.quota is not None:
            self.quota.check()
        if self.breaker is not None:
            await self.breaker.admit()
        await self.bucket.acquire()
        async with self.concurrency:
            with trio.move_on_after(self.request_timeout) as scope:
                try:
                    response = await self.http.send(request)
                except httpx.HTTPError as exc:
                    self._sent(None)
                    # httpx messages may quote the URL; ours never does.
                    raise self._failed(
                        UpstreamError(name, f"{type(exc).__name__} on {_path(safe_url)}")
                    ) from None
            if scope.cancelled_caught:
                self._sent(None)
                raise self._failed(
                    UpstreamError(
                        name, f"no answer within {self.request_timeout:g}s on {_path(safe_url)}"
                    )
                )
        status = response.status_code
        self._sent(status)
        self._observe(response)
        try:
            with jsonio.collector_paused():
                page = self._parse(query, cursor, response, safe_url, packed)
        finally:
            _release(response)
        if self.breaker is not None:
            self.breaker.success()
        if self.adaptive is not None:
            self.adaptive.succeeded()
        return page

    def _parse(
        self,
        query: Query,
        cursor: Any | None,
        response: httpx.Response,
        safe_url: str,
        packed: bool,
    ) -> Page:
        """The response's page, or the ``SourceError`` (or ``_Retryable``) it means."""
        name = self.adapter.name
        status = response.status_code
        exact = True
        try:
            if response.content:
                body, exact = jsonio.loads_exact(response.content)
            else:
                body = None
        except (ValueError, UnicodeDecodeError):
            if status < 400:
                raise self._failed(
                    UpstreamError(
                        name,
                        f"HTTP {status}: malformed JSON body on {_path(safe_url)}",
                        status=status,
                    ),
                    _retry_after(response),
                ) from None
            body = None  # an error page in HTML or text: the adapter classifies the status
        try:
            page = self.adapter.parse_page(query, cursor, status, body)
        except SourceRateLimited as exc:
            raise _Retryable(exc, _retry_after(response)) from None
        except UpstreamError as exc:
            if status in _RETRY_STATUSES:
                raise self._failed(exc, _retry_after(response)) from None
            raise
        if packed:
            records = jsonio.PackedRecords.pack(page.records, exact_json=exact)
            page = attrs.evolve(page, records=records)
        return page

    def _observe(self, response: httpx.Response) -> None:
        """Feed the governor: quota headers, throttling, Retry-After."""
        if self.quota is not None:
            self.quota.observe_headers(response.headers)
        if response.status_code in (429, 503) and self.adaptive is not None:
            self.adaptive.throttled()
        retry_after = _retry_after(response)
        if retry_after is not None:
            self.bucket.hold_until(trio.current_time() + retry_after)

    def _sent(self, status: int | None) -> None:
        """Count one request that left (status None: no response): figures and quota."""
        self.on_request(status)
        if self.quota is not None:
            self.quota.record(status)

    def _failed(self, error: SourceError, retry_after: float | None = None) -> _Retryable:
        """A retryable failure that counts against the circuit breaker."""
        if self.breaker is not None:
            self.breaker.failure(str(error))
        return _Retryable(error, retry_after)


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
