"""The worker pool with real subprocess workers: crashes, limits, deadlines, real renders.

Job functions live at module level so the spawned workers can import them.
"""

from __future__ import annotations

import ctypes
import json
import os
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
import trio

from scenescout_cli.enrich.classify import (
    LABELLED,
    default_model_file,
    preload_model,
    train_default_model,
)
from scenescout_cli.enrich.images import ImageError, process_image, render_variants
from scenescout_cli.workers import JobFailed, open_worker_pool, worker_cache

from . import probe

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parents[2] / "fixtures" / "images"


def exit_abruptly() -> None:
    os._exit(1)


def segfault() -> None:
    ctypes.string_at(0)


def allocate(megabytes: int) -> int:
    return len(bytearray(megabytes * 2**20))


class _WritesOnTeardown:
    """Writes ``path`` when freed: by the interpreter's teardown, if it runs."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __del__(self) -> None:
        Path(self.path).write_text("freed")


def hold_until_teardown(path: str) -> None:
    worker_cache("teardown-marker", lambda: _WritesOnTeardown(path))


def write_at_exit(path: str) -> None:
    import atexit

    atexit.register(Path(path).write_text, "ran")


def spin() -> None:
    while True:
        pass


def sleep(seconds: float) -> None:
    time.sleep(seconds)


def pid() -> int:
    return os.getpid()


@pytest.mark.parametrize("job", [exit_abruptly, segfault])
async def test_a_dying_job_costs_only_itself(job: object) -> None:
    """A job that kills its worker is retried once, then quarantined; the next job runs."""
    async with open_worker_pool(2, job_timeout=30.0) as pool:
        with pytest.raises(JobFailed) as info:
            await pool.run(job)
        assert await pool.run(pow, 2, 10) == 1024
        stats = pool.stats
    assert info.value.kind == "crashed"
    assert info.value.attempts == 2
    assert "worker died" in info.value.reason
    assert (stats.crashes, stats.retried, stats.quarantined, stats.done) == (2, 1, 1, 1)


async def test_a_job_over_the_memory_cap_fails_alone() -> None:
    """Allocating past the address-space cap fails that job; its worker is replaced."""
    async with open_worker_pool(1, memory_limit_mb=512, job_timeout=30.0) as pool:
        before = await pool.run(pid)
        with pytest.raises(JobFailed) as info:
            await pool.run(allocate, 2048)
        assert await pool.run(allocate, 64) == 64 * 2**20
        after = await pool.run(pid)
    assert info.value.kind == "error"
    assert info.value.reason.startswith("MemoryError")
    assert before != after  # the worker that ran out of memory was retired


async def test_cpu_cap_kills_a_spinning_job() -> None:
    """A job past its CPU-time budget is killed by the kernel (SIGXCPU), twice, then quarantined."""
    async with open_worker_pool(1, cpu_seconds_per_job=1, job_timeout=60.0) as pool:
        with pytest.raises(JobFailed) as info:
            await pool.run(spin)
        assert await pool.run(pow, 3, 3) == 27
    assert info.value.kind == "crashed"
    assert "SIGXCPU" in info.value.reason


def spin_for(cpu_seconds: float, extended: int) -> str:
    """Spin ``cpu_seconds`` of CPU, the job's cap first extended to ``extended`` s."""
    from scenescout_cli.worker_runtime import extend_cpu_cap

    if extended:
        extend_cpu_cap(extended)
    until = time.process_time() + cpu_seconds
    while time.process_time() < until:
        pass
    return "done"


async def test_a_job_may_extend_its_own_cpu_cap() -> None:
    """A job that says it needs more CPU than the pool's cap (training a model) gets
    it, for that job only: the next job has the pool's cap again."""
    async with open_worker_pool(1, cpu_seconds_per_job=1, job_timeout=60.0) as pool:
        assert await pool.run(spin_for, 2.5, 10) == "done"
        with pytest.raises(JobFailed) as info:
            await pool.run(spin_for, 2.5, 0)
    assert info.value.kind == "crashed"


async def test_a_cap_a_job_set_ends_with_it_in_an_uncapped_pool() -> None:
    """Without the pool's cap, a cap a job set for itself does not outlive the job."""
    async with open_worker_pool(1, cpu_seconds_per_job=0, job_timeout=60.0) as pool:
        before = await pool.run(pid)
        assert await pool.run(spin_for, 0.1, 1) == "done"
        assert await pool.run(spin_for, 2.5, 0) == "done"
        assert await pool.run(pid) == before


async def test_deadline_kills_a_stuck_worker() -> None:
    """A job that outlives its deadline is killed, retried once, then fails as a timeout."""
    async with open_worker_pool(1, job_timeout=0.5) as pool:
        started = trio.current_time()
        with pytest.raises(JobFailed) as info:
            await pool.run(sleep, 30.0)
        elapsed = trio.current_time() - started
        assert await pool.run(pow, 2, 3) == 8
    assert info.value.kind == "timeout"
    assert elapsed < 10.0


async def test_cancelling_the_caller_kills_the_job() -> None:
    """Cancellation reaches into the worker: the caller returns promptly, the pool goes on."""
    async with open_worker_pool(1, job_timeout=60.0) as pool:
        started = trio.current_time()
        with trio.move_on_after(0.5):
            await pool.run(sleep, 30.0)
        assert trio.current_time() - started < 10.0
        assert await pool.run(pow, 2, 4) == 16
        assert pool.stats.quarantined == 0


