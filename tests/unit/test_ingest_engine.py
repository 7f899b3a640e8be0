"""The ingestion engine: pages in, items out, stored events asked for as it needs them."""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Sequence
from typing import Any, ClassVar

import attrs
import pytest
import trio

from scenescout_cli.model import Event, Reject
from scenescout_cli.pipeline.ingest_stage import LocalEngine
from scenescout_cli.pipeline.ingestion import (
    IngestEngine,
    NeedRows,
    PageJob,
    PageResult,
    content_hash,
)
from scenescout_cli.pipeline.linking import Linker, Load, fetch_load
from scenescout_cli.pipeline.messages import Linked, Unchanged

from .test_linking import FakeStore, crawl_order

NOW = dt.datetime(2026, 11, 28, 12, tzinfo=dt.UTC)


class ListedAdapter:
    """Raw records ``{"n": i}`` normalise to the i-th of a list of ready Events."""

    name: ClassVar[str] = "listed"

    def __init__(self, events: list[Event]) -> None:
        self.events = events

    def record_id(self, record: dict[str, Any]) -> str:
        return self.events[record["n"]].source_id

    def normalise(self, record: dict[str, Any], fetched_at: dt.datetime) -> Event:
        return self.events[record["n"]]


def _pages(count: int, size: int) -> list[list[dict[str, Any]]]:
    return [[{"n": n} for n in range(i, min(i + size, count))] for i in range(0, count, size)]


async def _run(
    engine: IngestEngine, pages: list[list[dict[str, Any]]], store: FakeStore
) -> tuple[list[Any], int]:
    """Every page through the engine, three pages a call, NeedRows answered from
    ``store``; every linked record written to it. Returns the items and the round
    trips made."""
    items: list[Any] = []
    trips = 0
    for first in range(0, len(pages), 3):
        jobs = [PageJob("listed", records, NOW) for records in pages[first : first + 3]]
        result = engine.start(jobs)
        while isinstance(result, NeedRows):
            trips += 1
            result = engine.resume(
                [(load, await fetch_load(store.load, load)) for load in result.loads]
            )
        assert len(result) == len(jobs)
        for item in (item for page in result for item in page.items):
            items.append(item)
            if isinstance(item, Linked):
                store.write(item.event_id, item.record, item.merged)
    return items, trips


@pytest.mark.parametrize("lag", [0, 300])
async def test_a_lazy_engine_links_like_one_that_holds_everything(lag: int) -> None:
    """Answering the engine's NeedRows from the store (commits ``lag`` records behind)
    gives every record the canonical event an unbounded Linker gives it, with about one
    round trip per page at most."""
    records = crawl_order(3_000, days=20)
    unbounded = Linker()
    expected = {(r.source, r.source_id): unbounded.link(r)[0] for r in records}
    # a lazy Linker holding a few hundred records at a time
    engine = IngestEngine(
        {"listed": ListedAdapter(records)},
        Linker(lazy=True, resident_limit=600, settle_after=600),
    )
    # in flight before a commit: up to 3 pages of 50 + the lag, below settle_after
    pages = _pages(len(records), 50)
    items, trips = await _run(engine, pages, FakeStore(lag=lag))
    linked = {
        (i.record.source, i.record.source_id): i.event_id for i in items if isinstance(i, Linked)
    }
    assert linked == expected
    assert trips > 0
    assert engine.linker.resident < len(records)


async def test_repeats_unchanged_records_and_rejects() -> None:
    """A record repeated in the run passes once; one whose hash is stored becomes
    Unchanged; one that fails validation becomes a Reject with its raw payload."""
    records = crawl_order(30, days=2)
    bad = Event(source="listed", source_id="bad", title="", starts_at=NOW, timezone="UTC")
    adapter = ListedAdapter([*records, bad])
    engine = IngestEngine({"listed": adapter}, Linker())
    page = [{"n": n} for n in range(30)] + [{"n": 0}, {"n": 30}]
    stored = {records[5].source_id: content_hash({"n": 5})}
    [result] = engine.start([PageJob("listed", page, NOW, known=stored)])
    assert isinstance(result, PageResult)
    kinds = [type(item).__name__ for item in result.items]
    assert kinds.count("Linked") == 29
    assert kinds.count("Unchanged") == 1
    assert kinds.count("Reject") == 1
    assert result.repeats == 1
    assert result.unchanged == 1
    [unchanged] = [i for i in result.items if isinstance(i, Unchanged)]
    assert unchanged.source_id == records[5].source_id
    [reject] = [i for i in result.items if isinstance(i, Reject)]
    assert reject.raw == {"n": 30}


