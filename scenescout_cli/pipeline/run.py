"""One crawl run: the nursery tree of DESIGN.md §1, wired in one visible place.

    root nursery ── signals (1st SIGINT/SIGTERM: stop discovery; 2nd: cancel root)
                 ├─ sandbox server (with --sandbox)
                 ├─ progress sink (live view | log lines | nothing)
                 └─ pipeline nursery
                      planner ─► discovery ─► ingestion ─► processing ─► storage
                      (one query channel per source; discovery runs under the
                       discovery cancel scope, which also carries --max-duration)

Completion flows downstream: each stage closes its send side when its input ends.
When discovery is cancelled the later stages drain what was fetched into the
database, then the run is recorded in ``crawl_runs`` with its status and figures.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import os
import signal
import socket
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

import attrs
import httpx
import trio

from .. import __version__
from ..config import Settings
from ..errors import ConfigError, LockHeld
from ..model import City, Query, Window
from ..sources.registry import configured_sources
from ..store.db import Store, open_store
from . import capacities
from .discovery import SourceRuntime, discover
from .enrichment import open_enricher, open_workers
from .governance import build_runtimes, keep_ledger
from .ingest_stage import EngineHandle, ingest
from .ingest_worker import EngineProcess, open_ingest_engine, start_engine_process
from .launch import CrawlOptions
from .linking import Loader
from .messages import Item, QuerySplit, RawPage
from .planner import SplitMemory, crawl_window
from .processing import Enricher, process
from .stats import RunStats
from .storage import CRASH_VARIABLE, crash_point, store_items

#: An unfinished crawl with the same arguments younger than this is resumed, not restarted.
RESUME_WITHIN = dt.timedelta(hours=6)
#: Queries that crawls of the city begun this recently had to split are split at once.
SPLIT_MEMORY = dt.timedelta(days=7)
EXIT_CODES = {"succeeded": 0, "partial": 1, "failed": 1, "interrupted": 130}
#: Seconds the run may spend recording its end after it was cancelled outright.
FINAL_WRITE_GRACE = 5.0
#: Seconds between two lines of ``--trace-file``.
TRACE_INTERVAL = 0.5
USER_AGENT = f"scenescout/{__version__} (event crawler)"


@attrs.frozen
class CrawlResult:
    run_id: int | None
    status: str
    stats: RunStats

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]


class ProgressSink(Protocol):
    """Shows a running crawl. ``run`` loops until cancelled and never blocks the pipeline."""

    async def run(self, stats: RunStats) -> None: ...


async def crawl(
    settings: Settings,
    options: CrawlOptions,
    *,
    sink: ProgressSink | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    handle_signals: bool = True,
    engine_process: EngineProcess | None = None,
) -> CrawlResult:
    """Run one crawl to completion, interruption or deadline; return its outcome.

    ``engine_process``: the process for ingestion's engine, already started by the
    caller (``launch.launch_crawl``); by default one is started here.

    Errors: ConfigError (no source configured), LockHeld (another crawl of the city
    runs), DatabaseUnavailable. Source failures do not raise: they make the run
    ``partial``. A second SIGINT/SIGTERM cancels everything and the run is recorded
    ``interrupted`` if the database answers within a short grace.
    """
    stats = RunStats(city=options.city.slug)
    discovery_scope = trio.CancelScope()
    if options.max_duration is not None:
        discovery_scope.deadline = trio.current_time() + options.max_duration
    interrupted = trio.Event()

    async with trio.open_nursery() as root:
        if handle_signals:
            await root.start(_watch_signals, discovery_scope, root.cancel_scope, interrupted, stats)
        if options.sandbox:
            settings = await _start_sandbox(root, settings, options)
        sources, notices = configured_sources(settings, options.sources)
        for notice in notices:
            stats.notice(notice)
        if not sources:
            raise ConfigError(
                "no source is configured: set a provider key such as TICKETMASTER_API_KEY "
                "(see README), or try --sandbox"
            )
        # The engine's process (unless ``launch`` started it, with the database, before
        # importing this module) and the worker pool start first: their start-up (a
        # fresh interpreter's imports, the classifier's model) overlaps the database's.
        async with (
            _started(engine_process) as engine_process,
            open_workers(settings) as workers,
            open_store(settings) as store,
        ):
            if not await store.try_lock_city(options.city.slug):
                raise LockHeld(
                    f"another crawl of {options.city.slug} is running (its lock is held)"
                )
            run_id = await store.start_run(options.city.slug, {"status": "running"})
            if sink is not None:
                root.start_soon(sink.run, stats, name="progress")
            if options.trace_file is not None:
                root.start_soon(_trace_run, options.trace_file, stats, name="trace")
            status = "failed"
            try:
                async with httpx.AsyncClient(
                    transport=transport,
                    timeout=None,
                    headers={"User-Agent": USER_AGENT},
                    follow_redirects=False,
                ) as http:
                    runtimes = await build_runtimes(
                        settings, sources, http, store, stats, rate_override=options.rate_override
                    )
                    fresh = crawl_window(dt.datetime.now(dt.UTC), options.days)
                    plan = await store.open_plan(
                        options.city.slug,
                        plan_fingerprint(options, sources),
                        fresh.start,
                        fresh.end,
                        resume_within=RESUME_WITHIN,
                    )
                    if plan.resumed:
                        stats.notice(
                            f"resuming the unfinished crawl of {plan.window_start:%Y-%m-%d %H:%M} "
                            f"UTC ({len(plan.progress)} queries already stored)"
                        )
                    split_memory = SplitMemory.from_keys(
                        await store.recent_splits(options.city.slug, SPLIT_MEMORY)
                    )
                    for runtime in runtimes.values():
                        runtime.progress = plan.progress
                        runtime.split_memory = split_memory
                    known = await store.known_hashes(options.city.slug)
                    first_crawl = not await store.has_events(options.city.slug)
                    adapters = {name: runtime.adapter for name, runtime in runtimes.items()}
                    async with (
                        open_ingest_engine(
                            adapters, fresh=first_crawl, process=engine_process
                        ) as engine,
                        open_enricher(
                            settings,
                            store,
                            http,
                            options.city.slug,
                            stats,
                            workers,
                            images=options.images,
                        ) as enricher,
                        trio.open_nursery() as ledger,
                    ):
                        # the ledger's last flush happens when this nursery closes,
                        # while the store is still open
                        await ledger.start(keep_ledger, store, runtimes)
                        await run_pipeline(
                            store,
                            run_id,
                            options.city,
                            Window(plan.window_start, plan.window_end),
                            runtimes,
                            stats,
                            discovery_scope,
                            plan_id=plan.id,
                            known_hashes=known,
                            engine=engine,
                            # stored events are loaded a few hours at a time, as records need them
                            loader=functools.partial(
                                store.known_records_between, options.city.slug
                            ),
                            enricher=enricher,
                        )
                        ledger.cancel_scope.cancel(reason="pipeline finished")
                filled = await store.fill_from_venues(options.city.slug)
                if filled:
                    stats.notice(f"{filled} events got their venue's coordinates")
                status = _status(stats, discovery_scope, interrupted)
                if status == "succeeded":
                    await store.complete_plan(plan.id)
                for name in runtimes:
                    source = stats.source(name)
                    await store.record_source_state(
                        name,
                        options.city.slug,
                        run_id,
                        source.state,
                        source.records,
                        source.unchanged,
                        source.errors,
                    )
            finally:
                stats.status = (
                    status if status != "failed" or not interrupted.is_set() else "interrupted"
                )
                stats.finished = trio.current_time()
                with trio.move_on_after(FINAL_WRITE_GRACE, shield=True):
                    await store.finish_run(run_id, stats.status, stats.snapshot())
        root.cancel_scope.cancel(reason="crawl finished")
    return CrawlResult(run_id=run_id, status=stats.status, stats=stats)


@asynccontextmanager
async def _started(process: EngineProcess | None) -> AsyncIterator[EngineProcess | None]:
    """``process`` if there is one, else a process started for the block."""
    if process is not None:
        yield process
        return
    async with start_engine_process() as started:
        yield started


async def _trace_run(path: Path, stats: RunStats) -> None:
    """Append one JSON line of ``stats`` to ``path`` every TRACE_INTERVAL until cancelled.

    Each line: seconds since the run began, events stored, each stage's queue depth,
    capacity, counts and busy seconds, each source's records and requests. The file is
    written off the Trio thread (``trio.open_file``), line-buffered, and closed on
    cancellation. OSError opening it ends the run like any other I/O error.
    """
    async with await trio.open_file(path, "a", buffering=1, encoding="utf-8") as file:
        while True:
            sample = {
                "t": round(trio.current_time() - stats.started, 3),
                "stored": stats.stored,
                "stages": {
                    name: {
                        "depth": stage.depth,
                        "capacity": stage.capacity,
                        "received": stage.received,
                        "sent": stage.sent,
                        "busy_s": round(stage.busy_s, 3),
                    }
                    for name, stage in stats.stages.items()
                },
                "sources": {
                    name: {"records": source.records, "requests": source.requests}
                    for name, source in stats.sources.items()
                },
            }
            await file.write(json.dumps(sample, separators=(",", ":")) + "\n")
            await trio.sleep(TRACE_INTERVAL)


def plan_fingerprint(options: CrawlOptions, sources: Mapping[str, Any]) -> str:
    """What makes two crawls "the same arguments": city, area, sources and days."""
    area = options.city.area
    key = {
        "city": options.city.slug,
        "area": [round(area.lat, 5), round(area.lon, 5), area.radius_km],
        "sources": sorted(sources),
        "days": options.days,
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]


def _status(stats: RunStats, discovery_scope: trio.CancelScope, interrupted: trio.Event) -> str:
    if interrupted.is_set():
        return "interrupted"
    if discovery_scope.cancelled_caught:
        stats.notice("stopped at --max-duration; what was fetched is stored")
        return "partial"
    if any(s.state == "failed" or s.queries_failed for s in stats.sources.values()):
        return "partial"
    return "succeeded"


async def run_pipeline(
    store: Store,
    run_id: int | None,
    city: City,
    window: Window,
    runtimes: dict[str, SourceRuntime],
    stats: RunStats,
    discovery_scope: trio.CancelScope,
    *,
    plan_id: int | None = None,
    known_hashes: Mapping[tuple[str, str], str] | None = None,
    engine: EngineHandle | None = None,
    loader: Loader | None = None,
    enricher: Enricher | None = None,
) -> None:
    """Wire planner → discovery → ingestion → processing → storage and wait for them all.

    ``plan_id`` makes storage commit query progress (for crash-safe resume);
    ``known_hashes`` lets ingestion skip records unchanged since the last crawl;
    ``engine`` does ingestion's work (pipeline/ingest_worker.py) and ``loader`` reads the
    stored canonical events it asks for (both default to an in-memory Linker).
    """
    raw_send, raw_recv = trio.open_memory_channel[RawPage | QuerySplit](capacities.RAW_PAGES)
    event_send, event_recv = trio.open_memory_channel[Item](capacities.EVENTS)
    store_send, store_recv = trio.open_memory_channel[Item](capacities.STORE)
    adapters = {name: runtime.adapter for name, runtime in runtimes.items()}
    async with trio.open_nursery() as nursery:
        await nursery.start(
            functools.partial(
                store_items, plan_id=plan_id, crash=crash_point(os.environ.get(CRASH_VARIABLE))
            ),
            store,
            run_id,
            city.slug,
            store_recv,
            stats,
        )
        await nursery.start(
            functools.partial(process, enricher=enricher), event_recv, store_send, stats
        )
        await nursery.start(
            functools.partial(ingest, known_hashes=known_hashes, engine=engine, loader=loader),
            adapters,
            raw_recv,
            event_send,
            stats,
        )
        nursery.start_soon(
            _discovery_group,
            discovery_scope,
            runtimes,
            plan_queries(runtimes, city, window, stats),
            stats,
            raw_send,
        )


def plan_queries(
    runtimes: dict[str, SourceRuntime], city: City, window: Window, stats: RunStats
) -> dict[str, list[Query]]:
    """The planner: each source's initial queries for the city and window. Pure.

    Queries that turn out to exceed a paging cap are split later, in discovery.
    """
    plans = {name: runtime.adapter.plan(city, window) for name, runtime in runtimes.items()}
    for name, queries in plans.items():
        stats.source(name).queries_planned += len(queries)
    return plans


async def _discovery_group(
    scope: trio.CancelScope,
    runtimes: dict[str, SourceRuntime],
    plans: dict[str, list[Query]],
    stats: RunStats,
    raw_send: trio.MemorySendChannel[RawPage | QuerySplit],
) -> None:
    """Discovery under ``scope`` (SIGINT, --max-duration).

    The raw channel is closed even when the scope was cancelled before discovery
    began, so the later stages always see the end of their input.
    """
    try:
        with scope:
            await discover(runtimes, plans, raw_send, on_stop=stats.notice)
    finally:
        raw_send.close()


async def _watch_signals(
    discovery_scope: trio.CancelScope,
    root_scope: trio.CancelScope,
    interrupted: trio.Event,
    stats: RunStats,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        task_status.started()
        async for signum in signals:
            name = signal.Signals(signum).name
            if not interrupted.is_set():
                interrupted.set()
                stats.notice(f"{name}: stopping discovery and storing what was fetched")
                discovery_scope.cancel(reason=f"{name} received")
            else:
                stats.notice(f"second {name}: stopping now")
                root_scope.cancel(reason=f"second {name} received")


async def _start_sandbox(root: trio.Nursery, settings: Settings, options: CrawlOptions) -> Settings:
    """Serve the provider emulator in ``root`` and point every adapter at it."""
    from ..sandbox import serve

    info = await root.start(_serve_sandbox, serve, options)
    urls = {name: url for name, url in info.urls.items() if hasattr(settings.urls, name)}
    keys = {_KEY_FIELDS.get(name, name): key for name, key in info.keys.items()}
    keys = {name: key for name, key in keys.items() if hasattr(settings.keys, name)}
    return attrs.evolve(
        settings,
        urls=attrs.evolve(settings.urls, **urls),
        keys=attrs.evolve(settings.keys, **keys),
        eventbrite=attrs.evolve(
            settings.eventbrite,
            organizers=info.eventbrite_organizers,
            venues=info.eventbrite_venues,
        ),
        allow_private_network=True,
    )


#: settings.keys field of a source whose name differs
_KEY_FIELDS = {"google_places": "google"}


async def _serve_sandbox(
    serve: Callable[..., Awaitable[None]],
    options: CrawlOptions,
    *,
    task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve on the city's own port when it is free, so that the sandbox's image URLs
    (which carry the port) are the same from one crawl to the next and an unchanged
    sandbox stays unchanged; on any free port otherwise."""
    port = sandbox_port(options.city.slug)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", port))
    except OSError:
        port = 0
    await serve(
        options.city,
        port=port,
        events=options.sandbox_events,
        faults=options.sandbox_faults,
        task_status=task_status,
    )


def sandbox_port(city: str) -> int:
    """The loopback port a crawl's sandbox prefers for ``city`` (47000–47999)."""
    return 47000 + zlib.crc32(city.encode()) % 1000
