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
    * The engine works in a thread of the worker (``_EngineThread``): a call returns as
      soon as all but the newest batch are finished, and the newest is worked on while
      the answer crosses back and the next batch comes (measured at 10k events: ~19 ms
      of every ~100 ms call was the engine waiting for the round trip).
    * What crosses the pipe is bytes pickled with the C pickler: pages' records out
      (packed on the Trio thread ahead of time), items back with each record's raw
      payload as JSON text (``Linked.raw_json``).
    * Database reads stay on the Trio thread: the engine asks (``NeedRows``) and the
      caller answers with rows, so the worker holds no connection.

The process can be started before the engine is made (``start_engine_process``): a
fresh interpreter importing ingestion, de-duplication and the adapters takes ~0.4 s,
which then overlaps the crawl's own start-up. ``scenescout crawl`` starts it before
it imports its pipeline (``launch``); so this module imports the engine's modules only
where it makes the engine.

Failures: an exception in the engine (a bug) propagates as itself. The worker process
dying (killed, out of memory) ends the run: ``IngestWorkerLost`` — its state cannot be
rebuilt mid-page. Cancellation kills the worker (``kill_on_cancel``) and propagates.
At the end of a crawl the process exits without its interpreter's teardown (``_open``).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import functools
import gc
import importlib
import math
import os
import pickle
import secrets
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import trio
import trio_parallel

from ..errors import ScenescoutError

# The engine's own modules are imported where they are used (``_open``, the worker's
# first call): the crawl starts this process before it imports its pipeline.
if TYPE_CHECKING:
    from ..sources.base import SourceAdapter
    from .ingestion import Answer, EngineHandle, IngestEngine, NeedRows, PageJob, PageResult
    from .linking import Load

PROTOCOL = pickle.HIGHEST_PROTOCOL


class IngestWorkerLost(ScenescoutError):
    """The ingestion worker process died; the crawl cannot go on without its state."""


#: The engine of this worker process, working in a thread of its own, and the session
#: of the crawl that made it.
_worker: _EngineThread | None = None
_session: str | None = None