async def test_raw_payloads_can_travel_as_json_text() -> None:
    """With ``raw_as_json`` a linked record leaves without its raw payload, which comes
    as JSON text beside it (what crosses from the worker process)."""
    records = crawl_order(10, days=1)
    engine = IngestEngine({"listed": ListedAdapter(records)}, Linker(), raw_as_json=True)
    [result] = engine.start(
        [PageJob("listed", [{"n": n, "extra": [1, "é"]} for n in range(10)], NOW)]
    )
    assert isinstance(result, PageResult)
    linked = [i for i in result.items if isinstance(i, Linked)]
    assert len(linked) == 10
    assert all(i.record.raw == {} for i in linked)
    assert [json.loads(i.raw_json or "") for i in linked] == [
        {"n": n, "extra": [1, "é"]} for n in range(10)
    ]


async def test_a_second_page_cannot_start_while_one_waits_for_rows() -> None:
    records = crawl_order(50, days=2)
    engine = IngestEngine({"listed": ListedAdapter(records)}, Linker(lazy=True))
    first = engine.start([PageJob("listed", [{"n": 0}], NOW)])
    assert isinstance(first, NeedRows)
    with pytest.raises(ValueError, match="previous page"):
        engine.start([PageJob("listed", [{"n": 1}], NOW)])
    [result] = engine.resume([(load, []) for load in first.loads])
    assert isinstance(result, PageResult)


def test_adjacent_loads_of_one_kind_become_one() -> None:
    from scenescout_cli.pipeline.ingestion import merge_loads

    hour = dt.timedelta(hours=1)
    day = dt.timedelta(days=1)
    loads = [
        Load(NOW + 2 * hour, NOW + 3 * hour),
        Load(NOW, NOW + hour),
        Load(NOW + hour, NOW + 2 * hour),
        Load(NOW + 5 * hour, NOW + 6 * hour),
        Load(NOW, NOW + day, date_only=True),
        Load(NOW + day, NOW + 2 * day, date_only=True),
        Load(None, None),
        Load(None, None, identities=frozenset({("tm", "1")})),
        Load(None, None, identities=frozenset({("tm", "2"), ("eb", "1")})),
    ]
    assert merge_loads(loads) == [
        Load(NOW, NOW + 3 * hour),
        Load(NOW + 5 * hour, NOW + 6 * hour),
        Load(NOW, NOW + 2 * day, date_only=True),
        Load(None, None),
        Load(None, None, identities=frozenset({("tm", "1"), ("tm", "2"), ("eb", "1")})),
    ]
    assert merge_loads([]) == []


async def test_one_cpu_keeps_the_engine_on_the_trio_thread() -> None:
    import gc

    from scenescout_cli.pipeline.ingest_stage import LocalEngine
    from scenescout_cli.pipeline.ingest_worker import open_ingest_engine

    thresholds = gc.get_threshold()
    try:
        records = crawl_order(5, days=1)
        adapters = {"listed": ListedAdapter(records)}
        async with open_ingest_engine(adapters, fresh=True, cpus=1) as engine:
            assert isinstance(engine, LocalEngine)
            [finished] = await engine.submit([engine.pack(PageJob("listed", [{"n": 0}], NOW))])
            [result] = engine.unpack(finished)
            assert await engine.drain() == []  # each batch is answered by its own call
            assert [type(i).__name__ for i in result.items] == ["Linked"]
    finally:
        gc.set_threshold(*thresholds)


