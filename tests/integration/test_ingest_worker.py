"""Ingestion's engine in a real worker process: same items as on the Trio thread, one
process for the whole crawl, and a dead process ends the crawl with a clear error."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
from pathlib import Path
from typing import Any

import psutil
import pytest
import trio

from scenescout_cli.jsonio import PackedRecords
from scenescout_cli.pipeline.ingest_stage import LocalEngine
from scenescout_cli.pipeline.ingest_worker import (
    IngestWorkerLost,
    open_engine_process,
    open_ingest_engine,
    start_engine_process,
)
from scenescout_cli.pipeline.ingestion import (
    IngestEngine,
    NeedRows,
    PageJob,
    PageResult,
)
from scenescout_cli.pipeline.linking import Linker
from scenescout_cli.pipeline.messages import Linked
from scenescout_cli.sources.ticketmaster import TicketmasterSource

from ..unit.bench_scripts import bench_script
from . import probe

pytestmark = pytest.mark.integration

NOW = dt.datetime(2026, 11, 28, 12, tzinfo=dt.UTC)


def _records(count: int) -> list[dict[str, Any]]:
    """Ticketmaster records of the fixture page with fresh ids (bench/ingest_store.py's),
    and one repeat."""
    records: list[dict[str, Any]] = bench_script("ingest_store").records(count)
    return [*records, records[0]]


async def _all(
    engine: Any, pages: list[list[dict[str, Any]]], *, per_call: int = 1, packed: bool = False
) -> list[Any]:
    """The items of ``pages`` through ``engine``, ``per_call`` pages per call;
    ``packed``: each page's records as discovery sends them (``PackedRecords``)."""
    items: list[Any] = []
    outputs: list[Any] = []
    for first in range(0, len(pages), per_call):
        jobs = [
            PageJob("ticketmaster", PackedRecords.pack(records) if packed else records, NOW)
            for records in pages[first : first + per_call]
        ]
        answer = await engine.submit([engine.pack(job) for job in jobs])
        while isinstance(answer, NeedRows):
            answer = await engine.resume([(load, []) for load in answer.loads])
        outputs += answer
    answer = await engine.drain()
    while isinstance(answer, NeedRows):
        answer = await engine.resume([(load, []) for load in answer.loads], drain=True)
    outputs += answer
    # one output a call, in order, whatever the lag
    assert len(outputs) == -(-len(pages) // per_call)
    for finished in outputs:
        for result in engine.unpack(finished):
            assert isinstance(result, PageResult)
            items += result.items
    return items


def _essence(item: Any) -> Any:
    if isinstance(item, Linked):
        record = item.record
        return ("linked", record.source_id, record.content_hash, item.event_id, item.sources)
    return (type(item).__name__, getattr(item, "source_id", None))


async def test_the_process_engine_gives_the_items_the_local_engine_gives() -> None:
    """Packed pages in the worker process, lists on the Trio thread: the same items."""
    adapters = {"ticketmaster": TicketmasterSource("test-key")}
    records = _records(60)
    pages = [records[i : i + 20] for i in range(0, len(records), 20)]
    local = await _all(LocalEngine(IngestEngine(adapters, Linker(lazy=True))), pages)
    async with open_engine_process(adapters) as engine:
        remote = await _all(engine, pages, per_call=2, packed=True)
    assert [_essence(i) for i in remote] == [_essence(i) for i in local]
    assert sum(isinstance(i, Linked) for i in remote) > 0
    linked = [i for i in remote if isinstance(i, Linked)]
    # raw payloads came back as JSON text, whole
    assert all(i.record.raw == {} for i in linked)
    by_id = {r["id"]: r for r in records}
    assert all(json.loads(i.raw_json or "") == by_id[i.record.source_id] for i in linked)


async def test_one_process_serves_the_whole_crawl_and_its_death_is_an_error() -> None:
    adapters = {"ticketmaster": TicketmasterSource("test-key")}
    records = _records(40)
    me = psutil.Process()
    async with open_engine_process(adapters) as engine:
        await _all(engine, [records[:20]])
        workers = {p.pid for p in me.children() if "spawn_main" in " ".join(p.cmdline())}
        await _all(engine, [records[20:]])
        assert {p.pid for p in me.children() if "spawn_main" in " ".join(p.cmdline())} == workers
        [worker] = workers
        os.kill(worker, signal.SIGKILL)
        with trio.fail_after(30), pytest.raises(IngestWorkerLost):
            await _all(engine, [records[:5]])


def _workers() -> set[int]:
    me = psutil.Process()
    return {p.pid for p in me.children() if "spawn_main" in " ".join(p.cmdline())}


async def test_a_process_started_ahead_is_warm_and_is_the_one_the_engine_lives_in() -> None:
    """The crawl starts the engine's process before it opens the database: by the time
    the engine is made, the process is running with the adapters imported, and it
    serves the whole crawl; it ends with its block."""
    adapters = {"ticketmaster": TicketmasterSource("test-key")}
    records = _records(40)
    async with start_engine_process(cpus=2) as process:
        assert process is not None
        with trio.fail_after(60):
            await process.ready.wait()
        started = _workers()
        assert len(started) == 1
        assert await process.call(probe.imported, "scenescout_cli.sources.meetup")
        async with open_ingest_engine(adapters, process=process, cpus=2) as engine:
            items = await _all(engine, [records[:20], records[20:]])
            assert _workers() == started
        assert sum(isinstance(i, Linked) for i in items) == 40
    assert not (_workers() & started)


async def test_the_engines_process_imports_neither_the_database_nor_http() -> None:
    """The engine's process imports only what the engine runs: each module more is CPU
    taken from the crawl's start-up, when three interpreters start at once. Trio is
    one of them (~90 ms a process): the engine's side of the pipe is plain threads."""
    async with start_engine_process(cpus=2) as process:
        assert process is not None
        with trio.fail_after(60):
            await process.ready.wait()
        assert await process.call(probe.imported, "scenescout_cli.sources.ticketmaster")
        for name in (
            "trio",
            "trio_parallel",
            "psycopg",
            "httpx",
            "PIL",
            "rich",
            "scenescout_cli.pipeline.run",
        ):
            assert not await process.call(probe.imported, name), name


async def test_the_engines_process_ends_without_its_interpreters_teardown(
    tmp_path: Path,
) -> None:
    """Once the crawl is done with the engine, its process ends at once and cleanly:
    an exit handler registered before the engine was made never runs (nothing is
    torn down object by object), and closing reports no unclean exit."""
    marker = tmp_path / "teardown-ran"
    adapters = {"ticketmaster": TicketmasterSource("test-key")}
    async with start_engine_process(cpus=2) as process:
        assert process is not None
        with trio.fail_after(60):
            await process.ready.wait()
        await process.call(_on_exit_write, str(marker))
        async with open_ingest_engine(adapters, process=process, cpus=2) as engine:
            items = await _all(engine, [_records(10)])
    assert sum(isinstance(i, Linked) for i in items) == 10
    assert not marker.exists()


def _on_exit_write(path: str) -> None:
    """In the worker: write ``path`` when the process exits the usual way."""
    import atexit

    atexit.register(Path(path).write_text, "ran")


async def test_on_one_cpu_no_process_is_started() -> None:
    async with start_engine_process(cpus=1) as process:
        assert process is None
        async with open_ingest_engine({}, process=process, cpus=1) as engine:
            assert isinstance(engine, LocalEngine)


async def test_the_worker_answers_at_most_a_batch_late_and_drains_the_rest() -> None:
    """Each submit returns once every earlier batch is finished — the newest is worked
    on while the caller deals with the answer — and drain returns what is left."""
    adapters = {"ticketmaster": TicketmasterSource("test-key")}
    records = _records(80)
    pages = [records[i : i + 20] for i in range(0, 80, 20)]
    answered: list[int] = []
    async with open_engine_process(adapters, fresh=True) as engine:
        for page in pages:
            answer = await engine.submit([engine.pack(PageJob("ticketmaster", page, NOW))])
            assert not isinstance(answer, NeedRows)  # fresh: nothing stored to ask for
            answered.append(len(answer))
        rest = await engine.drain()
        assert not isinstance(rest, NeedRows)
        assert await engine.drain() == []  # nothing left
    # after the k-th submit, at least k - 1 batches have come back
    assert all(sum(answered[: k + 1]) >= k for k in range(len(pages)))
    assert sum(answered) + len(rest) == len(pages)


class _Exploding(TicketmasterSource):
    """An adapter with a bug: a RuntimeError (not a reject) on the record "boom"."""

    def normalise(self, record: dict[str, Any], fetched_at: dt.datetime) -> Any:
        if record.get("id") == "boom":
            raise RuntimeError("boom: a bug in the adapter")
        return super().normalise(record, fetched_at)


async def test_a_bug_in_the_engines_thread_is_raised_as_itself() -> None:
    records = _records(10)
    async with open_engine_process({"ticketmaster": _Exploding("test-key")}) as engine:
        with trio.fail_after(60), pytest.raises(RuntimeError, match="a bug in the adapter"):
            await _all(engine, [[*records[:5], {"id": "boom"}]])
        with trio.fail_after(60), pytest.raises(RuntimeError, match="a bug in the adapter"):
            await engine.drain()  # the engine stopped: every later call says why


async def test_the_count_of_committed_links_reaches_the_linker_in_the_process() -> None:
    """``submit``'s count crosses to the engine's process and reaches its Linker: counts
    up to the links made are taken, and one above them is refused there (ValueError,
    raised as itself) — a count lost on the way would be a silent 0."""
    adapters = {"ticketmaster": TicketmasterSource("test-key")}
    records = _records(40)
    first, second = records[:20], records[20:]
    async with open_engine_process(adapters, fresh=True) as engine:
        await engine.submit([engine.pack(PageJob("ticketmaster", first, NOW))])
        assert not isinstance(await engine.drain(), NeedRows)  # 20 links made
        await engine.submit([engine.pack(PageJob("ticketmaster", second, NOW))], committed=20)
        assert not isinstance(await engine.drain(), NeedRows)

        async def told_too_much() -> None:  # the submit or the drain after it raises
            job = engine.pack(PageJob("ticketmaster", first, NOW))
            await engine.submit([job], committed=1_000)
            await engine.drain()

        with trio.fail_after(60), pytest.raises(ValueError, match="1000 links committed"):
            await told_too_much()
