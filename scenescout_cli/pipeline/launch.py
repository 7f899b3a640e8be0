"""How ``scenescout crawl`` starts: the engine's process first, the pipeline beside it.

Ingestion's engine lives in a worker process (``ingest_worker``) whose fresh
interpreter imports ingestion, de-duplication and the adapters before it can take a
page, and this process imports the rest of the pipeline (the database driver, HTTP,
enrichment) before it can crawl: each ~0.3–0.5 s of CPU. Started one after the other
they were the first second of every crawl; here the engine's process starts first
and both import at once, on two cores, this process's imports made off the Trio
thread while the embedded database starts. This module imports only what that needs.
"""

from __future__ import annotations

import gc
import importlib
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import attrs
import trio

from ..model import City
from .ingest_worker import start_engine_process, tune_gc

if TYPE_CHECKING:
    from ..config import Settings
    from .run import CrawlResult, ProgressSink


@attrs.frozen
class CrawlOptions:
    """What one ``scenescout crawl`` was asked to do."""

    city: City
    sources: tuple[str, ...] = ()
    days: int = 30
    sandbox: bool = False
    sandbox_events: int | None = None
    sandbox_faults: str = "none"
    max_duration: float | None = None
    images: bool = True
    request_timeout: float = 30.0
    #: rate per source, overriding the adapter's documented rate (tests, benchmarks)
    rate_override: float | None = None
    #: append the run's figures here as JSON lines every TRACE_INTERVAL (benchmarks)
    trace_file: Path | None = None


async def launch_crawl(
    settings: Settings, options: CrawlOptions, *, sink: ProgressSink | None = None
) -> CrawlResult:
    """Start the engine's process, then ``run.crawl``; meanwhile import the pipeline and
    start the embedded database (when no URL is set), each in a thread of its own.

    The process ends with the crawl. Errors and cancellation are ``run.crawl``'s, and
    ``DatabaseUnavailable`` from the early start (the crawl's own start would raise the
    same, after checking its sources: a database that cannot start is now reported
    before a missing key). The threads are not abandoned: a cancellation is seen once
    they end.
    """
    async with start_engine_process() as engine_process:
        gc.disable()  # until the imports are done (see tune_gc)
        try:
            async with trio.open_nursery() as starting:
                if settings.database_url is None:
                    # the crawl's own start finds it running (pgserver keeps one handle
                    # per data dir and process; the two starts never overlap)
                    starting.start_soon(
                        trio.to_thread.run_sync, _start_database, settings.embedded_pgdata
                    )
                run = await trio.to_thread.run_sync(_import_pipeline)
        finally:
            tune_gc()  # after the imports: the collector never walks them again
        result: CrawlResult = await run.crawl(
            settings, options, sink=sink, engine_process=engine_process
        )
        return result


def _start_database(pgdata: Path) -> None:
    # Imports only the server module and pgserver: nothing the pipeline's thread
    # imports beside it (see the store package's docstring)
    from ..store.server import start_embedded

    start_embedded(pgdata)


def _import_pipeline() -> ModuleType:
    """The pipeline (``run``), and what httpx imports for its first client (httpcore,
    h11: ~0.1 s)."""
    run = importlib.import_module(f"{__package__}.run")
    importlib.import_module("httpcore")
    return run
