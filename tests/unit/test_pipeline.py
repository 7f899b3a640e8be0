"""Pipeline behaviour on virtual time: completion, splitting, back-pressure, cancellation."""

from __future__ import annotations

import datetime as dt
import functools
import random
import weakref

import attrs
import httpx
import trio
import trio.testing
from trio.testing import wait_all_tasks_blocked

from scenescout_cli.model import Event, Page, Query, Reject, Window
from scenescout_cli.pipeline import capacities
from scenescout_cli.pipeline.discovery import SourceRuntime, run_query
from scenescout_cli.pipeline.messages import QuerySplit, RawPage
from scenescout_cli.pipeline.planner import SplitMemory
from scenescout_cli.pipeline.run import run_pipeline
from scenescout_cli.pipeline.stats import RunStats, SourceStats
from scenescout_cli.pipeline.storage import store_items
from scenescout_cli.sources.http import RetryPolicy, SourceClient, TokenBucket
from scenescout_cli.store.db import WriteResult

from .fake_source import CITY, T0, FakeAdapter, FakeApi

WINDOW_DAYS = 30


@attrs.define
class FakeStore:
    """Records batches; ``gate`` (when set) holds every write until it is set."""

    batches: list[tuple[list[Event], list[Reject]]] = attrs.field(factory=list)
    gate: trio.Event | None = None
    seen: set[str] = attrs.field(factory=set)
    #: events each write reports deleted (``WriteResult.removed``), in turn
    removals: list[int] = attrs.field(factory=list)

    async def write_batch(self, run_id, city, batch, *, before_commit=None):  # type: ignore[no-untyped-def]
        events, rejects = [link.record for link in batch.events], batch.rejects
        if self.gate is not None:
            await self.gate.wait()
        await trio.lowlevel.checkpoint()
        self.batches.append((list(events), list(rejects)))
        new = sum(1 for e in events if e.source_id not in self.seen)
        self.seen.update(e.source_id for e in events)
        removed = self.removals.pop(0) if self.removals else 0
        return WriteResult(
            inserted=new, updated=len(events) - new, rejected=len(rejects), removed=removed
        )

    @property
    def events(self) -> list[Event]:
        return [e for events, _ in self.batches for e in events]

    @property
    def rejects(self) -> list[Reject]:
        return [r for _, rejects in self.batches for r in rejects]


def _runtime(http: httpx.AsyncClient, stats: RunStats) -> dict[str, SourceRuntime]:
    adapter = FakeAdapter()
    client = SourceClient(
        adapter=adapter,
        base_url="https://fake.test/v1",
        http=http,
        bucket=TokenBucket(1000.0, burst=1000.0),
        concurrency=trio.CapacityLimiter(2),
        request_timeout=10.0,
        retry=RetryPolicy(max_retries=2),
        rng=random.Random(0),
    )
    return {adapter.name: SourceRuntime(adapter, client, stats.source(adapter.name))}


async def _crawl(
    api: FakeApi,
    store: FakeStore,
    scope: trio.CancelScope | None = None,
    handler=None,  # type: ignore[no-untyped-def]
) -> RunStats:
    stats = RunStats(city=CITY.slug)
    window = Window(T0, T0 + dt.timedelta(days=WINDOW_DAYS))
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler or api.handler)) as http:
        await run_pipeline(
            store, 1, CITY, window, _runtime(http, stats), stats, scope or trio.CancelScope()
        )
    return stats


