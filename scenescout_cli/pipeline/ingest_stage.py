"""Ingestion's stage on the Trio thread: pages in, the engine's items out, in order.

The work itself is an ``IngestEngine``'s (``ingestion``): synchronous and free of I/O.
Here are the ``ingest`` task that hands it pages and answers its requests for stored
events (``NeedRows``) from the database, and the two ways to reach it: on this thread
(``LocalEngine``) or in a worker process of its own (``ingest_worker.ProcessEngine``).
The engine's modules import no Trio: a worker process imports them and nothing of
this stage.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import trio

from .. import jsonio
from ..sources.base import SourceAdapter
from .channels import put
from .ingestion import IngestEngine, NeedRows, PageJob, PageResult, safe_record_id
from .linking import Linker, Load, Loader, fetch_load
from .messages import Item, PageDone, QuerySplit, RawPage
from .stats import RunStats, StageStats

#: Engine answers (of up to ENGINE_BATCH pages) queued ahead of the items ingestion is
#: handing on. Zero: the feeder holds the next answer until it is taken, while the
#: engine works on the batch after it (``_feed_engine``).
ENGINE_AHEAD = 0
#: Pages handed to the engine in one call at most (those packed and waiting).
ENGINE_BATCH = 2


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
                    stats.moved = result.moved
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
                rows = await fetch_load(loader, load) if loader is not None else []
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
            source_id = safe_record_id(adapter, record)
            if source_id is not None:
                digest = known.get((adapter.name, source_id))
                if digest is not None:
                    found[source_id] = digest
    return found or None
