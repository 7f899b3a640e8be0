"""Discovery: queries in, pages of raw records out.

One task group per source, each with its own client (rate limit, concurrency cap,
retries) and ``SOURCE_CONCURRENCY`` fetchers. A query whose total exceeds the
source's paging cap is split (``planner.split_query``) and its parts run instead; so
is one holding a query that recent crawls had to split (``planner.SplitMemory``),
without fetching its first page.

Isolation: a query that fails (after retries) is counted and the source goes on; a
source whose credentials or quota are refused stops alone, marked ``failed``; the
other sources go on. Cancellation (SIGINT, ``--max-duration``) stops fetching at
once; pages already sent downstream are stored.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping, Sequence

import attrs
import trio

from ..errors import SourceAuthError, SourceError, SourceQuotaError, SourceUnavailable
from ..model import Page, Query
from ..sources.base import SourceAdapter
from ..sources.http import SourceClient
from ..store.db import QueryProgress
from . import capacities
from .messages import QuerySplit, RawPage
from .planner import SplitMemory, can_split, split_query
from .stats import SourceStats

#: Errors that stop a whole source (the others go on): credentials refused, the
#: day's quota used up, or the circuit breaker giving the source up.
_SOURCE_FATAL = (SourceAuthError, SourceQuotaError, SourceUnavailable)


@attrs.define
class SourceRuntime:
    """One configured source: its adapter, its client and its figures."""

    adapter: SourceAdapter
    client: SourceClient
    stats: SourceStats
    #: fingerprint of the credential, for the quota ledger
    key_id: str = ""
    #: seconds of fetching (not of waiting for the pipeline) one query may take
    query_timeout: float = 600.0
    #: progress of a resumed plan: query key → what was committed
    progress: Mapping[str, QueryProgress] = attrs.field(factory=dict)
    #: the queries recent crawls of the city had to split
    split_memory: SplitMemory = attrs.field(factory=SplitMemory)


async def discover(
    runtimes: dict[str, SourceRuntime],
    plans: Mapping[str, Sequence[Query]],
    raw: trio.MemorySendChannel[RawPage | QuerySplit],
    *,
    on_stop: Callable[[str], None] | None = None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run every source's planned queries; return when all sources are done.

    Each source has its own bounded query channel fed by its own planner task, so a
    slow source (an hourly rate limit) never holds up the others. Closes ``raw`` when
    every source has finished, which ends ingestion. ``on_stop`` hears why a source
    stopped early (a one-line notice).
    """
    async with raw, trio.open_nursery() as nursery:
        for name, runtime in runtimes.items():
            send, recv = trio.open_memory_channel[Query](capacities.SOURCE_QUERIES)
            nursery.start_soon(_feed, plans.get(name, ()), send, name=f"plan:{name}")
            nursery.start_soon(
                _run_source, runtime, recv, raw.clone(), on_stop, name=f"source:{name}"
            )
        task_status.started()


async def _feed(queries: Sequence[Query], inbox: trio.MemorySendChannel[Query]) -> None:
    """Hand a source its queries as its fetchers take them."""
    async with inbox:
        for query in queries:
            try:
                await inbox.send(query)
            except trio.BrokenResourceError:
                return  # the source stopped (auth, quota, breaker): the rest are moot


async def _run_source(
    runtime: SourceRuntime,
    inbox: trio.MemoryReceiveChannel[Query],
    raw: trio.MemorySendChannel[RawPage | QuerySplit],
    on_stop: Callable[[str], None] | None,
) -> None:
    stats = runtime.stats
    stats.state = "running"
    async with inbox, raw:
        try:
            async with trio.open_nursery() as nursery:
                for _ in range(capacities.SOURCE_CONCURRENCY):
                    nursery.start_soon(_fetcher, runtime, inbox.clone(), raw.clone())
        except* _SOURCE_FATAL as group:
            stats.state = "failed"
            stats.errors += 1
            stats.last_error = str(_first_leaf(group))
            if on_stop is not None:
                on_stop(f"{stats.last_error}; the other sources go on")
    if stats.state != "failed":
        stats.state = "done"
    stats.activity = ""


def _first_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    leaf: BaseException = group
    while isinstance(leaf, BaseExceptionGroup):
        leaf = leaf.exceptions[0]
    return leaf


async def _fetcher(
    runtime: SourceRuntime,
    inbox: trio.MemoryReceiveChannel[Query],
    raw: trio.MemorySendChannel[RawPage | QuerySplit],
) -> None:
    async with inbox, raw:
        async for query in inbox:
            await run_query(runtime, query, raw)


