"""The HTTP layer on virtual time: retries, backoff, Retry-After, timeouts, limits, redaction."""

from __future__ import annotations

import datetime as dt
import random
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, ClassVar

import httpx
import pytest
import trio
import trio.testing

from scenescout_cli.errors import (
    RecordRejected,
    SourceAuthError,
    SourceError,
    SourceRateLimited,
    UpstreamError,
)
from scenescout_cli.model import Area, City, Event, Page, Query, Window
from scenescout_cli.sources.base import ApiRequest, SourceAdapter
from scenescout_cli.sources.http import (
    REDACTED,
    RetryPolicy,
    SourceClient,
    TokenBucket,
    backoff_bound,
    redacted_url,
)

KEY = "SECRET-KEY"
BASE_URL = "https://api.example.test/v2"
TIMEOUT = 10.0
QUERY = Query(
    "fake",
    Area(40.0, -74.0, 5.0),
    Window(dt.datetime(2026, 7, 1, tzinfo=dt.UTC), dt.datetime(2026, 7, 2, tzinfo=dt.UTC)),
)
RECORDS = [{"id": "a"}, {"id": "b"}]

# Full-jitter draws of the seeded rng for retries 1..4 under the default policy
# (ceilings 0.5, 1, 2, 4 s), computed here without RetryPolicy.
_rng = random.Random(0)
J = [_rng.uniform(0, ceiling) for ceiling in (0.5, 1.0, 2.0, 4.0)]


class FakeAdapter:
    """A provider whose status codes map onto the SourceError tree the usual way."""

    name: ClassVar[str] = "fake"
    page_cap: ClassVar[int] = 1000
    rate_per_second: ClassVar[float] = 1000.0

    def plan(self, city: City, window: Window) -> list[Query]:
        return [Query(self.name, city.area, window)]

    def request(self, query: Query, cursor: Any | None) -> ApiRequest:
        return ApiRequest(
            "GET",
            "/events.json",
            params={"apikey": KEY, "page": str(cursor or 0)},
            secret_params=frozenset({"apikey"}),
        )

    def parse_page(self, query: Query, cursor: Any | None, status: int, body: Any) -> Page:
        if status == 401:
            raise SourceAuthError(self.name, "key refused")
        if status == 429:
            raise SourceRateLimited(self.name, "HTTP 429")
        if not 200 <= status < 300:
            raise UpstreamError(self.name, f"HTTP {status}")
        return Page(body["events"], body.get("next"), len(body["events"]))

    def record_id(self, record: dict[str, Any]) -> str | None:
        return record.get("id")

    def normalise(self, record: dict[str, Any], fetched_at: dt.datetime) -> Event:
        raise RecordRejected("not_used")


_: type[SourceAdapter] = FakeAdapter  # the fake satisfies the protocol


# ---------------------------------------------------------------- the fake server

Step = Callable[[httpx.Request], Awaitable[httpx.Response]]


def status(code: int, retry_after: str | None = None) -> Step:
    async def step(request: httpx.Request) -> httpx.Response:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        return httpx.Response(code, json={"error": code}, headers=headers)

    return step


def ok(next_cursor: int | None = None) -> Step:
    async def step(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"events": RECORDS, "next": next_cursor})

    return step


def body(code: int, content: bytes) -> Step:
    async def step(request: httpx.Request) -> httpx.Response:
        return httpx.Response(code, content=content)

    return step


async def connect_error(request: httpx.Request) -> httpx.Response:
    # Worst case: the transport error quotes the full URL, key included.
    raise httpx.ConnectError(f"cannot connect to {request.url}", request=request)


async def hang(request: httpx.Request) -> httpx.Response:
    await trio.sleep_forever()
    raise AssertionError("unreachable")


class Server:
    """Answers each request with the next scripted step; records when requests arrive."""

    def __init__(self, steps: Sequence[Step]) -> None:
        self.steps = list(steps)
        self.times: list[float] = []
        self.requests: list[httpx.Request] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.times.append(trio.current_time())
        self.requests.append(request)
        if not self.steps:
            raise AssertionError(f"unscripted request #{len(self.requests)}")
        return await self.steps.pop(0)(request)

    def gaps(self) -> list[float]:
        return [b - a for a, b in zip(self.times, self.times[1:], strict=False)]


