"""The traffic governor of one source: rate, concurrency, quota and circuit breaker.

Trio-native and on ``trio.current_time()`` (no maintained rate limiter or breaker
runs on Trio), so tests drive every timing with ``autojump_clock``.

- ``TokenBucket``: the request rate, with ``hold_until`` for a provider's
  ``Retry-After`` (no request of the source is sent inside that window).
- ``AdaptiveRate``: AIMD on the bucket — halve on 429/503, climb back quickly to
  just under the rate where throttling began, then probe above it slowly.
- ``QuotaBudget``: the day's quota left (our ledger and the provider's own
  headers); a source stops cleanly before it runs out.
- ``CircuitBreaker``: closed → open after N consecutive failures → one half-open
  probe after a cooldown; after ``max_trips`` openings the source is given up.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
from collections.abc import Mapping

import attrs
import trio

from ..errors import SourceQuotaError, SourceUnavailable


class TokenBucket:
    """A token bucket: ``rate`` tokens per second, ``burst`` at most.

    ``acquire`` waits (cancellably) until a token is free and no hold is in force.
    Tasks are served in arrival order because each reserves its slot before sleeping.
    """

    def __init__(self, rate: float, burst: float = 1.0) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._stamp: float | None = None
        self._hold_until = -math.inf

    def hold_until(self, deadline: float) -> None:
        """Send nothing before ``deadline`` (Trio time); the bucket restarts empty then."""
        if deadline > self._hold_until:
            self._hold_until = deadline

    async def acquire(self) -> None:
        while True:
            now = trio.current_time()
            if self._stamp is None:
                self._stamp = now
            if now < self._hold_until:
                if self._stamp < self._hold_until:
                    # the first reservation after a hold began: restart at its end
                    self._stamp = self._hold_until
                    self._tokens = 1.0
            elif now > self._stamp:
                self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
                self._stamp = now
            self._tokens -= 1.0
            wake = self._stamp + max(0.0, -self._tokens) / self.rate
            if wake <= now:
                await trio.lowlevel.checkpoint()
                return
            await trio.sleep_until(wake)
            if trio.current_time() >= self._hold_until:
                return
            # a hold began while this task slept: reserve again behind it


class AdaptiveRate:
    """AIMD control of a bucket's rate between ``floor`` and ``ceiling`` (requests/s).

    On a throttle (429 or 503) the rate halves and the rate it was at is remembered;
    each success adds ``ceiling/20`` while under 90% of that remembered rate and only
    ``ceiling/5000`` above it, so a provider with a lower limit than documented costs
    few 429s once the rate has adapted.
    """

    def __init__(self, bucket: TokenBucket, ceiling: float, floor: float | None = None) -> None:
        self.bucket = bucket
        self.ceiling = ceiling
        self.floor = floor if floor is not None else ceiling / 50
        self._throttled_at = math.inf
        self._last_cut = -math.inf
        bucket.rate = ceiling

    @property
    def rate(self) -> float:
        return self.bucket.rate

    def throttled(self) -> None:
        now = trio.current_time()
        if now - self._last_cut < 1.0 / max(self.bucket.rate, 1e-9):
            return  # one cut per request interval: a burst of 429s is one signal
        self._last_cut = now
        self._throttled_at = self.bucket.rate
        self.bucket.rate = max(self.floor, self.bucket.rate / 2)

    def succeeded(self) -> None:
        rate = self.bucket.rate
        step = self.ceiling / 20 if rate < 0.9 * self._throttled_at else self.ceiling / 5000
        self.bucket.rate = min(self.ceiling, rate + step)


@attrs.define
class QuotaBudget:
    """The day's request quota of one source.

    ``used_before`` comes from the ledger in the database (earlier runs today);
    every request of this run counts, error responses too. A reserve is kept back so
    that a stopped source never runs the provider's quota to zero: ``reserve``
    requests when given, else ``reserve_share`` of each limit — ours, and the
    provider's own as its headers state it (``Rate-Limit``, ``RateLimit-DailyLimit``).
    """

    source: str
    daily_limit: int | None
    used_before: int = 0
    reserve: int | None = None
    reserve_share: float = 0.01
    used: int = 0
    errors: int = 0
    flushed_used: int = 0
    flushed_errors: int = 0
    provider_remaining: int | None = None
    provider_limit: int | None = None
    provider_reset: dt.datetime | None = None

    def _reserve(self, limit: int | None) -> int:
        if self.reserve is not None:
            return self.reserve
        return max(1, int(limit * self.reserve_share)) if limit else 1

    def remaining(self) -> int | None:
        """Requests left before we stop, or None when unlimited and unknown."""
        left: list[int] = []
        if self.daily_limit is not None:
            used = self.used_before + self.used
            left.append(self.daily_limit - used - self._reserve(self.daily_limit))
        if self.provider_remaining is not None:
            limit = self.provider_limit or self.provider_remaining
            left.append(self.provider_remaining - self._reserve(limit))
        return min(left) if left else None

    def check(self) -> None:
        """Raise SourceQuotaError when no request may be sent today."""
        remaining = self.remaining()
        if remaining is not None and remaining <= 0:
            total = self.used_before + self.used
            limit = f" of {self.daily_limit:,}" if self.daily_limit else ""
            raise SourceQuotaError(
                self.source,
                f"daily quota nearly used ({total:,}{limit} requests today); "
                "stopped before exhausting it",
            )

    def record(self, status: int | None) -> None:
        self.used += 1
        if status is None or status >= 400:
            self.errors += 1

    def observe_headers(self, headers: Mapping[str, str]) -> None:
        """Read the provider's own quota headers (Ticketmaster's and Yelp's)."""
        limit = headers.get("Rate-Limit") or headers.get("RateLimit-DailyLimit")
        if limit is not None and limit.strip().isdigit():
            self.provider_limit = int(limit)
        remaining = headers.get("Rate-Limit-Available") or headers.get("RateLimit-Remaining")
        if remaining is not None and remaining.strip().isdigit():
            self.provider_remaining = int(remaining)
        reset_ms = headers.get("Rate-Limit-Reset")  # epoch milliseconds
        if reset_ms is not None and reset_ms.strip().isdigit():
            with contextlib.suppress(OverflowError, OSError, ValueError):
                self.provider_reset = dt.datetime.fromtimestamp(int(reset_ms) / 1000, dt.UTC)
        reset_iso = headers.get("RateLimit-ResetTime")
        if reset_iso is not None:
            with contextlib.suppress(ValueError):
                self.provider_reset = dt.datetime.fromisoformat(reset_iso)

    def unflushed(self) -> tuple[int, int]:
        """(requests, errors) not yet written to the ledger; marks them written."""
        delta = (self.used - self.flushed_used, self.errors - self.flushed_errors)
        self.flushed_used, self.flushed_errors = self.used, self.errors
        return delta


