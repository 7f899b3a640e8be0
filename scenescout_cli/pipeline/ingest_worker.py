"""Ingestion's engine in a worker process of its own, so the Trio thread stays free.

Normalising, hashing and de-duplicating are most of a crawl's CPU; in a process of
their own they run beside discovery, processing and storage on the Trio thread
instead of taking turns with them. The engine (``IngestEngine``) keeps state between
pages — the Linker's canonical events, the in-run seen-set — so it lives in exactly
one process for the whole crawl:

    async with open_ingest_engine(adapters, fresh=...) as engine:
        answer = await engine.submit([engine.pack(job) for job in jobs])
        while isinstance(answer, NeedRows):  # stored events it needs first
            answer = await engine.resume(rows_of(answer.loads))
        for finished in answer:              # earlier batches, oldest first: may be none
            results = engine.unpack(finished)  # a PageResult per job, in order
        ...                                  # and ``drain()`` for the rest

Contract
    * One call at a time (one ingestion task calls): the context has one worker, which
      is never retired; the engine is made in it by the first call.
    * The engine works in a thread of the worker (``engine_host.EngineThread``): a call
      returns as soon as all but the newest batch are finished, and the newest is worked
      on while the answer crosses back and the next batch comes (measured at 10k events:
      ~19 ms of every ~100 ms call was the engine waiting for the round trip).
    * What crosses the pipe is bytes pickled with the C pickler: pages' records out
      (packed on the Trio thread ahead of time), items back with each record's raw
      payload as JSON text (``Linked.raw_json``).
    * Database reads stay on the Trio thread: the engine asks (``NeedRows``) and the
      caller answers with rows, so the worker holds no connection.

The process can be started before the engine is made (``start_engine_process``): a
fresh interpreter importing ingestion, de-duplication and the adapters takes ~0.4 s,
which then overlaps the crawl's own start-up. ``scenescout crawl`` starts it before
it imports its pipeline (``launch``). What runs in the process is ``engine_host``,
which imports no Trio; this module imports the engine's modules only where it makes
the engine on this thread.

Failures: an exception in the engine (a bug) propagates as itself. The worker process
dying (killed, out of memory) ends the run: ``IngestWorkerLost`` — its state cannot be
rebuilt mid-page. Cancellation kills the worker (``kill_on_cancel``) and propagates.
At the end of a crawl the process exits without its interpreter's teardown
(``engine_host.open_engine``).
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
import pickle
import secrets
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import trio
import trio_parallel

from .engine_host import (
    PROTOCOL,
    IngestWorkerLost,
    drain_batches,
    import_engine,
    never_retire,
    open_engine,
    resume_batch,
    submit_batch,
    tune_gc,
)

if TYPE_CHECKING:
    from ..sources.base import SourceAdapter
    from .ingest_stage import Answer, EngineHandle
    from .ingestion import PageJob, PageResult
    from .linking import Load

__all__ = [
    "EngineProcess",
    "IngestWorkerLost",
    "ProcessEngine",
    "open_engine_process",
    "open_ingest_engine",
    "start_engine_process",
    "tune_gc",
]


class EngineProcess:
    """The one worker process an engine lives in, and the limiter that keeps its calls
    one at a time (a second concurrent call would start a second process)."""

    def __init__(self, context: trio_parallel.WorkerContext) -> None:
        self._context = context
        self._limiter = trio.CapacityLimiter(1)
        #: set when the process has started and imported the engine's modules (or
        #: failed to: the engine's first call then says so)
        self.ready = trio.Event()

    async def call(self, fn: Any, *args: Any) -> Any:
        """``fn(*args)`` in the process. Errors: IngestWorkerLost if it died;
        cancellation kills it."""
        try:
            return await self._context.run_sync(
                fn, *args, kill_on_cancel=True, limiter=self._limiter
            )
        except trio_parallel.BrokenWorkerError as exc:
            raise IngestWorkerLost(f"the ingestion worker process died: {exc}") from exc

    async def warm_up(self) -> None:
        """Start the process and import the engine's modules."""
        try:
            with contextlib.suppress(IngestWorkerLost):  # the engine's first call says so
                await self.call(import_engine)
        finally:
            self.ready.set()


