"""The subprocess worker pool (trio-parallel) and its supervision.

CPU work over about a millisecond per item runs here, never on the Trio thread::

    async with open_worker_pool() as pool:          # one worker per CPU by default
        rendered = await pool.run(render_variants, data)

Contract
    * ``pool.run(fn, *args)`` runs ``fn(*args)`` in a worker process. ``fn`` must be a
      top-level, importable function; ``args`` small and picklable (bytes, paths, tuples).
    * At most ``size`` jobs run at once. ``pool.limiter`` is the one ``CapacityLimiter``
      every stage that feeds the pool shares: a stage blocked in ``run`` is the
      back-pressure that fills its input channel. Callers never hold it themselves
      (``run`` acquires it; a ``CapacityLimiter`` is not re-entrant).
    * Each worker is initialised once: an address-space cap (``RLIMIT_AS``), no core
      dumps, and the optional ``preload`` callables ("models loaded once"; see
      ``worker_cache``). Each job runs under a CPU-time cap (``RLIMIT_CPU``: the
      kernel kills a worker that spins past it) and a wall-clock deadline held by the
      pool. A worker ends without its interpreter's teardown: a job must close what it
      opens (jobs return results; the caller writes the files).

Failures (the isolation boundary is one job)
    * The job raises: the job is bad, not the worker. ``JobFailed(kind="error")`` at once,
      the original exception as ``__cause__``; no retry. A ``MemoryError`` (the address
      space cap) is such a failure too, and also retires that worker.
    * The worker dies (segfault, ``os._exit``, SIGXCPU, OOM kill) or the deadline hits
      (the worker is killed): the job is retried once on another worker; a second failure
      quarantines it: ``JobFailed(kind="crashed" | "timeout")``. The pool goes on.
    * Cancellation of the caller kills the worker running its job (``kill_on_cancel``)
      and propagates; it is neither retried nor counted as a failure.

Observability: ``pool.stats`` is a snapshot (``PoolStats``) for the live view: one
``WorkerStats`` per slot (idle/busy/error, jobs, failures, mean time, last heartbeat).
A slot is a unit of the pool's capacity; trio-parallel's processes are interchangeable
behind it (a crashed process is replaced, the slot lives on).

Tests inject ``runner=`` (``inline_runner`` or their own fake on virtual time): the same
supervision runs without processes. What runs inside the workers is ``worker_runtime``,
which imports no Trio.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Literal, Protocol, TypeVar

import attrs
import trio
import trio_parallel

from .errors import ScenescoutError
from .worker_runtime import init_worker, noop, run_job, should_retire, worker_cache

__all__ = [
    "FailureKind",
    "JobFailed",
    "PoolStats",
    "Runner",
    "WorkerPool",
    "WorkerState",
    "WorkerStats",
    "default_size",
    "inline_runner",
    "open_worker_pool",
    "worker_cache",
]

T = TypeVar("T")

WorkerState = Literal["idle", "busy", "error"]
FailureKind = Literal["error", "crashed", "timeout"]


class JobFailed(ScenescoutError):
    """A job gave no result; ``reason`` is a one-line account fit for the failures table.

    ``kind``: ``"error"`` (the job raised; ``__cause__`` is its exception, not retried),
    ``"crashed"`` (its worker died twice) or ``"timeout"`` (the deadline hit twice).
    ``attempts`` is how many workers it was given.
    """

    def __init__(self, reason: str, *, kind: FailureKind = "error", attempts: int = 1) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind
        self.attempts = attempts


@attrs.define
class WorkerStats:
    """One slot of the pool, for the live view. Times are Trio times (seconds)."""

    slot: int
    state: WorkerState = "idle"
    jobs: int = 0
    """Attempts this slot finished, whatever their outcome."""
    failures: int = 0
    """Attempts without a result: the job raised, its worker died or it timed out."""
    mean_seconds: float = 0.0
    """Mean duration of the attempts that returned a result."""
    last_heartbeat: float | None = None
    """Trio time of the last job start or end on this slot."""
    last_error: str | None = None

    @property
    def error_rate(self) -> float:
        return self.failures / self.jobs if self.jobs else 0.0


@attrs.frozen
class PoolStats:
    """A snapshot of the pool: capacity, queue and the outcome counters of its jobs."""

    size: int
    workers: tuple[WorkerStats, ...]
    queued: int
    """Callers waiting for a slot (the back-pressure)."""
    running: int
    done: int
    """Jobs that returned a result (possibly after a retry)."""
    failed: int
    """Jobs that raised (``JobFailed(kind="error")``)."""
    retried: int
    """Jobs given a second worker after a crash or deadline."""
    quarantined: int
    """Jobs that crashed or timed out twice."""
    crashes: int
    """Worker deaths (each attempt counts)."""
    timeouts: int
    """Deadlines hit (each attempt counts)."""


class Runner(Protocol):
    """Runs ``fn(*args)`` somewhere and returns its result.

    Raises what ``fn`` raises, ``trio_parallel.BrokenWorkerError`` when the worker died,
    and honours cancellation (the pool's deadline is a cancel scope around the call).
    """

    def __call__(self, fn: Callable[..., Any], *args: Any) -> Awaitable[Any]: ...


async def inline_runner(fn: Callable[..., T], *args: Any) -> T:
    """A fake runner for tests: ``fn(*args)`` on the Trio thread, after a checkpoint.

    A fake job simulates a dying worker by raising ``trio_parallel.BrokenWorkerError``.
    """
    await trio.lowlevel.checkpoint()
    return fn(*args)


def default_size() -> int:
    """One worker per CPU this process may run on."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class WorkerPool:
    """Supervised CPU workers; open with ``open_worker_pool``, see the module docstring."""

    def __init__(self, size: int, *, runner: Runner, job_timeout: float) -> None:
        if size < 1:
            raise ValueError("a worker pool needs at least one worker")
        if not job_timeout > 0:
            raise ValueError("job_timeout must be positive")
        self.size = size
        self.limiter = trio.CapacityLimiter(size)
        self.job_timeout = job_timeout
        self._runner = runner
        self._workers = [WorkerStats(slot=i) for i in range(size)]
        # Holding a limiter token guarantees a free slot: tokens == slots.
        self._free_slots = list(range(size - 1, -1, -1))
        self._counts = dict.fromkeys(
            ("done", "failed", "retried", "quarantined", "crashes", "timeouts"), 0
        )

    @property
    def stats(self) -> PoolStats:
        """A snapshot for the live view (copies; later jobs do not change it)."""
        limiter = self.limiter.statistics()
        return PoolStats(
            size=self.size,
            workers=tuple(attrs.evolve(w) for w in self._workers),
            queued=limiter.tasks_waiting,
            running=limiter.borrowed_tokens,
            **self._counts,
        )

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a worker: its result, or ``JobFailed``.

        Waits for a slot (``pool.limiter``), then runs the job under a ``job_timeout``
        deadline; a dead worker or a missed deadline gets one retry on another worker.
        Raises ``JobFailed`` (see the class) — never ``BrokenWorkerError`` or
        ``TooSlowError``. Cancellation kills the job's worker and propagates.
        """
        async with self.limiter:
            slot = self._free_slots.pop()
            try:
                return await self._supervise(self._workers[slot], fn, args)
            finally:
                self._free_slots.append(slot)

    async def warm_up(self) -> None:
        """Start every worker now rather than on first use.

        Raises ``JobFailed`` (the first of them) if workers cannot start.
        """
        failures: list[JobFailed] = []

        async def one() -> None:
            try:
                await self.run(noop)
            except JobFailed as exc:
                failures.append(exc)

        async with trio.open_nursery() as nursery:
            for _ in range(self.size):
                nursery.start_soon(one)
        if failures:
            raise failures[0]

    async def _supervise(self, worker: WorkerStats, fn: Callable[..., T], args: tuple) -> T:
        for attempt in (1, 2):
            started = trio.current_time()
            worker.state = "busy"
            worker.last_heartbeat = started
            try:
                with trio.fail_after(self.job_timeout):
                    result = await self._runner(fn, *args)
            except trio_parallel.BrokenWorkerError as exc:
                kind: FailureKind = "crashed"
                reason = f"worker died: {_describe_death(exc)}"
                self._counts["crashes"] += 1
                self._end_attempt(worker, "error", error=reason)
            except trio.TooSlowError:
                kind = "timeout"
                reason = f"no result within {self.job_timeout:g}s; worker killed"
                self._counts["timeouts"] += 1
                self._end_attempt(worker, "error", error=reason)
            except trio.ClosedResourceError:
                raise  # used after the pool closed: a bug in the caller, not a bad job
            except Exception as exc:  # the job raised: the job is bad, not the worker
                reason = f"{type(exc).__name__}: {exc}"
                self._end_attempt(worker, "idle", error=reason)
                self._counts["failed"] += 1
                raise JobFailed(reason, kind="error", attempts=attempt) from exc
            else:
                self._end_attempt(worker, "idle", seconds=trio.current_time() - started)
                self._counts["done"] += 1
                return result
            finally:
                if worker.state == "busy":  # cancelled: the worker was killed; no outcome
                    worker.state = "idle"
                    worker.last_heartbeat = trio.current_time()
            if attempt == 1:
                self._counts["retried"] += 1
        self._counts["quarantined"] += 1
        raise JobFailed(reason, kind=kind, attempts=2)

    @staticmethod
    def _end_attempt(
        worker: WorkerStats,
        state: WorkerState,
        *,
        seconds: float | None = None,
        error: str | None = None,
    ) -> None:
        worker.state = state
        worker.last_heartbeat = trio.current_time()
        worker.jobs += 1
        if error is not None:
            worker.failures += 1
            worker.last_error = error
        if seconds is not None:
            successes = worker.jobs - worker.failures
            worker.mean_seconds += (seconds - worker.mean_seconds) / successes


@contextlib.asynccontextmanager
async def open_worker_pool(
    size: int | None = None,
    *,
    memory_limit_mb: int = 1024,
    cpu_seconds_per_job: int = 30,
    job_timeout: float = 60.0,
    runner: Runner | None = None,
    preload: Sequence[Callable[[], object]] = (),
    idle_timeout: float = 600.0,
) -> AsyncIterator[WorkerPool]:
    """Open a pool of ``size`` workers (default: one per CPU) for the block's lifetime.

    ``memory_limit_mb`` caps each worker's address space (0: no cap);
    ``cpu_seconds_per_job`` caps each job's CPU time (0: no cap); ``job_timeout`` is the
    wall-clock deadline per attempt. ``preload``: top-level callables each worker runs
    once at start (load models into ``worker_cache``). ``runner`` replaces the worker
    processes (tests): limits and ``preload`` then do not apply.

    Resources: the worker processes, started on demand (or by ``warm_up``) and shut
    down on exit; exit waits for running jobs (cancel the callers first).
    """
    size = default_size() if size is None else size
    if runner is not None:
        yield WorkerPool(size, runner=runner, job_timeout=job_timeout)
        return
    init = functools.partial(init_worker, max(0, memory_limit_mb) * 2**20, tuple(preload))
    async with trio_parallel.open_worker_context(
        init=init, retire=should_retire, idle_timeout=idle_timeout, grace_period=10.0
    ) as ctx:
        # The pool's own limiter gates the jobs; trio-parallel's must never block.
        unlimited = trio.CapacityLimiter(math.inf)

        async def run_in_worker(fn: Callable[..., Any], *args: Any) -> Any:
            return await ctx.run_sync(
                run_job,
                max(0, cpu_seconds_per_job),
                fn,
                *args,
                kill_on_cancel=True,
                limiter=unlimited,
            )

        yield WorkerPool(size, runner=run_in_worker, job_timeout=job_timeout)


def _describe_death(exc: trio_parallel.BrokenWorkerError) -> str:
    proc = exc.args[-1] if exc.args else None
    code = getattr(proc, "exitcode", None)
    if isinstance(code, int) and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    if isinstance(code, int):
        return f"exit code {code}"
    return str(exc.args[0]) if exc.args else type(exc).__name__
