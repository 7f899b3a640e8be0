"""The worker pool's supervision, with fake runners on virtual time (no processes)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
import trio
import trio.testing
import trio_parallel

from scenescout_cli import worker_runtime, workers
from scenescout_cli.errors import ScenescoutError
from scenescout_cli.workers import JobFailed, inline_runner, open_worker_pool, worker_cache

JOB_TIMEOUT = 10.0


class ScriptedRunner:
    """A fake worker: each call plays the next step of a script, on virtual time.

    Steps: ``("ok", seconds)`` runs the job after ``seconds``; ``("crash", seconds)``
    dies after ``seconds``; ``("hang",)`` never answers; ``("raise", exc)`` is a job
    that raises. The last step repeats.
    """

    def __init__(self, *steps: tuple[Any, ...]) -> None:
        self.steps = list(steps)
        self.calls = 0

    async def __call__(self, fn: Callable[..., Any], *args: Any) -> Any:
        step = self.steps[min(self.calls, len(self.steps) - 1)]
        self.calls += 1
        match step:
            case ("ok", seconds):
                await trio.sleep(seconds)
                return fn(*args)
            case ("crash", seconds):
                await trio.sleep(seconds)
                raise trio_parallel.BrokenWorkerError("Worker died unexpectedly:")
            case ("hang",):
                await trio.sleep_forever()
            case ("raise", exc):
                await trio.lowlevel.checkpoint()
                raise exc
        raise AssertionError(f"bad step {step!r}")


def double(x: int) -> int:
    return 2 * x


async def test_runs_the_job_and_counts_it(autojump_clock: trio.testing.MockClock) -> None:
    """A job's result comes back; the slot records one job, its duration and heartbeat."""
    runner = ScriptedRunner(("ok", 2.0))
    async with open_worker_pool(2, runner=runner, job_timeout=JOB_TIMEOUT) as pool:
        start = trio.current_time()
        assert await pool.run(double, 21) == 42
        stats = pool.stats
    assert (stats.done, stats.failed, stats.retried, stats.quarantined) == (1, 0, 0, 0)
    [used] = [w for w in stats.workers if w.jobs]
    assert used.state == "idle"
    assert used.mean_seconds == 2.0
    assert used.last_heartbeat == start + 2.0
    assert used.error_rate == 0.0


async def test_a_dead_worker_costs_one_retry(autojump_clock: trio.testing.MockClock) -> None:
    """A worker that dies gets its job retried once; the retry's result is returned."""
    runner = ScriptedRunner(("crash", 1.0), ("ok", 1.0))
    async with open_worker_pool(1, runner=runner, job_timeout=JOB_TIMEOUT) as pool:
        assert await pool.run(double, 4) == 8
    assert runner.calls == 2
    stats = pool.stats
    assert (stats.done, stats.retried, stats.quarantined, stats.crashes) == (1, 1, 0, 1)
    assert stats.workers[0].state == "idle"
    assert stats.workers[0].failures == 1
    assert stats.workers[0].error_rate == 0.5


async def test_two_deaths_quarantine_the_job(autojump_clock: trio.testing.MockClock) -> None:
    """A job whose worker dies twice is quarantined with its reason; the pool goes on."""
    runner = ScriptedRunner(("crash", 1.0), ("crash", 1.0), ("ok", 1.0))
    async with open_worker_pool(1, runner=runner, job_timeout=JOB_TIMEOUT) as pool:
        with pytest.raises(JobFailed) as info:
            await pool.run(double, 1)
        assert pool.stats.workers[0].state == "error"
        assert pool.stats.workers[0].last_error == info.value.reason
        assert await pool.run(double, 5) == 10
    assert info.value.kind == "crashed"
    assert info.value.attempts == 2
    assert info.value.reason.startswith("worker died")
    assert isinstance(info.value, ScenescoutError)
    stats = pool.stats
    assert (stats.done, stats.retried, stats.quarantined, stats.crashes) == (1, 1, 1, 2)
    assert stats.workers[0].state == "idle"


async def test_a_raising_job_is_not_retried(autojump_clock: trio.testing.MockClock) -> None:
    """An exception from the job itself fails it at once, with the cause attached."""
    runner = ScriptedRunner(("raise", ValueError("bad pixels")))
    async with open_worker_pool(1, runner=runner, job_timeout=JOB_TIMEOUT) as pool:
        with pytest.raises(JobFailed) as info:
            await pool.run(double, 1)
    assert runner.calls == 1
    assert info.value.kind == "error"
    assert info.value.reason == "ValueError: bad pixels"
    assert isinstance(info.value.__cause__, ValueError)
    stats = pool.stats
    assert (stats.failed, stats.retried, stats.quarantined) == (1, 0, 0)
    assert stats.workers[0].state == "idle"


async def test_deadline_retries_then_quarantines(autojump_clock: trio.testing.MockClock) -> None:
    """A job that never answers is killed at each deadline: two deadlines, then JobFailed."""
    runner = ScriptedRunner(("hang",))
    async with open_worker_pool(1, runner=runner, job_timeout=JOB_TIMEOUT) as pool:
        start = trio.current_time()
        with pytest.raises(JobFailed) as info:
            await pool.run(double, 1)
        assert trio.current_time() - start == 2 * JOB_TIMEOUT
    assert info.value.kind == "timeout"
    assert runner.calls == 2
    assert (pool.stats.timeouts, pool.stats.retried, pool.stats.quarantined) == (2, 1, 1)