def test_content_hash_is_the_hash_of_version_and_record() -> None:
    """The hash an earlier release stored stays the same (no re-normalisation), and
    key order does not matter."""
    import hashlib

    from scenescout_cli import jsonio
    from scenescout_cli.pipeline.ingestion import NORMALISATION_VERSION, canonical_json

    record = {
        "name": "Harbor Lights",
        "id": "G5v0Z9",
        "dates": {"start": {"localDate": "2026-07-10"}},
    }
    reordered = dict(reversed(list(record.items())))
    before = jsonio.dumps([NORMALISATION_VERSION, record], sort_keys=True)
    expected = hashlib.blake2b(before.encode(), digest_size=16).hexdigest()
    assert content_hash(record) == expected
    assert content_hash(reordered) == expected
    assert content_hash(record, text=canonical_json(reordered)) == expected


def test_events_and_links_survive_pickling_whole() -> None:
    """What crosses to and from the engine's process comes back equal, raw payload too."""
    import pickle
    import uuid

    from scenescout_cli.model import Event
    from scenescout_cli.pipeline.messages import Linked

    event = Event(
        source="ticketmaster",
        source_id="G5v0Z9",
        title="Harbor Lights",
        starts_at=dt.datetime(2026, 7, 11, 0, 0, tzinfo=dt.UTC),
        timezone="America/New_York",
        tags=("Rock",),
        lat=40.75,
        raw={"id": "G5v0Z9", "images": [{"url": "https://s1.ticketm.net/a.jpg"}]},
    )
    linked = Linked(event, uuid.uuid4(), event, 2, '{"id":"G5v0Z9"}')
    back = pickle.loads(pickle.dumps(linked, pickle.HIGHEST_PROTOCOL))
    assert back == linked
    assert back.record.raw == event.raw  # not part of Event's equality
    assert back.raw_json == linked.raw_json


def test_evolve_event_is_attrs_evolve_for_every_field() -> None:
    """The fast copy the engine uses changes exactly the fields named, whichever they are."""
    import attrs

    from scenescout_cli.model import evolve_event

    event = Event(
        source="ticketmaster",
        source_id="vvG1IZ4",
        title="Night Market",
        starts_at=dt.datetime(2026, 12, 5, 23, 0, tzinfo=dt.UTC),
        timezone="America/New_York",
        tags=("Market",),
        raw={"id": "vvG1IZ4"},
    )
    for field in attrs.fields(Event):
        value = (field.name, "changed")  # equal to no field's current value
        changed = evolve_event(event, **{field.name: value})
        assert changed == attrs.evolve(event, **{field.name: value})
        assert getattr(changed, field.name) == value
        others = [f.name for f in attrs.fields(Event) if f.name != field.name]
        assert [getattr(changed, n) for n in others] == [getattr(event, n) for n in others]
    with pytest.raises(TypeError, match="no field 'colour'"):
        evolve_event(event, colour="red")


def test_event_ids_are_uuid5_of_source_and_id() -> None:
    """Stored events keep their ids across versions: the id is the name-based UUID."""
    import uuid

    from scenescout_cli.model import _EVENT_NAMESPACE, event_id_for

    for source, source_id in [("ticketmaster", "G5vYZ9f8cQ"), ("meetup", "31200"), ("yelp", "é-ü")]:
        for n in range(200):
            expected = uuid.uuid5(_EVENT_NAMESPACE, f"{source}:{source_id}{n}")
            assert event_id_for(source, f"{source_id}{n}") == expected
    # one pinned value: a change of namespace or name format would re-key every event
    pinned = uuid.UUID("28838d08-4bba-5837-af20-5230950dfedc")
    assert event_id_for("ticketmaster", "G5vYZ9f8cQ") == pinned