@pytest.mark.parametrize(
    "job_module", ["scenescout_cli.enrich.classify", "scenescout_cli.enrich.render"]
)
async def test_a_worker_imports_no_trio(job_module: str) -> None:
    """What a worker runs imports no Trio (~90 ms of CPU a worker, at every crawl's
    start): the pool's side of each job (``worker_runtime``) and the module of each
    job a crawl runs — classifying, rendering an image. The probe runs first, before
    any job of this module is unpickled there."""
    async with open_worker_pool(1, job_timeout=60.0) as pool:
        assert await pool.run(probe.imported, "scenescout_cli.worker_runtime")
        for name in ("trio", "trio_parallel", "scenescout_cli.workers", "httpx"):
            assert not await pool.run(probe.imported_after, job_module, name), name


async def test_a_worker_starts_no_blas_threads() -> None:
    """numpy's BLAS in a worker runs on the job's thread: scoring uses none, and an
    idle BLAS thread a core spun for ~1% of a 10k crawl's CPU."""
    async with open_worker_pool(1, job_timeout=60.0) as pool:
        threads = await pool.run(probe.blas_threads)
    assert threads  # numpy loaded a BLAS
    assert set(threads) == {1}


async def test_the_pool_runs_the_image_job_from_its_own_module() -> None:
    """``images.render_variants`` is ``render``'s: unpickled in a worker, it imports
    the job's module, not the crawl's side of images."""
    assert render_variants.__module__ == "scenescout_cli.enrich.render"
    async with open_worker_pool(1, job_timeout=60.0) as pool:
        await pool.run(render_variants, (FIXTURES / "photo.jpg").read_bytes(), (64,))
        assert not await pool.run(probe.imported, "scenescout_cli.enrich.images")


def _labelled_slice(path: Path) -> Path:
    """15 examples of each category of the labelled set: quick to train on."""
    per_category = Counter[str]()
    with LABELLED.open(encoding="utf-8") as rows, path.open("w", encoding="utf-8") as out:
        for line in rows:
            category = json.loads(line)["category"]
            if per_category[category] < 15:
                per_category[category] += 1
                out.write(line)
    return path


async def test_the_default_model_is_trained_in_a_worker_that_then_retires(tmp_path: Path) -> None:
    """``train_default_model`` writes the model where ``default_model_file`` says, and
    its worker (left ~250 MiB larger by scikit-learn) retires: the next job, which loads
    the model, runs in a fresh worker."""
    labelled = _labelled_slice(tmp_path / "small.jsonl")
    cache = tmp_path / "models"
    async with open_worker_pool(1, job_timeout=60.0) as pool:
        first = await pool.run(pid)
        path = await pool.run(train_default_model, str(cache), str(labelled))
        trained_by = await pool.run(pid)
        await pool.run(preload_model, path)
        loaded_by = await pool.run(pid)
    assert path == str(default_model_file(cache, labelled=labelled))
    assert await trio.Path(path).is_file()
    assert first != trained_by  # the training worker retired
    assert trained_by == loaded_by  # an ordinary job does not retire its worker


async def test_render_variants_in_a_real_worker() -> None:
    """render_variants runs in a worker and its result (bytes, hashes) comes back whole."""
    data = (FIXTURES / "photo.jpg").read_bytes()
    async with open_worker_pool(2) as pool:
        rendered = await pool.run(render_variants, data, (320, 640))
        with pytest.raises(JobFailed) as info:
            await pool.run(render_variants, (FIXTURES / "bomb.png").read_bytes())
    assert [v.width for v in rendered.variants] == [320, 640]
    assert rendered.variants[0].data.startswith(b"RIFF")
    assert len(rendered.phash) == 16
    assert isinstance(info.value.__cause__, ImageError)
    assert info.value.__cause__.reason == "bomb"


async def test_process_image_through_the_real_pool(tmp_path: Path) -> None:
    """process_image fetches, renders in a worker and stores content-addressed files."""
    data = (FIXTURES / "exif_rotated.jpg").read_bytes()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "image/jpeg"}, content=data)

    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http,
        open_worker_pool(1) as pool,
    ):
        result = await process_image(
            "http://127.0.0.1:9/a.jpg",
            http=http,
            pool=pool,
            media_dir=tmp_path,
            allow_private=True,
        )
    [variant] = result.variants
    assert (variant.width, variant.height) == (40, 80)
    assert (tmp_path / variant.path).read_bytes().startswith(b"RIFF")


async def test_a_worker_ends_without_its_interpreters_teardown(tmp_path: Path) -> None:
    """When the pool closes, a worker ends at once: what it holds (a model in
    ``worker_cache``) is not freed object by object, while an exit handler a job
    registered still runs, and the close reports nothing unclean."""
    freed, ran = tmp_path / "freed", tmp_path / "ran"
    async with open_worker_pool(1, job_timeout=30.0) as pool:
        await pool.run(hold_until_teardown, str(freed))
        await pool.run(write_at_exit, str(ran))
        stats = pool.stats
    assert ran.read_text() == "ran"
    assert not freed.exists()
    assert (stats.crashes, stats.failed) == (0, 0)
