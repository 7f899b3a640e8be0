"""The traffic governor on virtual time: holds, AIMD, quota budget, circuit breaker."""

from __future__ import annotations

import collections
import datetime as dt
import random
from typing import Any, ClassVar

import httpx
import pytest
import trio
import trio.testing

from scenescout_cli.errors import (
    SourceQuotaError,
    SourceRateLimited,
    SourceUnavailable,
    UpstreamError,
)
from scenescout_cli.model import Area, City, Page, Query, Window
from scenescout_cli.sources.base import ApiRequest
from scenescout_cli.sources.governor import AdaptiveRate, CircuitBreaker, QuotaBudget, TokenBucket
from scenescout_cli.sources.http import RetryPolicy, SourceClient

T0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
QUERY = Query("fake", Area(0, 0, 1), Window(T0, T0 + dt.timedelta(days=1)))


class Adapter:
    name: ClassVar[str] = "fake"
    page_cap: ClassVar[int] = 100
    rate_per_second: ClassVar[float] = 5.0

    def plan(self, city: City, window: Window) -> list[Query]:
        return [QUERY]

    def request(self, query: Query, cursor: Any | None) -> ApiRequest:
        return ApiRequest("GET", "/x")

    def parse_page(self, query: Query, cursor: Any | None, status: int, body: Any) -> Page:
        if status == 429:
            raise SourceRateLimited(self.name, "slow down")
        if status >= 500:
            raise UpstreamError(self.name, f"HTTP {status}", status=status)
        return Page([], None)

    def record_id(self, record: dict[str, Any]) -> str | None:
        return None

    def normalise(self, record: dict[str, Any], fetched_at: dt.datetime) -> Any:
        raise NotImplementedError


def _client(http: httpx.AsyncClient, **kwargs: Any) -> SourceClient:
    bucket = kwargs.pop("bucket", TokenBucket(5.0))
    return SourceClient(
        adapter=Adapter(),
        base_url="https://fake.test",
        http=http,
        bucket=bucket,
        concurrency=trio.CapacityLimiter(2),
        retry=kwargs.pop("retry", RetryPolicy(max_retries=8)),
        rng=random.Random(0),
        **kwargs,
    )