def tune_gc() -> None:
    """Garbage-collector settings for a crawl's processes, once their imports are done
    (imports run with the collector off: they leave no garbage worth a collection, and
    ~150 collections of a growing heap were ~15% of the main process's import time).
    Both processes collect once and freeze what start-up built (modules, settings), so
    collections never walk it again, and collect the young generation every 100,000
    allocations instead of 700. They allocate millions of short-lived objects and leave
    almost no reference cycles: the engine's process holds a large de-duplication index
    (~15% of its CPU went to collections), and the main process's one recurring cycle,
    each HTTP response with its stream, is broken where the page is read
    (``sources/http.py``; before that, rare collections let the pages' bodies pile up:
    +110 MiB at 100k events). With the cycle broken, a 100k crawl's main process
    spent 0.08 s in collections instead of 0.76, for a lower peak (docs/benchmarks.md,
    seventeenth round)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 10)
    gc.enable()


def _heap_trimmer() -> Callable[[], object] | None:
    """glibc's ``malloc_trim(0)``: hands the heap's free pages back to the system. None
    where the C library has none (musl, macOS).

    The engine's process frees a batch's pages and records after each call while it
    keeps its de-duplication state; what the batch took from the C heap (page bytes,
    large dicts and lists: pymalloc passes allocations over 512 bytes to malloc)
    stays in its resident size until glibc trims the heap's top, which a long-lived
    object above it prevents. A trim after each batch costs ~0.25 ms (under 0.5% of a
    batch's work). The engine's process fed the first 1,200 pages of a recorded 1M
    crawl as a crawl feeds it: peak RSS 142.8 → 138.3 MiB; at 100k events no change."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return functools.partial(trim, 0)


#: The engine's and the adapters' modules, imported by a process started before the
#: engine is made.
_ENGINE_MODULES = (
    "scenescout_cli.pipeline.ingestion",
    "scenescout_cli.pipeline.linking",
    *(
        f"scenescout_cli.sources.{name}"
        for name in ("ticketmaster", "eventbrite", "meetup", "yelp", "google_places")
    ),
)


def _import_engine() -> None:
    """In the worker: import what the engine will need, with the collector off until
    ``tune_gc`` (the engine's first call)."""
    gc.disable()
    for name in _ENGINE_MODULES:
        importlib.import_module(name)


class _EngineThread:
    """The engine working in a thread of the worker process, batch after batch, while
    the process's main thread takes the next batch off the pipe and hands back the
    finished ones: the engine no longer waits for each round trip.

    Batches (lists of pickled jobs) queue in order; each finishes as pickled
    ``PageResult`` lists. ``answer`` waits until few enough batches are unfinished, or the
    oldest needs stored events (``NeedRows``, answered with ``resume``). An exception
    in the engine stops the thread; every later ``answer`` raises it.
    """

    def __init__(self, engine: IngestEngine) -> None:
        self._engine = engine
        self._changed = threading.Condition()
        #: batches and, for each, how many links storage had committed when it came
        self._todo: deque[tuple[list[bytes], int]] = deque()
        self._unfinished = 0  # batches queued or being worked on
        self._finished: list[bytes] = []
        self._need: NeedRows | None = None  # asked for, not yet taken by ``answer``
        self._rows: bytes | None = None  # the answer to the last NeedRows
        self._error: BaseException | None = None
        threading.Thread(target=self._run, name="ingest-engine", daemon=True).start()

    def submit(self, jobs: list[bytes], committed: int) -> None:
        with self._changed:
            self._todo.append((jobs, committed))
            self._unfinished += 1
            self._changed.notify_all()

    def resume(self, loaded: bytes) -> None:
        with self._changed:
            self._rows = loaded
            self._changed.notify_all()

    def answer(self, *, unfinished: int) -> NeedRows | list[bytes]:
        """Once at most ``unfinished`` batches are left, the finished ones (oldest
        first); or NeedRows, as soon as the oldest batch needs stored events."""
        with self._changed:
            while self._error is None and self._need is None and self._unfinished > unfinished:
                self._changed.wait()
            if self._error is not None:
                raise self._error
            if self._need is not None:
                need, self._need = self._need, None
                return need
            finished, self._finished = self._finished, []
            return finished

    def _run(self) -> None:
        from .ingestion import NeedRows

        trim = _heap_trimmer()
        try:
            while True:
                with self._changed:
                    while not self._todo:
                        self._changed.wait()
                    jobs, committed = self._todo.popleft()
                result = self._engine.start(
                    [pickle.loads(job) for job in jobs], committed=committed
                )
                while isinstance(result, NeedRows):
                    with self._changed:
                        self._need = result
                        self._changed.notify_all()
                        while self._rows is None:
                            self._changed.wait()
                        loaded, self._rows = self._rows, None
                    result = self._engine.resume(pickle.loads(loaded))
                finished = pickle.dumps(result, PROTOCOL)
                with self._changed:
                    self._finished.append(finished)
                    self._unfinished -= 1
                    self._changed.notify_all()
                del jobs, result, finished  # the batch's objects go before the trim
                if trim is not None:
                    trim()
        except BaseException as exc:  # raised again by ``answer``, in the main thread
            with self._changed:
                self._error = exc
                self._changed.notify_all()


def _open(session: str, adapters: Mapping[str, SourceAdapter], fresh: bool) -> None:
    """In the worker: make the crawl's engine (raw payloads travel back as JSON)."""
    from .ingestion import IngestEngine
    from .linking import Linker

    global _worker, _session
    tune_gc()
    engine = IngestEngine(adapters, Linker(lazy=True, fresh=fresh), raw_as_json=True)
    _worker = _EngineThread(engine)
    _session = session
    # When the process exits (trio-parallel closed its pipe: the crawl is done with the
    # engine), end it at once: freeing the engine's state object by object took ~0.13 s
    # of a 10k crawl's exit, more in a large city, and the process holds no file or
    # connection to close. The last handler registered runs first.
    atexit.register(os._exit, 0)


def _worker_of(session: str) -> _EngineThread:
    if _worker is None or _session != session:
        # a fresh process took the dead one's place: its state is gone
        raise IngestWorkerLost("the ingestion worker process was replaced mid-crawl")
    return _worker


# Jobs and answers cross the pipe as bytes pickled with the C pickler: trio-parallel
# pickles arguments with cloudpickle, whose per-object hooks cost more than the
# records' own work. A call hands the engine its work and returns as soon as all but
# the newest batch are finished: the newest is worked on while the caller deals with
# the answer and brings the next batch.


def _submit(session: str, jobs: list[bytes], committed: int) -> NeedRows | list[bytes]:
    worker = _worker_of(session)
    worker.submit(jobs, committed)
    return worker.answer(unfinished=1)


def _resume(session: str, loaded: bytes, drain: bool) -> NeedRows | list[bytes]:
    worker = _worker_of(session)
    worker.resume(loaded)
    return worker.answer(unfinished=0 if drain else 1)


def _drain(session: str) -> NeedRows | list[bytes]:
    return _worker_of(session).answer(unfinished=0)


def _never_retire() -> bool:
    return False


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
                await self.call(_import_engine)
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
            idle_timeout=math.inf, retire=_never_retire, grace_period=5.0
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
        await self._call(_open, self._adapters, self._fresh)
        self._opened.set()

    def pack(self, job: PageJob) -> bytes:
        return pickle.dumps(job, PROTOCOL)

    async def submit(self, packed: Sequence[bytes], *, committed: int = 0) -> Answer:
        await self._opened.wait()
        answer: Answer = await self._call(_submit, list(packed), committed)
        return answer

    async def resume(
        self, loaded: Sequence[tuple[Load, list[Any]]], *, drain: bool = False
    ) -> Answer:
        answer: Answer = await self._call(_resume, pickle.dumps(loaded, PROTOCOL), drain)
        return answer

    async def drain(self) -> Answer:
        await self._opened.wait()
        answer: Answer = await self._call(_drain)
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
    from .ingestion import IngestEngine, LocalEngine
    from .linking import Linker

    cpus = cpus if cpus is not None else (os.cpu_count() or 1)
    if process is None and cpus < 2:
        gc.set_threshold(100_000, 50, 10)  # as the crawl's processes (see tune_gc)
        yield LocalEngine(IngestEngine(adapters, Linker(lazy=True, fresh=fresh)))
        return
    async with open_engine_process(adapters, fresh=fresh, process=process) as engine:
        yield engine