@asynccontextmanager
async def source_client(
    server: Server, retry: RetryPolicy | None = None, **hooks: Any
) -> AsyncIterator[SourceClient]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(server)) as http:
        yield SourceClient(
            adapter=FakeAdapter(),
            base_url=BASE_URL,
            http=http,
            bucket=TokenBucket(1000.0, burst=1000.0),
            concurrency=trio.CapacityLimiter(2),
            request_timeout=TIMEOUT,
            retry=retry or RetryPolicy(),
            rng=random.Random(0),
            **hooks,
        )


def assert_no_key(exc: BaseException) -> None:
    """Neither the message, the repr nor the printed traceback carries the key."""
    for text in (str(exc), repr(exc), "".join(traceback.format_exception(exc))):
        assert KEY not in text


# ---------------------------------------------------------------- fetch_page scenarios

SCENARIOS = [
    # (server script, gaps between successive requests in virtual seconds, error raised)
    pytest.param([ok()], [], None, id="ok"),
    pytest.param([status(503), status(503), ok()], [J[0], J[1]], None, id="503-burst"),
    pytest.param(
        [status(500), status(502), status(504), ok()], [J[0], J[1], J[2]], None, id="5xx-mix"
    ),
    pytest.param([status(429, retry_after="7"), ok()], [7.0], None, id="429-retry-after"),
    pytest.param(
        [status(503, retry_after="3"), ok()],
        [3.0],
        None,
        id="503-retry-after",
    ),
    pytest.param(
        [status(429, retry_after="0.1"), ok()],
        [J[0]],
        None,
        id="retry-after-below-backoff",
    ),
    pytest.param(
        [status(429, retry_after="Wed, 21 Oct 2026 07:28:00 GMT"), ok()],
        [J[0]],
        None,
        id="retry-after-http-date",
    ),
    pytest.param([status(429)] * 5, J, SourceRateLimited, id="429-exhausted"),
    pytest.param([status(401)], [], SourceAuthError, id="401"),
    pytest.param([status(400)], [], UpstreamError, id="400"),
    pytest.param([status(404)], [], UpstreamError, id="404"),
    pytest.param([body(200, b'{"a": '), ok()], [J[0]], None, id="truncated-json"),
    pytest.param([body(200, b"\xff\xfe{"), ok()], [J[0]], None, id="undecodable-body"),
    pytest.param([body(503, b"<html>busy</html>"), ok()], [J[0]], None, id="503-html"),
    pytest.param([body(400, b"<html>bad</html>")], [], UpstreamError, id="400-html"),
    pytest.param([connect_error, ok()], [J[0]], None, id="connect-error-once"),
    pytest.param([connect_error] * 5, J, UpstreamError, id="connect-error-exhausted"),
    pytest.param([hang, ok()], [TIMEOUT + J[0]], None, id="timeout-then-ok"),
    pytest.param(
        [hang] * 5,
        [TIMEOUT + j for j in J],
        UpstreamError,
        id="timeout-exhausted",
    ),
]


@pytest.mark.parametrize(("steps", "gaps", "error"), SCENARIOS)
async def test_fetch_page(
    autojump_clock: trio.testing.MockClock,
    steps: list[Step],
    gaps: list[float],
    error: type[SourceError] | None,
) -> None:
    """Each scripted server gets exactly the expected requests, at the expected virtual times."""
    server = Server(steps)
    async with source_client(server) as client:
        if error is None:
            page = await client.fetch_page(QUERY, None)
            assert page == Page(RECORDS, None, len(RECORDS))
        else:
            with pytest.raises(error) as info:
                await client.fetch_page(QUERY, None)
            assert_no_key(info.value)
            assert str(info.value).startswith("fake: ")
    assert not server.steps, "fewer requests than scripted"
    assert server.gaps() == pytest.approx(gaps, abs=1e-9)