class LaggingEngine:
    """An ``EngineHandle`` whose answers come one batch late, as a worker's may: each
    batch is finished only when the next is submitted (or on ``drain``). NeedRows
    interrupt as they come; ``calls`` records the protocol as the feeder used it."""

    def __init__(self, engine: IngestEngine) -> None:
        self.engine = engine
        self.waiting: list[tuple[list[PageJob], int]] = []
        self.finished: list[list[PageResult]] = []
        self.calls: list[str] = []
        #: the count of committed links each submit brought
        self.told: list[int] = []

    def pack(self, job: PageJob) -> PageJob:
        return job

    def _work(self, result: list[PageResult] | NeedRows, keep: int) -> Any:
        while True:
            if isinstance(result, NeedRows):
                return result
            if result:
                self.finished.append(result)
            if len(self.waiting) <= keep:
                done, self.finished = self.finished, []
                return done
            jobs, committed = self.waiting.pop(0)
            result = self.engine.start(jobs, committed=committed)

    async def submit(self, packed: list[PageJob], *, committed: int = 0) -> Any:
        self.calls.append("submit")
        self.told.append(committed)
        self.waiting.append((list(packed), committed))
        return self._work([], keep=1)

    async def resume(self, loaded: Any, *, drain: bool = False) -> Any:
        self.calls.append("resume")
        return self._work(self.engine.resume(loaded), keep=0 if drain else 1)

    async def drain(self) -> Any:
        self.calls.append("drain")
        return self._work([], keep=0)

    def unpack(self, finished: list[PageResult]) -> list[PageResult]:
        return finished


async def _start_ingestion(
    nursery: trio.Nursery,
    adapter: ListedAdapter,
    engine: Any,
    store: FakeStore,
    stats: Any,
    inbound: Sequence[Any],
    out: trio.MemorySendChannel[Any],
) -> None:
    """Start ingestion in ``nursery`` (``engine``, ``store``'s loader, items to ``out``),
    hand it ``inbound`` (pages and splits) and end its input."""
    from scenescout_cli.pipeline import ingest_stage

    pages_send, pages_recv = trio.open_memory_channel[Any](len(inbound))
    await nursery.start(
        functools.partial(ingest_stage.ingest, engine=engine, loader=store.load),
        {"listed": adapter},
        pages_recv,
        out,
        stats,
    )
    async with pages_send:
        for message in inbound:
            await pages_send.send(message)


@pytest.mark.parametrize("lagging", [False, True])
async def test_ingestion_hands_on_pages_and_splits_in_order_however_late_the_answers(
    lagging: bool,
) -> None:
    """Items leave ingestion page by page in the order the pages came, each page's
    PageDone after its items and every QuerySplit in its place — the same items whether
    the engine answers each batch at once or a batch late, with stored events loaded
    as it asks."""
    from scenescout_cli.model import Area, Query, Window
    from scenescout_cli.pipeline.messages import PageDone, QuerySplit, RawPage
    from scenescout_cli.pipeline.stats import RunStats

    records = crawl_order(400, days=3)
    adapter = ListedAdapter(records)
    store = FakeStore(lag=0)
    window = Window(NOW, NOW + dt.timedelta(days=3))
    inbound: list[RawPage | QuerySplit] = []
    for number, page in enumerate(_pages(len(records), 25)):
        query = Query("listed", Area(40.7, -74.0, 5.0), window, target=f"q{number // 4}")
        inbound.append(RawPage("listed", query, number % 4, page, NOW))
        if number % 3 == 2:
            inbound.append(QuerySplit(f"split-after-{number}"))

    linker = Linker(lazy=True)
    inner = IngestEngine({"listed": adapter}, linker)
    engine = LaggingEngine(inner) if lagging else LocalEngine(inner)
    out_send, out_recv = trio.open_memory_channel[Any](10_000)
    async with trio.open_nursery() as nursery:
        await _start_ingestion(
            nursery, adapter, engine, store, RunStats(city="nyc"), inbound, out_send
        )
    items = [item async for item in out_recv]

    expected: list[Any] = []
    for message in inbound:
        if isinstance(message, QuerySplit):
            expected.append(("split", message.query_key))
        else:
            expected += [("record", r["n"]) for r in message.records]
            expected.append(("done", message.query.key, message.page_number + 1))
    number_of = {r.source_id: n for n, r in enumerate(records)}
    got = [
        ("split", i.query_key)
        if isinstance(i, QuerySplit)
        else ("done", i.query_key, i.pages)
        if isinstance(i, PageDone)
        else ("record", number_of[i.record.source_id])
        for i in items
    ]
    assert got == expected
    assert store.loads  # stored events were asked for, and answered
    if lagging:
        assert isinstance(engine, LaggingEngine)
        assert "drain" in engine.calls
        assert "resume" in engine.calls