async def test_no_request_is_sent_inside_a_retry_after_window(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """After a 429 with Retry-After: 10, no task of the source sends before the window ends."""
    sent: list[float] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        sent.append(trio.current_time())
        if len(sent) == 1:
            return httpx.Response(429, headers={"Retry-After": "10"}, json={})
        return httpx.Response(200, json={})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = _client(http)
        async with trio.open_nursery() as nursery:
            for _ in range(4):
                nursery.start_soon(client.fetch_page, QUERY, None)
    first = sent[0]
    assert all(t == first or t >= first + 10 for t in sent)
    assert len(sent) == 5


async def test_the_rate_adapts_to_a_stricter_provider(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Against a provider allowing 3/s (we assume 5/s), ≤ 1% of requests draw a 429 once adapted."""
    window: collections.deque[float] = collections.deque()
    outcomes: list[int] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        now = trio.current_time()
        while window and window[0] <= now - 1.0:
            window.popleft()
        if len(window) >= 3:
            outcomes.append(429)
            return httpx.Response(429, json={})
        window.append(now)
        outcomes.append(200)
        return httpx.Response(200, json={})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        bucket = TokenBucket(5.0)
        client = _client(http, bucket=bucket, adaptive=AdaptiveRate(bucket, ceiling=5.0))

        async def worker() -> None:
            for _ in range(600):
                await client.fetch_page(QUERY, None)

        async with trio.open_nursery() as nursery:
            for _ in range(2):
                nursery.start_soon(worker)
    adapted = outcomes[len(outcomes) // 4 :]
    assert adapted.count(429) / len(adapted) <= 0.01
    assert outcomes.count(200) == 1200


async def test_the_rate_recovers_after_throttling(autojump_clock: trio.testing.MockClock) -> None:
    """A halved rate climbs back to the ceiling through successes."""
    bucket = TokenBucket(5.0)
    adaptive = AdaptiveRate(bucket, ceiling=5.0)
    adaptive.throttled()
    assert bucket.rate == 2.5
    for _ in range(20):
        adaptive.succeeded()
    assert bucket.rate > 4.0


async def test_the_quota_budget_stops_before_the_limit() -> None:
    """The ledger's earlier use, this run's requests and the reserve together stop the source."""
    budget = QuotaBudget("fake", daily_limit=100, used_before=95, reserve=2)
    budget.check()
    budget.record(200)
    budget.record(500)
    budget.check()  # 1 left before the reserve
    budget.record(200)
    assert budget.errors == 1
    with pytest.raises(SourceQuotaError, match="98 of 100"):
        budget.check()
    assert budget.unflushed() == (3, 1)
    assert budget.unflushed() == (0, 0)


async def test_provider_quota_headers_are_honoured() -> None:
    """Ticketmaster's Rate-Limit-Available and Yelp's RateLimit-Remaining lower the budget."""
    budget = QuotaBudget("fake", daily_limit=None, reserve=5)
    assert budget.remaining() is None
    budget.observe_headers({"Rate-Limit-Available": "12", "Rate-Limit-Reset": "1796083200000"})
    assert budget.remaining() == 7
    assert budget.provider_reset == dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    budget.observe_headers(
        {"RateLimit-Remaining": "5", "RateLimit-ResetTime": "2026-12-02T00:00:00+00:00"}
    )
    with pytest.raises(SourceQuotaError):
        budget.check()


async def test_the_breaker_opens_probes_and_closes(autojump_clock: trio.testing.MockClock) -> None:
    """Five failures open the circuit; after the cooldown one probe runs; success closes it."""
    breaker = CircuitBreaker("fake", threshold=5, cooldown=30.0, max_trips=3)
    for _ in range(5):
        await breaker.admit()
        breaker.failure("HTTP 503")
    assert breaker.state == "open"
    start = trio.current_time()
    await breaker.admit()
    assert trio.current_time() - start == 30.0
    assert breaker.state == "half_open"
    breaker.success()
    assert breaker.state == "closed"


async def test_the_breaker_gives_the_source_up_after_max_trips(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A source that keeps failing is given up with SourceUnavailable saying why."""

    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, json={})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        breaker = CircuitBreaker("fake", threshold=3, cooldown=10.0, max_trips=2)
        client = _client(http, breaker=breaker, retry=RetryPolicy(max_retries=2))
        with pytest.raises(UpstreamError):
            await client.fetch_page(QUERY, None)  # three failures: the circuit opens
        start = trio.current_time()
        # waits out the cooldown; the probe fails and opens the circuit a second time
        with pytest.raises(SourceUnavailable, match="circuit open after 2 trips"):
            await client.fetch_page(QUERY, None)
        assert trio.current_time() - start >= 10.0


async def test_waiters_in_half_open_follow_the_probe(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """While one task probes, the others wait; when the probe succeeds they all go."""
    breaker = CircuitBreaker("fake", threshold=1, cooldown=5.0)
    breaker.failure("boom")
    admitted: list[float] = []

    async def task() -> None:
        await breaker.admit()
        admitted.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(task)
        await trio.testing.wait_all_tasks_blocked()
        await trio.sleep(5.0)
        await trio.testing.wait_all_tasks_blocked()
        assert len(admitted) == 1  # the probe
        await trio.sleep(1.0)
        breaker.success()
    assert admitted == [5.0, 6.0, 6.0]


async def test_the_reserve_follows_each_limit() -> None:
    """A large configured quota does not swallow a smaller provider quota's reserve."""
    budget = QuotaBudget("fake", daily_limit=1_000_000)
    budget.observe_headers({"Rate-Limit": "5000", "Rate-Limit-Available": "4999"})
    assert budget.remaining() == 4999 - 50
    budget.check()
    budget.observe_headers({"Rate-Limit-Available": "50"})
    with pytest.raises(SourceQuotaError):
        budget.check()