class CircuitBreaker:
    """Closed → open after ``threshold`` consecutive failures → half-open after ``cooldown``.

    ``admit`` waits while the circuit is open (cancellably); in half-open state
    one task probes and the others wait for its outcome. When the circuit opens for
    the ``max_trips``-th time, ``admit`` raises SourceUnavailable: the source stops.
    """

    def __init__(
        self, source: str, *, threshold: int = 5, cooldown: float = 30.0, max_trips: int = 3
    ) -> None:
        self.source = source
        self.threshold = threshold
        self.cooldown = cooldown
        self.max_trips = max_trips
        self.state = "closed"
        self.trips = 0
        self.failures = 0
        self.last_error = ""
        self._reopen_at = 0.0
        self._probing = False
        self._changed = trio.Event()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def admit(self) -> None:
        while True:
            if self.state == "closed":
                await trio.lowlevel.checkpoint()
                return
            if self.state == "open":
                if self.trips >= self.max_trips:
                    raise SourceUnavailable(
                        self.source,
                        f"circuit open after {self.trips} trips of {self.threshold} consecutive "
                        f"failures (last: {self.last_error})",
                    )
                await trio.sleep_until(self._reopen_at)
                if self.state == "open":
                    self.state = "half_open"
                    self._probing = False
                continue
            # half-open: one probe at a time
            if not self._probing:
                self._probing = True
                return
            await self._changed.wait()

    def success(self) -> None:
        self.failures = 0
        if self.state != "closed":
            self.state = "closed"
            self._probing = False
            self._notify()

    def failure(self, message: str) -> None:
        self.failures += 1
        self.last_error = message
        if self.state == "half_open" or (
            self.state == "closed" and self.failures >= self.threshold
        ):
            self.state = "open"
            self.trips += 1
            self._probing = False
            self._reopen_at = trio.current_time() + self.cooldown
            self._notify()