async def test_deadline_then_success(autojump_clock: trio.testing.MockClock) -> None:
    """After one missed deadline, a retry that answers in time returns its result."""
    runner = ScriptedRunner(("hang",), ("ok", 3.0))
    async with open_worker_pool(1, runner=runner, job_timeout=JOB_TIMEOUT) as pool:
        start = trio.current_time()
        assert await pool.run(double, 2) == 4
        assert trio.current_time() - start == JOB_TIMEOUT + 3.0
    assert pool.stats.workers[0].mean_seconds == 3.0


async def test_limiter_is_the_back_pressure(autojump_clock: trio.testing.MockClock) -> None:
    """At most ``size`` jobs run; the rest wait on the shared limiter, visible as queued."""
    runner = ScriptedRunner(("ok", 1.0))
    results: list[int] = []

    async def one(x: int) -> None:
        results.append(await pool.run(double, x))

    async with open_worker_pool(2, runner=runner, job_timeout=JOB_TIMEOUT) as pool:
        assert pool.limiter.total_tokens == 2
        start = trio.current_time()
        async with trio.open_nursery() as nursery:
            for x in range(5):
                nursery.start_soon(one, x)
            await trio.testing.wait_all_tasks_blocked()
            snapshot = pool.stats
            assert (snapshot.running, snapshot.queued) == (2, 3)
            assert sorted(w.state for w in snapshot.workers) == ["busy", "busy"]
        assert trio.current_time() - start == 3.0
    assert sorted(results) == [0, 2, 4, 6, 8]
    assert sum(w.jobs for w in pool.stats.workers) == 5


async def test_cancellation_is_not_a_failure(autojump_clock: trio.testing.MockClock) -> None:
    """A cancelled caller stops its job; nothing is retried or counted as failed."""
    runner = ScriptedRunner(("hang",))
    async with open_worker_pool(1, runner=runner, job_timeout=JOB_TIMEOUT) as pool:
        with trio.move_on_after(JOB_TIMEOUT / 2):
            await pool.run(double, 1)
        stats = pool.stats
    assert runner.calls == 1
    assert (stats.done, stats.failed, stats.retried, stats.timeouts) == (0, 0, 0, 0)
    assert stats.workers[0].state == "idle"
    assert stats.workers[0].jobs == 0
    assert stats.running == 0


async def test_stats_are_a_snapshot(autojump_clock: trio.testing.MockClock) -> None:
    """``pool.stats`` is a copy: later jobs do not change a snapshot already taken."""
    async with open_worker_pool(1, runner=ScriptedRunner(("ok", 1.0))) as pool:
        before = pool.stats
        await pool.run(double, 1)
        after = pool.stats
    assert before.workers[0].jobs == 0
    assert after.workers[0].jobs == 1


async def test_warm_up_starts_every_slot(autojump_clock: trio.testing.MockClock) -> None:
    """``warm_up`` runs one no-op per slot at once, so every worker starts up front."""
    runner = ScriptedRunner(("ok", 1.0))
    async with open_worker_pool(3, runner=runner) as pool:
        start = trio.current_time()
        await pool.warm_up()
        assert trio.current_time() - start == 1.0
    assert runner.calls == 3
    assert [w.jobs for w in pool.stats.workers] == [1, 1, 1]


async def test_warm_up_reports_a_failure() -> None:
    """A worker that cannot start makes ``warm_up`` raise JobFailed (not a group)."""
    runner = ScriptedRunner(("crash", 0.0))
    async with open_worker_pool(2, runner=runner) as pool:
        with pytest.raises(JobFailed):
            await pool.warm_up()


async def test_inline_runner_runs_in_process() -> None:
    """``inline_runner`` is the ready-made fake: the job runs on the Trio thread."""
    async with open_worker_pool(1, runner=inline_runner) as pool:
        assert await pool.run(double, 3) == 6
        with pytest.raises(JobFailed, match="ZeroDivisionError"):
            await pool.run(divmod, 1, 0)


def test_pool_rejects_bad_sizes() -> None:
    """A pool needs at least one worker and a positive deadline."""
    with pytest.raises(ValueError, match="at least one"):
        workers.WorkerPool(0, runner=inline_runner, job_timeout=1.0)
    with pytest.raises(ValueError, match="positive"):
        workers.WorkerPool(1, runner=inline_runner, job_timeout=0)


def test_worker_cache_builds_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """``worker_cache`` calls its factory once per key: models are loaded once."""
    monkeypatch.setattr(worker_runtime, "_cache", {})
    built: list[int] = []

    def factory() -> dict[str, int]:
        built.append(1)
        return {"model": 1}

    first = worker_cache("model", factory)
    assert worker_cache("model", factory) is first
    assert built == [1]


def test_memory_error_retires_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """A job that runs out of memory fails and asks trio-parallel to retire its worker."""
    monkeypatch.setattr(worker_runtime, "_retire", False)

    def hog() -> None:
        raise MemoryError

    with pytest.raises(MemoryError):
        worker_runtime.run_job(0, hog)
    assert worker_runtime.should_retire()


def test_default_size_is_the_cpu_count() -> None:
    """By default the pool has one worker per usable CPU."""
    assert 1 <= workers.default_size() <= (os.cpu_count() or 1)