async def test_ingestion_tells_its_engine_what_storage_has_committed() -> None:
    """With each batch the engine hears how many Linked items storage has committed
    (``stats.linked_committed``), so its Linker drops settled partitions long before
    ``settle_after`` links — and links every record as one holding everything."""
    from scenescout_cli.model import Area, Query, Window
    from scenescout_cli.pipeline.messages import RawPage
    from scenescout_cli.pipeline.stats import RunStats

    records = crawl_order(1_200, days=12)
    unbounded = Linker()
    firsts = {(r.source, r.source_id): r for r in reversed(records)}  # repeats pass once
    expected = [unbounded.link(r)[0] for r in records if firsts[(r.source, r.source_id)] is r]
    adapter = ListedAdapter(records)
    store = FakeStore(lag=0)
    query = Query("listed", Area(40.7, -74.0, 5.0), Window(NOW, NOW + dt.timedelta(days=12)))
    pages = [RawPage("listed", query, n, page, NOW) for n, page in enumerate(_pages(1_200, 25))]
    linker = Linker(lazy=True, resident_limit=300, settle_after=100_000)
    engine = LaggingEngine(IngestEngine({"listed": adapter}, linker))
    stats = RunStats(city="nyc")
    out_send, out_recv = trio.open_memory_channel[Any](40)
    got: list[Linked] = []

    async def storage() -> None:  # commits each record as it comes
        async with out_recv:
            async for item in out_recv:
                if isinstance(item, Linked):
                    store.write(item.event_id, item.record, item.merged)
                    got.append(item)
                    stats.linked_committed = store.committed

    async with trio.open_nursery() as nursery:
        nursery.start_soon(storage)
        await _start_ingestion(nursery, adapter, engine, store, stats, pages, out_send)
    assert [item.event_id for item in got] == expected
    assert engine.told == sorted(engine.told)
    assert engine.told[-1] > 1_000
    assert linker.evicted > 10


def test_the_engines_thread_trims_the_c_heap_after_each_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The engine's process hands the C heap's free pages back after every batch it
    finishes (``heap_trimmer``), once its answer is queued."""
    import pickle
    import threading

    from scenescout_cli.pipeline import engine_host

    trimmed: list[int] = []
    all_trimmed = threading.Event()

    def trim() -> None:
        trimmed.append(len(thread.answer(unfinished=99)))  # answers queued so far
        if len(trimmed) == 3:
            all_trimmed.set()

    monkeypatch.setattr(engine_host, "heap_trimmer", lambda: trim)
    records = crawl_order(6, days=1)
    thread = engine_host.EngineThread(IngestEngine({"listed": ListedAdapter(records)}, Linker()))
    for page in _pages(6, 2):
        thread.submit([pickle.dumps(PageJob("listed", page, NOW))], 0)
    assert all_trimmed.wait(timeout=30)
    assert trimmed == [1, 1, 1]  # each trim found its batch's answer queued


def test_the_heap_trimmer_is_glibcs_and_absent_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    import ctypes
    import platform

    from scenescout_cli.pipeline import engine_host

    if platform.libc_ver()[0] == "glibc":
        trim = engine_host.heap_trimmer()
        assert trim is not None
        assert trim() in (0, 1)  # 1: memory was released

    class NoTrim:  # a C library without malloc_trim (musl, macOS)
        def __init__(self, name: object) -> None:
            pass

    monkeypatch.setattr(ctypes, "CDLL", NoTrim)
    assert engine_host.heap_trimmer() is None


def _stored_and_moved(store: FakeStore) -> tuple[Event, Event]:
    """A show ``store`` holds as one event of two listings — ours (with a URL) and
    Eventbrite's (without) — and ours again, postponed by three weeks."""
    start = dt.datetime(2026, 12, 10, 20, tzinfo=dt.UTC)
    sold = Event(
        "listed",
        "s1",
        "Harbor Lights",
        start,
        "America/New_York",
        venue_name="Webster Hall",
        lat=40.7319,
        lon=-73.9891,
        url="https://tickets.example/s1",
    )
    listing = attrs.evolve(sold, source="eventbrite", source_id="e1", url=None)
    store.write(sold.event_id, sold, sold)
    store.write(sold.event_id, listing, sold)
    return sold, attrs.evolve(sold, starts_at=start + dt.timedelta(weeks=3))