async def test_packed_page_is_parsed_and_packed_with_the_collector_paused(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """``packed=True``: the same records, as one JSON blob, parsed and packed while the
    garbage collector is off (so a page's objects never reach its older generations);
    the collector is on again afterwards, also when the page was an error."""
    import gc

    from scenescout_cli import jsonio

    seen: list[bool] = []
    parse = FakeAdapter.parse_page

    def spying(self: FakeAdapter, *args: Any) -> Page:
        seen.append(gc.isenabled())
        return parse(self, *args)

    server = Server([ok(next_cursor=2), status(401)])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(FakeAdapter, "parse_page", spying)
        async with source_client(server) as client:
            page = await client.fetch_page(QUERY, None, packed=True)
            assert gc.isenabled()
            with pytest.raises(SourceAuthError):
                await client.fetch_page(QUERY, None, packed=True)
            assert gc.isenabled()
    assert seen == [False, False]
    assert isinstance(page.records, jsonio.PackedRecords)
    assert list(page.records) == RECORDS
    assert (page.next_cursor, page.total) == (2, len(RECORDS))


async def test_a_read_response_is_freed_without_the_cycle_collector(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """httpx's response and its stream point at each other; once the page is read the
    client breaks that cycle, so the response and its body (a page of up to ~1 MB) go
    as soon as nothing refers to them, here with the cyclic collector off (a crawl's
    main process collects rarely: ``tune_gc``). Also after an error status."""
    import gc
    import weakref

    responses: list[weakref.ref[httpx.Response]] = []

    def remembered(step: Step) -> Step:
        async def answer(request: httpx.Request) -> httpx.Response:
            response = await step(request)
            responses.append(weakref.ref(response))
            return response

        return answer

    server = Server([remembered(ok()), remembered(status(401))])
    gc.collect()
    gc.disable()
    try:
        async with source_client(server) as client:
            await client.fetch_page(QUERY, None, packed=True)
            with pytest.raises(SourceAuthError):
                await client.fetch_page(QUERY, None)
            assert len(responses) == 2
            assert [ref() for ref in responses] == [None, None]
    finally:
        gc.enable()


async def test_request_is_sent_with_key_and_cursor(autojump_clock: trio.testing.MockClock) -> None:
    """The adapter's request goes to base URL + path, key included, cursor as ``page``."""
    server = Server([ok(next_cursor=4)])
    async with source_client(server) as client:
        page = await client.fetch_page(QUERY, 3)
    assert page.next_cursor == 4
    (request,) = server.requests
    assert request.method == "GET"
    assert request.url.host == "api.example.test"
    assert request.url.path == "/v2/events.json"
    assert dict(request.url.params) == {"apikey": KEY, "page": "3"}


async def test_timeout_gives_up_at_request_timeout(autojump_clock: trio.testing.MockClock) -> None:
    """A server that never answers is abandoned exactly ``request_timeout`` seconds in."""
    server = Server([hang])
    failures: list[SourceError] = []
    async with source_client(
        server, RetryPolicy(max_retries=0), on_request=lambda s: None, on_retry=failures.append
    ) as client:
        start = trio.current_time()
        with pytest.raises(UpstreamError, match=r"no answer within 10s on /v2/events\.json"):
            await client.fetch_page(QUERY, None)
        assert trio.current_time() - start == pytest.approx(TIMEOUT)
    assert failures == []


@pytest.mark.parametrize("max_retries", [0, 1, 3, 6])
async def test_retries_are_bounded(
    autojump_clock: trio.testing.MockClock, max_retries: int
) -> None:
    """A source that keeps failing gets ``max_retries`` + 1 attempts, then the last error."""
    server = Server([status(503)] * (max_retries + 1))
    retried: list[SourceError] = []
    statuses: list[int | None] = []
    async with source_client(
        server,
        RetryPolicy(max_retries=max_retries),
        on_retry=retried.append,
        on_request=statuses.append,
    ) as client:
        with pytest.raises(UpstreamError, match="HTTP 503"):
            await client.fetch_page(QUERY, None)
    assert len(server.requests) == max_retries + 1
    assert len(retried) == max_retries
    assert statuses == [503] * (max_retries + 1)


async def test_hooks_see_statuses_and_retried_errors(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """``on_request`` gets each status (None for no response); ``on_retry`` each retried error."""
    server = Server([connect_error, hang, status(429), ok()])
    retried: list[SourceError] = []
    statuses: list[int | None] = []
    async with source_client(server, on_retry=retried.append, on_request=statuses.append) as c:
        await c.fetch_page(QUERY, None)
    assert statuses == [None, None, 429, 200]
    assert [type(e) for e in retried] == [UpstreamError, UpstreamError, SourceRateLimited]
    for error in retried:
        assert_no_key(error)


async def test_backoff_within_full_jitter_bounds(autojump_clock: trio.testing.MockClock) -> None:
    """Retry n waits uniform(0, min(max_backoff, base·multiplier^(n-1))) from the seeded rng."""
    policy = RetryPolicy(max_retries=6, base=1.0, multiplier=3.0, max_backoff=5.0)
    ceilings = [1.0, 3.0, 5.0, 5.0, 5.0, 5.0]
    server = Server([status(503)] * 7)
    async with source_client(server, policy) as client:
        with pytest.raises(UpstreamError):
            await client.fetch_page(QUERY, None)
    gaps = server.gaps()
    rng = random.Random(0)
    assert gaps == pytest.approx([rng.uniform(0, c) for c in ceilings], abs=1e-9)
    assert all(0 <= gap <= ceiling for gap, ceiling in zip(gaps, ceilings, strict=True))
    assert sum(gaps) <= backoff_bound(policy) == sum(ceilings)


def test_retry_policy_delay_bounds() -> None:
    """Over many seeds, every delay lies in [0, min(max_backoff, base·multiplier^(n-1))]."""
    policy = RetryPolicy(max_retries=8, base=0.25, multiplier=2.0, max_backoff=4.0)
    for seed in range(200):
        rng = random.Random(seed)
        for n in range(1, 9):
            assert 0 <= policy.delay(n, rng) <= min(4.0, 0.25 * 2 ** (n - 1))


async def test_non_finite_retry_after_falls_back_to_backoff(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A Retry-After that is not a finite number of seconds is ignored like an HTTP-date."""
    server = Server([status(429, retry_after="inf"), ok()])
    async with source_client(server) as client:
        with trio.fail_after(24 * 3600):
            await client.fetch_page(QUERY, None)
    assert server.gaps() == pytest.approx([J[0]])


@pytest.mark.parametrize(
    ("code", "error"),
    [
        pytest.param(401, SourceAuthError, id="401"),
        pytest.param(429, SourceRateLimited, id="429"),
    ],
)
async def test_error_status_with_non_json_body_reaches_adapter(
    autojump_clock: trio.testing.MockClock, code: int, error: type[SourceError]
) -> None:
    """The adapter classifies an error status even when the body is not JSON."""
    server = Server([body(code, b"<html>Unauthorized</html>")])
    async with source_client(server, RetryPolicy(max_retries=0)) as client:
        with pytest.raises(error):
            await client.fetch_page(QUERY, None)


# ---------------------------------------------------------------- cancellation


async def test_cancel_during_backoff_is_immediate(autojump_clock: trio.testing.MockClock) -> None:
    """A cancelled fetch stops in the middle of a Retry-After wait, at the deadline exactly."""
    server = Server([status(429, retry_after="100")])
    async with source_client(server) as client:
        start = trio.current_time()
        with trio.move_on_after(5) as scope:
            await client.fetch_page(QUERY, None)
    assert scope.cancelled_caught
    assert trio.current_time() - start == pytest.approx(5.0)
    assert len(server.requests) == 1


async def test_cancel_during_request_is_not_retried(autojump_clock: trio.testing.MockClock) -> None:
    """Cancelling a fetch mid-request propagates instead of counting as a timeout."""
    server = Server([hang])
    retried: list[SourceError] = []
    async with source_client(server, on_retry=retried.append) as client:
        start = trio.current_time()
        with trio.move_on_after(3) as scope:
            await client.fetch_page(QUERY, None)
    assert scope.cancelled_caught
    assert trio.current_time() - start == pytest.approx(3.0)
    assert retried == []


# ---------------------------------------------------------------- secrets


@pytest.mark.parametrize(
    "steps",
    [
        pytest.param([status(503)], id="5xx"),
        pytest.param([status(400)], id="4xx"),
        pytest.param([status(401)], id="401"),
        pytest.param([status(429)], id="429"),
        pytest.param([body(200, b"{")], id="bad-json"),
        pytest.param([body(403, b"nope")], id="bad-json-4xx"),
        pytest.param([connect_error], id="connect"),
        pytest.param([hang], id="timeout"),
    ],
)
async def test_key_never_in_errors(
    autojump_clock: trio.testing.MockClock, steps: list[Step]
) -> None:
    """No raised error — message, repr or printed traceback — carries the API key."""
    async with source_client(Server(steps), RetryPolicy(max_retries=0)) as client:
        with pytest.raises(SourceError) as info:
            await client.fetch_page(QUERY, None)
    assert_no_key(info.value)


@pytest.mark.parametrize(
    ("url", "secrets", "params"),
    [
        (
            f"{BASE_URL}/events.json?apikey={KEY}&page=2&city=New%20York",
            {"apikey"},
            [("apikey", REDACTED), ("page", "2"), ("city", "New York")],
        ),
        (
            f"{BASE_URL}/events.json?token={KEY}&apikey={KEY}&apikey={KEY}2&q=a,b",
            {"apikey", "token"},
            [("token", REDACTED), ("apikey", REDACTED), ("apikey", REDACTED), ("q", "a,b")],
        ),
        (f"{BASE_URL}/events.json?page=1", {"apikey"}, [("page", "1")]),
        (f"{BASE_URL}/events.json", {"apikey"}, []),
    ],
)
def test_redacted_url(url: str, secrets: set[str], params: list[tuple[str, str]]) -> None:
    """Secret parameters are replaced, others keep their values and order, the path stays."""
    safe = redacted_url(httpx.URL(url), frozenset(secrets))
    assert KEY not in safe
    parsed = httpx.URL(safe)
    assert (parsed.scheme, parsed.host, parsed.path) == (
        "https",
        "api.example.test",
        "/v2/events.json",
    )
    assert parsed.params.multi_items() == params


def test_redacted_url_without_secrets_is_unchanged() -> None:
    """With no secret parameters the URL is returned as it was."""
    url = f"{BASE_URL}/events.json?apikey=public&page=0"
    assert redacted_url(url, frozenset()) == url


# ---------------------------------------------------------------- the token bucket


def at_most_per_second(times: list[float], limit: int) -> bool:
    """No half-open one-second window holds more than ``limit`` of ``times``."""
    return all(b - a >= 1.0 - 1e-9 for a, b in zip(times, times[limit:], strict=False))


async def test_token_bucket_spaces_sequential_acquisitions(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """At 5/s (burst 1) ten acquisitions happen at 0, 0.2, …, 1.8 s."""
    bucket = TokenBucket(rate=5)
    start = trio.current_time()
    times = []
    for _ in range(10):
        await bucket.acquire()
        times.append(trio.current_time() - start)
    assert times == pytest.approx([i * 0.2 for i in range(10)], abs=1e-9)
    assert times[-1] - times[0] >= 1.8 - 1e-9
    assert at_most_per_second(times, 5)


async def test_token_bucket_serves_concurrent_tasks_in_arrival_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Ten tasks arriving together are let through 0.2 s apart, in the order they arrived."""
    bucket = TokenBucket(rate=5)
    start = trio.current_time()
    served: list[tuple[int, float]] = []

    async def take(i: int) -> None:
        await bucket.acquire()
        served.append((i, trio.current_time() - start))

    async with trio.open_nursery() as nursery:
        for i in range(10):
            nursery.start_soon(take, i)
            await trio.testing.wait_all_tasks_blocked()
    assert [i for i, _ in served] == list(range(10))
    times = [t for _, t in served]
    assert times == pytest.approx([i * 0.2 for i in range(10)], abs=1e-9)
    assert at_most_per_second(times, 5)


async def test_token_bucket_burst_then_rate(autojump_clock: trio.testing.MockClock) -> None:
    """A full bucket lets ``burst`` through at once, then refills at ``rate``; idle time caps."""
    bucket = TokenBucket(rate=2, burst=3)
    start = trio.current_time()
    times = []
    for _ in range(5):
        await bucket.acquire()
        times.append(trio.current_time() - start)
    assert times == pytest.approx([0, 0, 0, 0.5, 1.0], abs=1e-9)
    await trio.sleep(100)  # refills to burst, not to 200 tokens
    resumed = trio.current_time()
    for _ in range(4):
        await bucket.acquire()
    assert trio.current_time() - resumed == pytest.approx(0.5)


@pytest.mark.parametrize("rate", [0.0, -1.0])
def test_token_bucket_rejects_non_positive_rate(rate: float) -> None:
    """A rate of zero or less is refused."""
    with pytest.raises(ValueError, match="rate must be positive"):
        TokenBucket(rate)
