"""What runs inside the engine's worker process (see ``ingest_worker`` for the crawl's
side): the engine working in a thread of its own, and the functions the crawl calls
in the process through trio-parallel.

The process is a fresh interpreter, and every module it imports is CPU taken from the
crawl's start: this module and the engine's modules (``ingestion``, ``linking``, the
adapters) import neither Trio nor anything of the crawl's own side (Trio was ~90 ms
of CPU a process; ``tests/integration/test_ingest_worker.py`` checks it). The engine's
modules are imported where they are used (``import_engine``, the worker's first call,
with the collector off): the crawl starts this process before it imports its pipeline.

Failures: an exception in the engine (a bug) is raised again by the next call that
waits for an answer. ``IngestWorkerLost`` when a call reaches a fresh process that
took a dead one's place: the engine's state is gone.
"""

from __future__ import annotations

import atexit
import ctypes
import functools
import gc
import importlib
import os
import pickle
import threading
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from ..errors import ScenescoutError

if TYPE_CHECKING:
    from ..sources.base import SourceAdapter
    from .ingestion import IngestEngine, NeedRows

#: Jobs and answers are pickled with the C pickler at this protocol.
PROTOCOL = pickle.HIGHEST_PROTOCOL


class IngestWorkerLost(ScenescoutError):
    """The ingestion worker process died; the crawl cannot go on without its state."""


#: The engine of this worker process, working in a thread of its own, and the session
#: of the crawl that made it.
_worker: EngineThread | None = None
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


def heap_trimmer() -> Callable[[], object] | None:
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
ENGINE_MODULES = (
    "scenescout_cli.pipeline.ingestion",
    "scenescout_cli.pipeline.linking",
    *(
        f"scenescout_cli.sources.{name}"
        for name in ("ticketmaster", "eventbrite", "meetup", "yelp", "google_places")
    ),
)


def import_engine() -> None:
    """In the worker: import what the engine will need, with the collector off until
    ``tune_gc`` (the engine's first call)."""
    gc.disable()
    for name in ENGINE_MODULES:
        importlib.import_module(name)


class EngineThread:
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

        trim = heap_trimmer()
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


def open_engine(session: str, adapters: Mapping[str, SourceAdapter], fresh: bool) -> None:
    """In the worker: make the crawl's engine (raw payloads travel back as JSON)."""
    from .ingestion import IngestEngine
    from .linking import Linker

    global _worker, _session
    tune_gc()
    engine = IngestEngine(adapters, Linker(lazy=True, fresh=fresh), raw_as_json=True)
    _worker = EngineThread(engine)
    _session = session
    # When the process exits (trio-parallel closed its pipe: the crawl is done with the
    # engine), end it at once: freeing the engine's state object by object took ~0.13 s
    # of a 10k crawl's exit, more in a large city, and the process holds no file or
    # connection to close. The last handler registered runs first.
    atexit.register(os._exit, 0)


def _worker_of(session: str) -> EngineThread:
    if _worker is None or _session != session:
        # a fresh process took the dead one's place: its state is gone
        raise IngestWorkerLost("the ingestion worker process was replaced mid-crawl")
    return _worker


# Jobs and answers cross the pipe as bytes pickled with the C pickler: trio-parallel
# pickles arguments with cloudpickle, whose per-object hooks cost more than the
# records' own work. A call hands the engine its work and returns as soon as all but
# the newest batch are finished: the newest is worked on while the caller deals with
# the answer and brings the next batch.


def submit_batch(session: str, jobs: list[bytes], committed: int) -> NeedRows | list[bytes]:
    """Queue a batch of pickled jobs; answer once at most one batch is unfinished."""
    worker = _worker_of(session)
    worker.submit(jobs, committed)
    return worker.answer(unfinished=1)


def resume_batch(session: str, loaded: bytes, drain: bool) -> NeedRows | list[bytes]:
    """Answer the engine's NeedRows with the pickled rows; answer as ``submit_batch``
    does, or once every batch is finished when ``drain``."""
    worker = _worker_of(session)
    worker.resume(loaded)
    return worker.answer(unfinished=0 if drain else 1)


def drain_batches(session: str) -> NeedRows | list[bytes]:
    """Answer once every batch is finished (or the oldest needs stored events)."""
    return _worker_of(session).answer(unfinished=0)


def never_retire() -> bool:
    """trio-parallel's ``retire`` for the engine's process: never (its state lives there)."""
    return False