async def test_pipeline_stores_every_record_once_and_ends_by_itself(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A crawl under the cap stores each record exactly once and returns when input ends."""
    api = FakeApi.spread(25)
    store = FakeStore()
    stats = await _crawl(api, store)
    assert sorted(e.source_id for e in store.events) == [f"ev{i:05d}" for i in range(25)]
    assert stats.inserted == 25
    assert stats.source("ticketmaster").pages == 3
    assert stats.source("ticketmaster").queries_split == 0
    figures = stats.snapshot()
    # time per stage and per source, for the benchmark (real seconds: only > 0 is known)
    assert all(stats.stages[name].busy_s > 0 for name in ("ingest", "process", "store"))
    assert all("busy_s" in figures["stages"][name] for name in ("ingest", "process", "store"))
    assert stats.source("ticketmaster").fetch_s > 0
    assert figures["stages"]["ingest"]["depth"] == 0  # drained
    assert figures["dedup_comparisons"] >= 0


async def test_queries_over_the_cap_are_split_until_every_record_is_reached(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """With 500 records and a paging cap of 30, splitting still reaches all 500."""
    api = FakeApi.spread(500)
    store = FakeStore()
    stats = await _crawl(api, store)
    assert len({e.source_id for e in store.events}) == 500
    assert stats.source("ticketmaster").queries_split > 0
    assert stats.source("ticketmaster").capped == 0
    assert stats.inserted == 500


async def test_a_split_query_does_not_hold_its_first_page_while_its_parts_run(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The first page of a query over the cap only says it must be split; its parts
    fetch those records again. No such page is alive while the parts run (each level
    of a deep split held one, for every fetcher: tens of MiB in a large city)."""

    class Records(list):  # type: ignore[type-arg]
        """A page's records that a weak reference can watch."""

    probes: list[weakref.ref[Records]] = []
    fetched: list[Query] = []

    class Client:
        async def fetch_page(self, query: Query, cursor: object, *, packed: bool) -> Page:
            assert all(probe() is None for probe in probes), "a split query's page is alive"
            fetched.append(query)
            hours = (query.window.end - query.window.start) / dt.timedelta(hours=1)
            total = round(hours * 5)  # 5 records an hour: 48 hours are 240 > the cap 30
            records = Records({"id": f"{query.key}-{n}"} for n in range(min(total, 10)))
            if total > FakeAdapter.page_cap:
                probes.append(weakref.ref(records))
            return Page(records, None, total)

    runtime = SourceRuntime(FakeAdapter(), Client(), SourceStats("ticketmaster"))  # type: ignore[arg-type]
    query = Query("ticketmaster", CITY.area, Window(T0, T0 + dt.timedelta(hours=48)))
    send, recv = trio.open_memory_channel[RawPage | QuerySplit](0)
    async with trio.open_nursery() as nursery:

        async def drain() -> None:
            async with recv:
                async for _ in recv:
                    pass

        nursery.start_soon(drain)
        async with send:
            await run_query(runtime, query, send)
    # 48 hours split into 2 × 24 and 4 × 12 (each over the cap), then 8 parts of 6 hours
    assert len(probes) == 1 + 2 + 4
    assert len(fetched) == 1 + 2 + 4 + 8


async def _run_query_counting(
    query: Query, memory: SplitMemory | None = None
) -> tuple[list[Query], list[str], SourceStats]:
    """``run_query`` against a provider of 5 records an hour (cap 30): the queries it
    fetched a first page of, the keys of the splits it announced, its figures."""
    fetched: list[Query] = []
    announced: list[str] = []

    class Client:
        async def fetch_page(self, query: Query, cursor: object, *, packed: bool) -> Page:
            await trio.lowlevel.checkpoint()
            fetched.append(query)
            hours = (query.window.end - query.window.start) / dt.timedelta(hours=1)
            total = round(hours * 5)
            return Page([{"id": f"{query.key}-{n}"} for n in range(min(total, 10))], None, total)

    stats = SourceStats("ticketmaster")
    runtime = SourceRuntime(FakeAdapter(), Client(), stats)  # type: ignore[arg-type]
    if memory is not None:
        runtime.split_memory = memory
    send, recv = trio.open_memory_channel[RawPage | QuerySplit](0)
    async with trio.open_nursery() as nursery:

        async def drain() -> None:
            async with recv:
                async for item in recv:
                    if isinstance(item, QuerySplit):
                        announced.append(item.query_key)

        nursery.start_soon(drain)
        async with send:
            await run_query(runtime, query, send)
    return fetched, announced, stats


async def test_a_query_a_recent_crawl_had_to_split_is_split_without_its_first_page(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Learning that a query is too large costs its first page: a crawl after one that
    had to split queries splits those that hold them at once, and still reaches every
    query that fits. It announces its splits again, for the crawl after it."""
    window = Window(T0, T0 + dt.timedelta(hours=48))
    first, splits, stats = await _run_query_counting(Query("ticketmaster", CITY.area, window))
    # 48 hours split into 2 × 24 and 4 × 12 (each over the cap), then 8 parts of 6 hours
    assert len(first) == 1 + 2 + 4 + 8
    assert (stats.queries_split, stats.splits_ahead) == (7, 0)

    again, splits_again, stats = await _run_query_counting(
        Query("ticketmaster", CITY.area, window), SplitMemory.from_keys(splits)
    )
    assert set(again) == {query for query in first if query.key not in splits}  # the 8 parts
    assert len(again) == 8
    assert (stats.queries_split, stats.splits_ahead) == (7, 7)
    assert sorted(splits_again) == sorted(splits)

    # an hour later, the window an hour later: the root and the queries that do not
    # start at the window's start hold a split of the first crawl
    later = Window(window.start + dt.timedelta(hours=1), window.end + dt.timedelta(hours=1))
    shifted, _, stats = await _run_query_counting(
        Query("ticketmaster", CITY.area, later), SplitMemory.from_keys(splits)
    )
    assert stats.splits_ahead > 0
    assert len(shifted) == len(first) - stats.splits_ahead
    assert len(shifted) < len(first)
    assert stats.queries_split == 7  # as many splits as without the memory


async def test_records_that_fail_validation_reach_the_store_as_rejects(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Bad records become rejects with their reason; the good ones are stored."""
    api = FakeApi.spread(20, bad=3)
    store = FakeStore()
    stats = await _crawl(api, store)
    assert len(store.events) == 17
    assert [r.reason for r in store.rejects] == ["missing_title"] * 3
    assert {r.source_id for r in store.rejects} == {"ev00000", "ev00001", "ev00002"}
    assert stats.rejected == {"missing_title": 3}


async def test_a_refused_key_fails_the_source_alone(autojump_clock: trio.testing.MockClock) -> None:
    """A 401 stops the source, marks it failed, and the pipeline still completes."""
    api = FakeApi.spread(10)
    api.status = 401
    store = FakeStore()
    stats = await _crawl(api, store)
    source = stats.source("ticketmaster")
    assert source.state == "failed"
    assert "key refused" in (source.last_error or "")
    assert len(api.requests) == 1
    assert store.events == []


async def test_slow_storage_pushes_back_on_discovery(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """While storage cannot write, discovery stops once the bounded channels are full."""
    api = FakeApi.spread(10_000)
    store = FakeStore(gate=trio.Event())
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_crawl, api, store)
        await trio.testing.wait_all_tasks_blocked()
        blocked_at = len(api.requests)
        await trio.testing.wait_all_tasks_blocked()
        assert len(api.requests) == blocked_at
        # In flight at most: the store's batch and channel, ingestion's and processing's
        # buffers and the raw-page channel; each leaf query also costs one discarded
        # split probe per level above it, so allow twice the pages those buffers hold.
        buffered = capacities.STORE_BATCH_SIZE + capacities.STORE + capacities.EVENTS
        pages_bound = buffered // FakeAdapter.page_size + capacities.RAW_PAGES
        assert blocked_at <= 2 * pages_bound
        store.gate.set()
    assert len({e.source_id for e in store.events}) == 10_000
    assert len(api.requests) > 1_000  # the whole crawl needs far more than was fetched ahead


async def test_cancelling_discovery_stores_everything_already_fetched(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """After discovery is cancelled mid-crawl, every fetched record is still stored."""
    api = FakeApi.spread(2_000)
    store = FakeStore()
    scope = trio.CancelScope()
    serve = api.handler

    async def handler(request: httpx.Request) -> httpx.Response:
        if len(api.requests) == 20:
            scope.cancel(reason="test: SIGINT")  # as the first SIGINT does
        return await serve(request)

    stats = await _crawl(api, store, scope, handler)
    fetched = stats.source("ticketmaster").records
    assert fetched > 0
    assert len({e.source_id for e in store.events}) + stats.unchanged_in_run == fetched
    assert len({e.source_id for e in store.events}) < 2_000


async def test_storage_flushes_a_partial_batch_after_its_max_age(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A lone item is written once it has waited max_age, not held until the batch fills."""
    store = FakeStore()
    stats = RunStats(city="x")
    send, recv = trio.open_memory_channel[Event | Reject](10)
    event = Event(source="ticketmaster", source_id="a", title="A", starts_at=T0, timezone="UTC")
    async with trio.open_nursery() as nursery:
        await nursery.start(store_items, store, 1, "x", recv, stats)
        await send.send(event)
        await trio.sleep(capacities.STORE_BATCH_MAX_AGE - 0.01)
        assert store.batches == []
        await trio.sleep(0.02)
        assert len(store.batches) == 1
        await send.aclose()
    assert stats.batches == 1


async def test_storage_counts_the_linked_records_it_has_committed() -> None:
    """``stats.linked_committed`` (what ingestion tells its Linker) grows by a batch's
    Linked items once the batch is written — not its rejects or plain events, and not
    while the write is waiting."""
    import uuid

    from scenescout_cli.pipeline.messages import Linked

    store = FakeStore(gate=trio.Event())
    stats = RunStats(city="x")
    send, recv = trio.open_memory_channel[Linked | Event | Reject](10)

    def event(n: int) -> Event:
        return Event("ticketmaster", f"e{n}", f"Show {n}", T0, "UTC")

    def linked(n: int) -> Linked:
        return Linked(event(n), uuid.uuid4(), event(n))

    reject = Reject("ticketmaster", "bad", "missing_title", "", {})
    async with trio.open_nursery() as nursery:
        await nursery.start(
            functools.partial(store_items, store, 1, "x", recv, stats, batch_size=4)
        )
        for item in (linked(1), reject, event(2), linked(3), linked(4)):
            await send.send(item)
        await wait_all_tasks_blocked()
        assert stats.linked_committed == 0  # the first batch waits at the gate
        store.gate.set()
        await send.aclose()
    assert [len(events) for events, _ in store.batches] == [3, 1]
    assert stats.linked_committed == 3


async def test_storage_counts_the_events_its_writes_deleted() -> None:
    """Events a write deleted (their last provider record moved to another event) add
    up in ``stats.removed`` and the run's figures (``events_removed``)."""
    store = FakeStore(removals=[0, 2, 1])
    stats = RunStats(city="x")
    send, recv = trio.open_memory_channel[Event](10)
    async with trio.open_nursery() as nursery:
        await nursery.start(
            functools.partial(store_items, store, 1, "x", recv, stats, batch_size=2)
        )
        async with send:
            for n in range(6):
                await send.send(Event("ticketmaster", f"e{n}", f"Show {n}", T0, "UTC"))
    assert len(store.batches) == 3
    assert stats.removed == 3
    assert stats.snapshot()["events_removed"] == 3


class _SlowAdapter(FakeAdapter):
    """A second source whose provider never answers, with many queries planned."""

    name = "eventbrite"

    def plan(self, city, window):  # type: ignore[no-untyped-def]
        return [Query(self.name, city.area, window, target=f"organizer:{n}") for n in range(20)]

    def request(self, query, cursor):  # type: ignore[no-untyped-def]
        request = super().request(query, cursor)
        return attrs.evolve(request, path="/slow")


async def test_a_stalled_source_does_not_hold_up_the_others(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """While one source's provider never answers, another source still crawls to the end."""
    api = FakeApi.spread(40)

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/slow"):
            await trio.sleep_forever()
        return await api.handler(request)

    store = FakeStore()
    stats = RunStats(city=CITY.slug)
    window = Window(T0, T0 + dt.timedelta(days=WINDOW_DAYS))
    scope = trio.CancelScope(deadline=trio.current_time() + 3600)
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        runtimes = _runtime(http, stats)
        slow = _SlowAdapter()
        runtimes = {
            slow.name: SourceRuntime(
                slow,
                attrs.evolve(runtimes["ticketmaster"].client, adapter=slow),
                stats.source(slow.name),
                query_timeout=10_000,
            ),
            **runtimes,
        }
        await run_pipeline(store, 1, CITY, window, runtimes, stats, scope)
    assert stats.source("ticketmaster").state == "done"
    assert len({e.source_id for e in store.events}) == 40
    assert stats.source("eventbrite").records == 0


def test_recent_keys_remembers_the_last_half_of_its_limit_and_no_more() -> None:
    """The in-run "seen" memory is bounded: old keys are forgotten, recent ones never."""
    from scenescout_cli.pipeline.ingestion import RecentKeys

    seen = RecentKeys(limit=10)
    for n in range(100):
        seen.add(("tm", str(n)))
        assert len(seen) <= 10
        assert all(("tm", str(k)) in seen for k in range(max(0, n - 4), n + 1))
    assert ("tm", "0") not in seen
    assert ("tm", "99") in seen


async def test_a_forgotten_repeat_is_linked_again_to_the_same_event(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Past the seen-limit a repeat is normalised and linked again — to the same
    canonical event (storage upserts it: nothing new, nothing lost); within the limit
    it is dropped before any work."""
    from scenescout_cli.pipeline.ingest_stage import ingest
    from scenescout_cli.pipeline.messages import Linked, PageDone

    api = FakeApi.spread(12)
    query = Query("ticketmaster", CITY.area, Window(T0, T0 + dt.timedelta(days=30)))
    now = dt.datetime.now(dt.UTC)
    # a near repeat (ev00011 again right after) and a far one (ev00000 after 11 others)
    records = [*api.records, api.records[11], api.records[0]]

    async def run(limit: int) -> tuple[list[Linked], RunStats]:
        from scenescout_cli.pipeline import ingestion

        stats = RunStats(city=CITY.slug)
        pages_send, pages_recv = trio.open_memory_channel[RawPage](1)
        out_send, out_recv = trio.open_memory_channel[object](100)
        saved, ingestion.SEEN_LIMIT = ingestion.SEEN_LIMIT, limit
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(
                    ingest, {"ticketmaster": FakeAdapter()}, pages_recv, out_send, stats
                )
                async with pages_send:
                    await pages_send.send(RawPage("ticketmaster", query, 0, records, now))
        finally:
            ingestion.SEEN_LIMIT = saved
        items = [item async for item in out_recv]
        assert isinstance(items[-1], PageDone)
        return [item for item in items if isinstance(item, Linked)], stats

    remembered, stats = await run(1_000)
    assert [item.record.source_id for item in remembered] == [f"ev{i:05d}" for i in range(12)]
    assert stats.unchanged_in_run == 2
    forgetful, stats = await run(8)
    assert [item.record.source_id for item in forgetful][-1] == "ev00000"  # linked again
    assert stats.unchanged_in_run == 1  # ev00011's repeat was still remembered
    first = {item.record.source_id: item.event_id for item in remembered}
    assert all(first[item.record.source_id] == item.event_id for item in forgetful)


def test_everything_in_flight_fits_inside_the_linkers_settling_time() -> None:
    """Unless storage has said sooner that the links which touched it are committed,
    the Linker drops a partition after SETTLE_AFTER links nobody came near it, trusting
    it is committed by then: every record linked and not yet committed must be fewer,
    with a margin. Linked, in ingestion: the batch the engine is working on,
    the answer the feeder holds waiting for room, ENGINE_AHEAD answers queued, and the
    answer whose items are being handed on — each of ENGINE_BATCH pages of up to the
    largest provider page.
    Then the two channels, processing's batch and storage's batch."""
    from scenescout_cli.pipeline import ingest_stage, processing
    from scenescout_cli.pipeline.linking import SETTLE_AFTER
    from scenescout_cli.sources import meetup, ticketmaster, yelp

    # Eventbrite's pages hold 50, Google's 20
    largest_page = max(ticketmaster.MAX_PAGE_SIZE, meetup.MAX_PAGE_SIZE, yelp.MAX_PAGE_SIZE, 50)
    pages = ingest_stage.ENGINE_BATCH * (ingest_stage.ENGINE_AHEAD + 3)
    in_flight = (
        pages * largest_page
        + capacities.EVENTS
        + processing.BATCH
        + capacities.STORE
        + capacities.STORE_BATCH_SIZE
    )
    assert in_flight * 1.2 < SETTLE_AFTER