@asynccontextmanager
async def start_engine_process(*, cpus: int | None = None) -> AsyncIterator[EngineProcess | None]:
    """The process the crawl's engine will live in, starting now in the background;
    None when there is one CPU (``cpus``, default ``os.cpu_count()``): the engine then
    runs on the Trio thread. The process ends with the block."""
    cpus = cpus if cpus is not None else (os.cpu_count() or 1)
    if cpus < 2:
        yield None
        return
    async with (
        trio_parallel.open_worker_context(
            idle_timeout=math.inf, retire=never_retire, grace_period=5.0
        ) as context,
        trio.open_nursery() as nursery,
    ):
        process = EngineProcess(context)
        nursery.start_soon(process.warm_up, name="ingest-worker:start")
        yield process


class ProcessEngine:
    """An ``EngineHandle`` whose engine lives in an ``EngineProcess``."""

    def __init__(
        self,
        process: EngineProcess,
        adapters: Mapping[str, SourceAdapter],
        *,
        fresh: bool = False,
    ) -> None:
        self._process = process
        self._adapters = dict(adapters)
        self._fresh = fresh
        self._session = secrets.token_hex(8)
        self._opened = trio.Event()

    async def _call(self, fn: Any, *args: Any) -> Any:
        return await self._process.call(fn, self._session, *args)

    async def open(self) -> None:
        """Make the engine in the process (once, before any page)."""
        await self._call(open_engine, self._adapters, self._fresh)
        self._opened.set()

    def pack(self, job: PageJob) -> bytes:
        return pickle.dumps(job, PROTOCOL)

    async def submit(self, packed: Sequence[bytes], *, committed: int = 0) -> Answer:
        await self._opened.wait()
        answer: Answer = await self._call(submit_batch, list(packed), committed)
        return answer

    async def resume(
        self, loaded: Sequence[tuple[Load, list[Any]]], *, drain: bool = False
    ) -> Answer:
        answer: Answer = await self._call(resume_batch, pickle.dumps(loaded, PROTOCOL), drain)
        return answer

    async def drain(self) -> Answer:
        await self._opened.wait()
        answer: Answer = await self._call(drain_batches)
        return answer

    def unpack(self, finished: bytes) -> list[PageResult]:
        results: list[PageResult] = pickle.loads(finished)
        return results


@asynccontextmanager
async def open_engine_process(
    adapters: Mapping[str, SourceAdapter],
    *,
    fresh: bool = False,
    process: EngineProcess | None = None,
) -> AsyncIterator[ProcessEngine]:
    """The engine in a worker process, for the block: in ``process`` if given (started
    earlier by ``start_engine_process``), else in one started here and ended with the
    block. ``fresh``: nothing of the city was stored before (see ``Linker``).

    The engine is made in the background; the first ``start`` waits for it. Errors:
    ``IngestWorkerLost`` if the process cannot start or dies.
    """
    async with contextlib.AsyncExitStack() as stack:
        if process is None:
            process = await stack.enter_async_context(start_engine_process(cpus=2))
            assert process is not None
        nursery = await stack.enter_async_context(trio.open_nursery())
        engine = ProcessEngine(process, adapters, fresh=fresh)
        nursery.start_soon(engine.open, name="ingest-worker:open")
        yield engine


@asynccontextmanager
async def open_ingest_engine(
    adapters: Mapping[str, SourceAdapter],
    *,
    fresh: bool = False,
    cpus: int | None = None,
    process: EngineProcess | None = None,
) -> AsyncIterator[EngineHandle]:
    """The crawl's engine: in ``process`` when given, else in a process of its own when
    there are two CPUs or more (``cpus``, default ``os.cpu_count()``), else on the Trio
    thread. ``fresh``: nothing of the city was stored before this crawl (see
    ``Linker``)."""
    from .ingest_stage import LocalEngine
    from .ingestion import IngestEngine
    from .linking import Linker

    cpus = cpus if cpus is not None else (os.cpu_count() or 1)
    if process is None and cpus < 2:
        gc.set_threshold(100_000, 50, 10)  # as the crawl's processes (see tune_gc)
        yield LocalEngine(IngestEngine(adapters, Linker(lazy=True, fresh=fresh)))
        return
    async with open_engine_process(adapters, fresh=fresh, process=process) as engine:
        yield engine