async def test_an_event_a_record_leaves_goes_out_just_before_the_record() -> None:
    """A stored record moved out of reach: the engine asks for its event by identity
    (the record is in the page's ``known``), and the event it leaves, merged again from
    the listing it keeps, goes out as an ``event_only`` item just before the record."""
    store = FakeStore(lag=0)
    sold, moved = _stored_and_moved(store)
    engine = IngestEngine({"listed": ListedAdapter([moved])}, Linker(lazy=True))
    result = engine.start([PageJob("listed", [{"n": 0}], NOW, known={"s1": "an older hash"})])
    asked: list[Load] = []
    while isinstance(result, NeedRows):
        asked += result.loads
        result = engine.resume(
            [(load, await fetch_load(store.load, load)) for load in result.loads]
        )
    assert Load(None, None, identities=frozenset({("listed", "s1")})) in asked
    [page] = result
    left, linked = page.items
    assert isinstance(left, Linked)
    assert isinstance(linked, Linked)
    assert (left.event_id, left.event_only, left.sources) == (sold.event_id, True, 1)
    assert (left.record.source_id, left.merged.url) == ("e1", None)
    assert (linked.event_only, linked.record.starts_at) == (False, moved.starts_at)
    assert linked.event_id != sold.event_id
    assert page.moved == 1


async def test_the_ingestion_stage_loads_a_moved_records_event_by_identity() -> None:
    """Through the stage: a record the store knows (``known_hashes``), moved out of
    its event's reach, makes the engine ask for that event by the record's identity;
    the stage answers from the loader, and the event the record leaves goes out
    before it, merged again."""
    from scenescout_cli.model import Area, Query, Window
    from scenescout_cli.pipeline import ingest_stage
    from scenescout_cli.pipeline.messages import RawPage
    from scenescout_cli.pipeline.stats import RunStats

    store = FakeStore(lag=0)
    sold, moved = _stored_and_moved(store)
    adapter = ListedAdapter([moved])
    query = Query("listed", Area(40.7, -74.0, 5.0), Window(NOW, NOW + dt.timedelta(days=30)))
    pages_send, pages_recv = trio.open_memory_channel[Any](1)
    out_send, out_recv = trio.open_memory_channel[Any](10)
    stats = RunStats(city="nyc")
    async with trio.open_nursery() as nursery:
        await nursery.start(
            functools.partial(
                ingest_stage.ingest,
                engine=LocalEngine(IngestEngine({"listed": adapter}, Linker(lazy=True))),
                loader=store.load,
                known_hashes={("listed", "s1"): "an older hash"},
            ),
            {"listed": adapter},
            pages_recv,
            out_send,
            stats,
        )
        async with pages_send:
            await pages_send.send(RawPage("listed", query, 0, [{"n": 0}], NOW))
    linked = [item async for item in out_recv if isinstance(item, Linked)]
    assert Load(None, None, identities=frozenset({("listed", "s1")})) in store.loads
    assert [(i.event_id == sold.event_id, i.event_only) for i in linked] == [
        (True, True),
        (False, False),
    ]
    assert stats.moved == 1
