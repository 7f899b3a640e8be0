"""What runs inside the worker pool's processes (see ``workers`` for the crawl's side):
each worker's set-up, each job's CPU cap, and the worker-lifetime cache of models.

A worker is a fresh interpreter, and what it imports is CPU taken from the crawl: this
module imports neither Trio nor trio-parallel's parent side (Trio was ~90 ms of CPU a
worker; ``tests/integration/test_workers_real.py`` checks it). Its functions are
top-level, so they pickle by reference.
"""

from __future__ import annotations

import atexit
import math
import os
import resource
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")

_cache: dict[Hashable, Any] = {}
_retire = False

#: the variables that size numpy's BLAS thread pool (OpenBLAS, MKL, OpenMP builds)
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS")


def worker_cache(key: Hashable, factory: Callable[[], T]) -> T:
    """The worker-lifetime object ``key``, built by ``factory`` on first use ("models
    loaded once"). Job functions call it; ``preload`` callables may warm it at start.
    """
    try:
        return _cache[key]
    except KeyError:
        value = _cache[key] = factory()
        return value


def init_worker(memory_limit_bytes: int, preload: tuple[Callable[[], object], ...]) -> None:
    """Runs once per worker, before its first job."""
    # A worker holds nothing to flush or close between jobs (jobs return their results;
    # the crawl writes the files): when the pool closes its pipe, or it retires, it ends
    # at once instead of freeing its models object by object (~0.06 s of a crawl's
    # exit). Exit handlers registered later (by jobs, by ``preload``) still run first.
    atexit.register(os._exit, 0)
    _set_soft_limit(resource.RLIMIT_CORE, 0)  # a crashing decoder leaves no core files
    if memory_limit_bytes:
        _set_soft_limit(resource.RLIMIT_AS, memory_limit_bytes)
    # One BLAS thread, unless the user chose otherwise, set before numpy is imported:
    # scoring uses no BLAS and training limits it to one thread, yet numpy's import
    # starts a thread a core, and one spun for ~1% of a 10k crawl's CPU.
    for name in BLAS_THREAD_VARIABLES:
        os.environ.setdefault(name, "1")
    for load in preload:
        load()


def run_job(cpu_seconds: int, fn: Callable[..., T], *args: Any) -> T:
    """Runs ``fn(*args)`` under a CPU-time cap of ``cpu_seconds`` from now.

    RLIMIT_CPU counts the process's total CPU time, so the soft limit is set to what the
    worker used so far plus the budget; past it the kernel sends SIGXCPU, which kills
    the worker (no handler is installed) and the pool sees a dead worker.
    """
    global _retire
    if cpu_seconds:
        extend_cpu_cap(cpu_seconds)
    try:
        return fn(*args)
    except MemoryError:
        _retire = True  # the heap may be fragmented or half-built: start a fresh worker
        raise
    finally:
        # uncapped again, whatever the job set (``extend_cpu_cap``)
        _set_soft_limit(resource.RLIMIT_CPU, resource.RLIM_INFINITY)


def extend_cpu_cap(cpu_seconds: int) -> None:
    """The CPU cap becomes ``cpu_seconds`` from now, for the rest of this job: how
    ``run_job`` sets the pool's cap, and how a job that may need more (training a model
    on a slow machine) raises its own. The pool's wall-clock deadline still applies."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    _set_soft_limit(resource.RLIMIT_CPU, math.ceil(usage.ru_utime + usage.ru_stime) + cpu_seconds)


def retire_after_job() -> None:
    """Called by a job: end this worker once the job returns or raises (the next job
    gets a fresh one). For a job that leaves the process much larger than it found it."""
    global _retire
    _retire = True


def should_retire() -> bool:
    """trio-parallel's ``retire``: after a job ran out of memory, or asked for it
    (``retire_after_job``)."""
    return _retire


def _set_soft_limit(which: int, value: int) -> None:
    _, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY and (value == resource.RLIM_INFINITY or value > hard):
        value = hard
    resource.setrlimit(which, (value, hard))


def noop() -> None:
    """A job that does nothing: starts a worker (``WorkerPool.warm_up``)."""
    return None