async def _fetch(
    runtime: SourceRuntime, query: Query, cursor: object, deadline: float
) -> Page | None:
    """One page, or None when the query failed or ran out of time (counted).

    Source-fatal errors propagate.
    """
    stats = runtime.stats
    began = time.perf_counter()
    with trio.move_on_at(deadline) as scope:
        try:
            return await runtime.client.fetch_page(query, cursor, packed=True)
        except _SOURCE_FATAL:
            raise
        except SourceError as exc:
            error = str(exc)
        finally:
            stats.fetch_s += time.perf_counter() - began
    if scope.cancelled_caught:
        error = f"{runtime.adapter.name}: query ran past its {runtime.query_timeout:g}s deadline"
    stats.errors += 1
    stats.queries_failed += 1
    stats.last_error = error
    return None


async def run_query(
    runtime: SourceRuntime, query: Query, raw: trio.MemorySendChannel[RawPage | QuerySplit]
) -> None:
    """Fetch every page of ``query`` into ``raw``, splitting it first if it exceeds the cap.

    A resumed plan's progress is honoured: a query already done is skipped, a split
    one goes straight to its parts, a query paged part-way continues from the cursor
    after its last stored page. A fresh query that holds one a recent crawl had to
    split (``runtime.split_memory``) goes straight to its parts too. The query's
    deadline (``runtime.query_timeout``) counts time spent fetching, not time spent
    waiting for the pipeline.
    """
    adapter: SourceAdapter = runtime.adapter
    stats = runtime.stats
    resumed = runtime.progress.get(query.key)
    if resumed is not None and resumed.state == "done":
        stats.queries_done += 1
        return
    if resumed is not None and resumed.state == "split":
        await _run_parts(runtime, query, raw, announce=False)
        return
    if resumed is None and can_split(query) and runtime.split_memory.must_split(query):
        # it holds a query a recent crawl had to split: too large, as surely as that was
        stats.splits_ahead += 1
        await _run_parts(runtime, query, raw, announce=True)
        return
    number = resumed.pages if resumed is not None else 0
    cursor = resumed.cursor if resumed is not None else None
    deadline = trio.current_time() + runtime.query_timeout
    page = await _fetch(runtime, query, cursor, deadline)
    if page is None:
        return
    if cursor is None and page.total is not None and page.total > adapter.page_cap:
        if can_split(query):
            # The parts fetch these records again: this page is not held while they run
            # (one per level of a deep split, for every fetcher, was 22 MiB at 1M events).
            del page
            await _run_parts(runtime, query, raw, announce=True)
            return
        stats.capped += 1
    total_pages = None
    if page.total is not None:
        size = max(1, len(page.records))
        total_pages = min(-(-page.total // size), -(-adapter.page_cap // size))
    while True:
        fetched_at = dt.datetime.now(dt.UTC)
        stats.activity = _activity(query, number, total_pages)
        waited_from = trio.current_time()
        await raw.send(
            RawPage(adapter.name, query, number, page.records, fetched_at, page.next_cursor)
        )
        # counted once handed on: a page dropped by cancellation mid-send is not "fetched"
        stats.pages += 1
        stats.records += len(page.records)
        deadline += trio.current_time() - waited_from
        if page.next_cursor is None:
            break
        next_page = await _fetch(runtime, query, page.next_cursor, deadline)
        if next_page is None:
            return
        page = next_page
        number += 1
    stats.queries_done += 1


async def _run_parts(
    runtime: SourceRuntime,
    query: Query,
    raw: trio.MemorySendChannel[RawPage | QuerySplit],
    *,
    announce: bool,
) -> None:
    """Run the parts of a split query, depth first, one at a time.

    Parts run only as fast as the pipeline takes their pages, so splitting never
    fetches far ahead. ``announce`` records the split (not needed when resuming one).
    """
    stats = runtime.stats
    parts = split_query(query)
    stats.queries_split += 1
    stats.queries_planned += len(parts)
    stats.queries_done += 1
    if announce:
        await raw.send(QuerySplit(query.key))
    for part in parts:
        await run_query(runtime, part, raw)


def _activity(query: Query, number: int, total_pages: int | None) -> str:
    w = query.window
    of = f"/{total_pages}" if total_pages else ""
    return f"{w.start:%b %d %H:%M}→{w.end:%b %d %H:%M} · page {number + 1}{of}"
