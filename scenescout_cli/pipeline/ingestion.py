"""Ingestion: pages of raw records in, normalised events, venues or rejects out.

Each record is one unit of work: a record that cannot be normalised becomes a
``Reject`` with its reason and goes on to the rejects table; it never ends the run.
A record whose content hash equals the stored one becomes ``Unchanged`` and skips
the rest of the work (incremental crawls). A provider record seen twice in one run
(overlapping split queries) passes once — "seen" is a bounded memory of recent
records (``RecentKeys``), which is enough because the parts of a split query run one
after the other; a repeat it has forgotten is normalised and stored again, which
changes nothing (storage upserts). After a page's records comes its ``PageDone``
marker, which storage commits with them.

The work itself — hashing, normalising, de-duplicating (``Linker``) — is done by an
``IngestEngine``: synchronous, free of I/O, one page at a time. During a crawl it runs
in a worker process of its own (pipeline/ingest_worker.py) so the Trio thread keeps
fetching, enriching and storing meanwhile; the ``ingest`` stage hands it pages and
answers its requests for stored events (``NeedRows``) from the database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import attrs
import trio

from .. import jsonio
from ..enrich.sanitize import sanitize
from ..enrich.timezones import resolve_zone
from ..enrich.validate import validate
from ..errors import RecordRejected
from ..model import Event, Reject, Venue, evolve_event
from ..sources.base import SourceAdapter
from .channels import put
from .linking import Linker, Load, Loader
from .messages import Item, Linked, PageDone, QuerySplit, RawPage, Unchanged
from .stats import RunStats, StageStats

#: Bumped when normalisation changes, so that every record is normalised afresh once.
NORMALISATION_VERSION = "1"
#: Engine answers (of up to ENGINE_BATCH pages) queued ahead of the items ingestion is
#: handing on. Zero: the feeder holds the next answer until it is taken, while the
#: engine works on the batch after it (``_feed_engine``).
ENGINE_AHEAD = 0
#: Pages handed to the engine in one call at most (those packed and waiting).
ENGINE_BATCH = 2
#: Provider records remembered as "seen in this run" (at least half of them). Repeats
#: come from the overlapping parts of one split query, fetched one after another, so
#: they are never far apart: in a 1M-event sandbox crawl (the first 400k records) the
#: farthest repeat came 5,884 records after its first copy, 99.9% within 5,630. The
#: bound keeps a city of millions of events flat in memory; a repeat it has forgotten
#: costs only work (normalised and stored again, which changes nothing).
SEEN_LIMIT = 20_000


class RecentKeys:
    """A set that remembers at least the last ``limit // 2`` and at most ``limit`` keys.

    Two generations: when the current one is half the limit it becomes the old one
    and the one before is forgotten. Membership and adding are O(1).
    """

    def __init__(self, limit: int = SEEN_LIMIT) -> None:
        self._half = max(1, limit // 2)
        self._current: set[tuple[str, str]] = set()
        self._old: set[tuple[str, str]] = set()

    def __contains__(self, key: object) -> bool:
        return key in self._current or key in self._old

    def __len__(self) -> int:
        return len(self._current) + len(self._old)

    def add(self, key: tuple[str, str]) -> None:
        if key in self._old:
            return
        self._current.add(key)
        if len(self._current) >= self._half:
            self._old, self._current = self._current, set()


def canonical_json(record: dict[str, Any]) -> str:
    """A provider record as JSON text with its keys sorted: what ``content_hash``
    hashes, and fit to store (the raw payload's column is jsonb). A packed page
    carries its records' already (``jsonio.PackedRecords.with_texts``)."""
    return jsonio.dumps(record, sort_keys=True)


_HASH_PREFIX = "[" + jsonio.dumps(NORMALISATION_VERSION) + ","


def content_hash(record: dict[str, Any], *, text: str | None = None) -> str:
    """A stable hash of a provider record (key order and whitespace do not matter).

    ``text``: the record's ``canonical_json``, when the caller has it already.
    """
    if text is None:
        text = canonical_json(record)
    # the hash of [NORMALISATION_VERSION, record] as compact JSON, as it always was
    body = _HASH_PREFIX + text + "]"
    return hashlib.blake2b(body.encode(), digest_size=16).hexdigest()


def normalise_record(
    adapter: SourceAdapter,
    record: dict[str, Any],
    fetched_at: dt.datetime,
    *,
    content_hash: str | None = None,
    keep_raw: bool = True,
) -> Event | Venue | Reject:
    """One raw record → a clean Event or Venue, or Reject with the reason. Pure.

    Events are normalised by their adapter, given a zone (the venue's, else the
    coordinates'), sanitised, then validated; they carry ``content_hash``, and their
    raw payload unless ``keep_raw`` is False (it travels apart).
    """
    try:
        item = adapter.normalise(record, fetched_at)
        if isinstance(item, Event):
            item = sanitize(resolve_zone(item))
            validate(item, now=fetched_at)
    except RecordRejected as exc:
        return Reject(adapter.name, _safe_id(adapter, record), exc.reason, exc.detail, record)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        # Untrusted input in a shape the normaliser did not foresee: a reject, not a crash.
        return Reject(
            adapter.name,
            _safe_id(adapter, record),
            "malformed_record",
            f"{type(exc).__name__}: {exc}"[:200],
            record,
        )
    if isinstance(item, Event):
        if not keep_raw:
            return evolve_event(item, fetched_at=fetched_at, content_hash=content_hash, raw={})
        return evolve_event(item, fetched_at=fetched_at, content_hash=content_hash)
    return attrs.evolve(item, fetched_at=fetched_at)


def _safe_id(adapter: SourceAdapter, record: dict[str, Any]) -> str | None:
    try:
        return adapter.record_id(record)
    except (KeyError, TypeError, AttributeError):
        return None


@attrs.frozen
class PageJob:
    """One page's records for the engine, with what the store knows of them."""

    source: str
    #: a list, or a page packed by discovery (unpacked once, by the engine)
    records: Sequence[dict[str, Any]]
    fetched_at: dt.datetime
    #: source id → content hash stored by earlier crawls, for this page's records that
    #: have one (None on a first crawl)
    known: Mapping[str, str] | None = None


@attrs.frozen
class NeedRows:
    """The engine needs stored canonical events loaded before it can link on; answer
    with ``resume`` and each load's rows, in order."""

    loads: list[Load]


@attrs.frozen
class PageResult:
    """What one page became, in record order, and the figures it moved."""

    items: list[Item]
    #: records dropped as repeats within this run
    repeats: int
    #: records whose content hash equals the stored one
    unchanged: int
    #: the engine's running totals
    merged_across_sources: int
    comparisons: int
    #: seconds of work (in the engine's process)
    busy_s: float


class IngestEngine:
    """The per-record work of ingestion, synchronous and free of I/O.

    ``start(jobs)`` normalises each page's records and links its events, page after
    page; when the Linker needs stored canonical events first it returns ``NeedRows``
    and the caller answers with ``resume(loaded)`` (the rows of each load, from
    ``Store.known_records_between``) until the list of the pages' ``PageResult``\\ s
    comes back. The engine runs on the Trio thread (``LocalEngine``) or in a process of
    its own (pipeline/ingest_worker.py) — the same object either way; several pages per
    call spare a worker the round trips between them.
    """

    def __init__(
        self,
        adapters: Mapping[str, SourceAdapter],
        linker: Linker,
        *,
        raw_as_json: bool = False,
    ) -> None:
        """``raw_as_json``: linked records leave without their raw payload, which
        travels as JSON text in ``Linked.raw_json`` (cheaper across processes)."""
        self.adapters = adapters
        self.linker = linker
        self.raw_as_json = raw_as_json
        self.seen = RecentKeys(SEEN_LIMIT)
        self._page: _PageState | None = None
        self._queue: list[PageJob] = []
        self._results: list[PageResult] = []

    def start(self, jobs: Sequence[PageJob], *, committed: int = 0) -> list[PageResult] | NeedRows:
        """Begin ``jobs``; see the class docstring. ``committed``: how many of the
        engine's ``Linked`` items storage has committed so far (``Linker.committed``).
        ValueError while a call is unfinished."""
        if self._page is not None or self._queue:
            raise ValueError("the engine is still linking the previous page")
        self.linker.committed(committed)
        self._queue = list(reversed(jobs))
        self._results = []
        return self._advance(None)

    def resume(self, loaded: Sequence[tuple[Load, list[Any]]]) -> list[PageResult] | NeedRows:
        """Go on after a ``NeedRows``: ``loaded`` holds each load's rows."""
        if self._page is None:
            raise ValueError("no page is waiting for rows")
        began = time.perf_counter()
        for load, rows in loaded:
            self.linker.accept(load, rows)
        self._page.busy_s += time.perf_counter() - began
        return self._advance(self._link_from_here())

    def _advance(self, result: PageResult | NeedRows | None) -> list[PageResult] | NeedRows:
        while True:
            if isinstance(result, NeedRows):
                return result
            if result is not None:
                self._results.append(result)
            if not self._queue:
                done, self._results = self._results, []
                return done
            result = self._start_page(self._queue.pop())

    def _start_page(self, job: PageJob) -> PageResult | NeedRows:
        began = time.perf_counter()
        adapter = self.adapters[job.source]
        state = _PageState()
        records = job.records
        pairs = (
            records.with_texts()
            if isinstance(records, jsonio.PackedRecords)
            else ((record, None) for record in records)
        )
        for record, text in pairs:
            state.slots.append(self._normalise(adapter, record, text, job, state))
        self._page = state
        state.busy_s += time.perf_counter() - began
        return self._link_from_here()

    def _normalise(
        self,
        adapter: SourceAdapter,
        record: dict[str, Any],
        packed_text: bytes | None,
        job: PageJob,
        state: _PageState,
    ) -> Item | Event | None:
        """``packed_text``: the record's ``canonical_json`` as packed, or None."""
        source_id = _safe_id(adapter, record)
        seen = self.seen
        if source_id is not None and (adapter.name, source_id) in seen:
            state.repeats += 1  # overlapping queries: checked before any work
            return None
        text = packed_text.decode() if packed_text is not None else canonical_json(record)
        digest = content_hash(record, text=text)
        if source_id is not None and job.known and job.known.get(source_id) == digest:
            seen.add((adapter.name, source_id))
            state.unchanged += 1
            return Unchanged(adapter.name, source_id)
        item = normalise_record(
            adapter, record, job.fetched_at, content_hash=digest, keep_raw=not self.raw_as_json
        )
        if isinstance(item, Event | Venue):
            key = (item.source, item.source_id)
            if key in seen:
                state.repeats += 1
                return None
            seen.add(key)
        if isinstance(item, Event) and self.raw_as_json:
            state.raw[len(state.slots)] = text
        return item

    def _link_from_here(self) -> PageResult | NeedRows:
        """Link the page's events in order, from where it stopped for rows."""
        state = self._page
        assert state is not None
        began = time.perf_counter()
        linker = self.linker
        slots = state.slots
        while state.position < len(slots):
            item = slots[state.position]
            if isinstance(item, Event):
                if linker.wanted(item):
                    state.busy_s += time.perf_counter() - began
                    return NeedRows(self._wanted_from_here())
                event_id, merged, sources = linker.link(item)
                slots[state.position] = Linked(
                    item, event_id, merged, sources, state.raw.pop(state.position, None)
                )
            state.position += 1
        self._page = None
        state.busy_s += time.perf_counter() - began
        return PageResult(
            [item for item in slots if item is not None],  # type: ignore[misc]
            state.repeats,
            state.unchanged,
            linker.merged_across_sources,
            linker.index.comparisons,
            state.busy_s,
        )

    def _wanted_from_here(self) -> list[Load]:
        """Every load the rest of the page needs, adjacent ranges merged: one round
        trip and a query or two for most pages."""
        assert self._page is not None
        wanted: set[Load] = set()
        for item in self._page.slots[self._page.position :]:
            if isinstance(item, Event):
                wanted.update(self.linker.wanted(item))
        return merge_loads(wanted)


def merge_loads(loads: Iterable[Load]) -> list[Load]:
    """``loads`` with overlapping or adjacent ranges of one kind joined. Pure."""
    loads = list(loads)
    merged: list[Load] = []
    dated = sorted(
        (load for load in loads if load.start is not None and load.end is not None),
        key=lambda load: (load.date_only, load.start),
    )
    for load in dated:
        last = merged[-1] if merged else None
        if (
            last is not None
            and last.date_only == load.date_only
            and last.end is not None
            and load.start is not None
            and load.start <= last.end
        ):
            merged[-1] = attrs.evolve(last, end=max(last.end, load.end))  # type: ignore[type-var]
        else:
            merged.append(load)
    if any(load.start is None or load.end is None for load in loads):
        merged.append(Load(None, None))
    return merged


@attrs.define
class _PageState:
    slots: list[Item | Event | None] = attrs.field(factory=list)
    #: slot → the record's raw payload as JSON (``raw_as_json``)
    raw: dict[int, str] = attrs.field(factory=dict)
    position: int = 0
    repeats: int = 0
    unchanged: int = 0
    busy_s: float = 0.0


#: An engine's answer: the finished outputs of its oldest unanswered batches, oldest
#: first (each what ``EngineHandle.unpack`` takes), or stored events it needs first.
Answer = NeedRows | list[Any]


class EngineHandle(Protocol):
    """An ``IngestEngine`` reached from the Trio thread (here or in a worker process).

    ``submit`` hands the engine one batch of jobs (each made by ``pack``), with how many
    of its ``Linked`` items storage has committed (``IngestEngine.start``), and answers
    with whatever earlier batches finished: a worker keeps working on one batch while
    the next crosses the pipe, so its answers may lag one batch behind; ``drain``
    answers once every batch is finished. A ``NeedRows`` (the oldest unfinished batch
    needs stored events) is answered with ``resume``, which answers in turn — ``drain``
    says it is part of a drain. ``pack`` and ``unpack`` run on the Trio thread, apart
    from the round trip, so the engine is not kept idle while they work.
    """

    def pack(self, job: PageJob) -> Any: ...

    async def submit(self, packed: Sequence[Any], *, committed: int = 0) -> Answer: ...

    async def resume(
        self, loaded: Sequence[tuple[Load, list[Any]]], *, drain: bool = False
    ) -> Answer: ...

    async def drain(self) -> Answer: ...

    def unpack(self, finished: Any) -> list[PageResult]: ...


def answer_of(result: list[PageResult] | NeedRows) -> Answer:
    """An ``IngestEngine`` call's result as an ``Answer`` (one batch finished)."""
    return result if isinstance(result, NeedRows) else [result]


class LocalEngine:
    """The engine on the Trio thread (tests, and machines with one CPU): each batch is
    finished by its own ``submit``, so nothing is left for ``drain``."""

    def __init__(self, engine: IngestEngine) -> None:
        self.engine = engine

    def pack(self, job: PageJob) -> PageJob:
        return job

    async def submit(self, packed: Sequence[PageJob], *, committed: int = 0) -> Answer:
        await trio.lowlevel.checkpoint()
        return answer_of(self.engine.start(packed, committed=committed))

    async def resume(
        self, loaded: Sequence[tuple[Load, list[Any]]], *, drain: bool = False
    ) -> Answer:
        await trio.lowlevel.checkpoint()
        return answer_of(self.engine.resume(loaded))

    async def drain(self) -> Answer:
        await trio.lowlevel.checkpoint()
        return []

    def unpack(self, finished: list[PageResult]) -> list[PageResult]:
        return finished


async def ingest(
    adapters: dict[str, SourceAdapter],
    pages: trio.MemoryReceiveChannel[RawPage | QuerySplit],
    out: trio.MemorySendChannel[Item],
    stats: RunStats,
    *,
    known_hashes: Mapping[tuple[str, str], str] | None = None,
    engine: EngineHandle | None = None,
    loader: Loader | None = None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Normalise and link every record of every page; closes ``out`` when ``pages`` ends.

    ``engine`` does the work (default: a ``LocalEngine`` with an unbounded Linker);
    ``loader`` answers its ``NeedRows`` (``Store.known_records_between`` for this city;
    without one, nothing is stored yet). ``known_hashes`` maps (source, source_id) to the
    content hash stored by earlier crawls of this city.

    Three tasks, pages in order through each: one packs jobs, one feeds them to the
    engine (and answers its NeedRows), this one unpacks the results and hands the items
    on — so the engine works on the next page while the last one's items go on. With
    each batch the engine is told ``stats.linked_committed`` (storage counts the
    ``Linked`` items it has committed), so its Linker forgets committed partitions soon.
    Cancellation: anywhere; a worker process busy with a page is killed.
    """
    engine = engine if engine is not None else LocalEngine(IngestEngine(adapters, Linker()))
    stage = stats.stage("ingest")
    stage.watch(pages)
    packed_send, packed_recv = trio.open_memory_channel[tuple[RawPage | QuerySplit, Any]](
        ENGINE_BATCH
    )
    done_send, done_recv = trio.open_memory_channel[tuple[list[RawPage] | QuerySplit, Any]](
        ENGINE_AHEAD
    )
    known = known_hashes or {}
    async with pages, out, trio.open_nursery() as nursery:
        nursery.start_soon(_pack_jobs, engine, adapters, pages, packed_send, known, stage)
        nursery.start_soon(_feed_engine, engine, packed_recv, done_send, loader, stats)
        task_status.started()
        async with done_recv:
            async for batch, finished in done_recv:
                if isinstance(batch, QuerySplit):
                    await out.send(batch)
                    continue
                for page, result in zip(batch, engine.unpack(finished), strict=True):
                    stage.busy_s += result.busy_s
                    stats.unchanged_in_run += result.repeats
                    stats.source(page.source).unchanged += result.unchanged
                    stats.merged_across_sources = result.merged_across_sources
                    stats.dedup_comparisons = result.comparisons
                    for item in result.items:
                        await put(out, item)
                        stage.sent += 1
                    await put(
                        out,
                        PageDone(
                            page.query.key,
                            page.page_number + 1,
                            page.next_cursor,
                            page.next_cursor is None,
                        ),
                    )


async def _pack_jobs(
    engine: EngineHandle,
    adapters: Mapping[str, SourceAdapter],
    pages: trio.MemoryReceiveChannel[RawPage | QuerySplit],
    packed: trio.MemorySendChannel[tuple[RawPage | QuerySplit, Any]],
    known: Mapping[tuple[str, str], str],
    stage: StageStats,
) -> None:
    """Each page as the engine's job, ready before the engine is free for it."""
    async with pages, packed:
        async for page in pages:
            if isinstance(page, QuerySplit):
                await packed.send((page, None))
                continue
            stage.received += len(page.records)
            known_here = _known_of(adapters[page.source], page, known)
            job = PageJob(page.source, page.records, page.fetched_at, known_here)
            await packed.send((page, engine.pack(job)))


async def _feed_engine(
    engine: EngineHandle,
    jobs: trio.MemoryReceiveChannel[tuple[RawPage | QuerySplit, Any]],
    done: trio.MemorySendChannel[tuple[list[RawPage] | QuerySplit, Any]],
    loader: Loader | None,
    stats: RunStats,
) -> None:
    """Jobs through the engine in order — every page already packed in one call, up to
    ENGINE_BATCH — its requests for stored events answered. The engine's answers may
    lag a batch behind (``EngineHandle``): while more pages are waiting, the next batch
    is handed over before the last one's answer comes back; when none are, the engine
    is drained, so no finished page waits for the next one to arrive."""
    #: batches handed to the engine and the splits that came after them, in order, not
    #: yet sent on; empty, or a batch first (a split with no batch before it goes on)
    order: deque[list[RawPage] | QuerySplit] = deque()

    async def send_on(answer: Answer, *, draining: bool = False) -> None:
        while isinstance(answer, NeedRows):
            loaded = []
            for load in answer.loads:
                rows = (
                    await loader(load.start, load.end, date_only=load.date_only)
                    if loader is not None
                    else []
                )
                loaded.append((load, rows))
            answer = await engine.resume(loaded, drain=draining)
        for finished in answer:
            batch = order.popleft()
            assert not isinstance(batch, QuerySplit)  # a batch is always first
            await done.send((batch, finished))
            while order and isinstance(order[0], QuerySplit):
                await done.send((order.popleft(), None))

    async def drain() -> None:
        while order:
            answer = await engine.drain()
            if not answer:
                raise RuntimeError("the ingestion engine drained with batches unanswered")
            await send_on(answer, draining=True)

    async with jobs, done:
        held: tuple[RawPage | QuerySplit, Any] | None = None
        while True:
            if held is None:
                try:
                    held = jobs.receive_nowait()
                except trio.WouldBlock:
                    await drain()  # nothing to overlap with: let the finished pages go on
                    try:
                        held = await jobs.receive()
                    except trio.EndOfChannel:
                        break
                except trio.EndOfChannel:
                    break
            if isinstance(held[0], QuerySplit):
                if order:
                    order.append(held[0])  # behind unanswered batches
                else:
                    await done.send((held[0], None))
                held = None
                continue
            batch: list[tuple[RawPage | QuerySplit, Any]] = [held]
            held = None
            while len(batch) < ENGINE_BATCH:
                try:
                    more = jobs.receive_nowait()
                except (trio.WouldBlock, trio.EndOfChannel):
                    break
                if isinstance(more[0], QuerySplit):
                    held = more  # after this batch, in order
                    break
                batch.append(more)
            order.append([page for page, _ in batch if isinstance(page, RawPage)])
            jobs_of_batch = [job for _, job in batch]
            await send_on(await engine.submit(jobs_of_batch, committed=stats.linked_committed))
        await drain()


def _known_of(
    adapter: SourceAdapter, page: RawPage, known: Mapping[tuple[str, str], str]
) -> dict[str, str] | None:
    """The stored content hashes of the page's records (None when there are none)."""
    if not known:
        return None
    found = {}
    with jsonio.collector_paused():  # a packed page unpacks here, for its ids only
        for record in page.records:
            source_id = _safe_id(adapter, record)
            if source_id is not None:
                digest = known.get((adapter.name, source_id))
                if digest is not None:
                    found[source_id] = digest
    return found or None
