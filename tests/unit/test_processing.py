"""Processing and the crawl's worker warm-up, with fake pool runners on virtual time."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from scenescout_cli.config import Settings
from scenescout_cli.enrich.classify import (
    classify_texts,
    default_model_file,
    preload_model,
    train_default_model,
)
from scenescout_cli.model import Event
from scenescout_cli.pipeline import enrichment
from scenescout_cli.pipeline.messages import Item, Linked
from scenescout_cli.pipeline.processing import Enricher, process
from scenescout_cli.pipeline.stats import RunStats
from scenescout_cli.workers import open_worker_pool

START = dt.datetime(2026, 12, 5, 20, 0, tzinfo=dt.UTC)


class RecordingRunner:
    """Runs nothing: records each job's function and answers as the real one would."""

    def __init__(self, *, fail: bool = False) -> None:
        self.calls: list[Callable[..., Any]] = []
        self.fail = fail

    async def __call__(self, fn: Callable[..., Any], *args: Any) -> Any:
        self.calls.append(fn)
        await trio.sleep(1.0)
        if self.fail:
            raise ValueError("not a model scenescout wrote")
        if fn is classify_texts:
            return [("music", 0.9) for _ in args[0]]
        return None


def _linked(source_id: str) -> Linked:
    record = Event(
        source="yelp",  # no provider taxonomy: the classifier decides
        source_id=source_id,
        title="Late-night jazz trio",
        starts_at=START,
        timezone="America/New_York",
        venue_name="Smalls Jazz Club",
        lat=40.7343,
        lon=-74.0027,
    )
    return Linked(record, uuid.uuid4(), record)


async def test_the_first_batch_waits_for_the_warm_worker_instead_of_a_cold_one(
    autojump_clock: trio.testing.MockClock,
) -> None:
    runner = RecordingRunner()
    ready = trio.Event()
    stats = RunStats(city="nyc")
    in_send, in_recv = trio.open_memory_channel[Item](8)
    out_send, out_recv = trio.open_memory_channel[Item](8)
    async with (
        open_worker_pool(2, runner=runner, job_timeout=60.0) as pool,
        trio.open_nursery() as nursery,
    ):
        enricher = Enricher(pool=pool, model_path="model.joblib", classifier_ready=ready)
        nursery.start_soon(lambda: process(in_recv, out_send, stats, enricher=enricher))
        async with in_send:
            await in_send.send(_linked("a1"))
            await trio.sleep(30.0)
            assert runner.calls == []  # a free slot, but no worker holds the model yet
            ready.set()
        async with out_recv:
            items = [item async for item in out_recv]
    assert runner.calls == [classify_texts]
    assert [item.merged.category for item in items if isinstance(item, Linked)] == ["music"]


async def test_warm_up_loads_the_model_and_says_ready(
    autojump_clock: trio.testing.MockClock,
) -> None:
    runner = RecordingRunner()
    ready = trio.Event()
    async with open_worker_pool(2, runner=runner, job_timeout=60.0) as pool:
        await enrichment._warm_up(pool, "model.joblib", ready)
    assert runner.calls == [preload_model]  # one worker: batches are classified one at a time
    assert ready.is_set()


async def test_a_failed_warm_up_still_says_ready_and_leaves_the_error_to_classifying(
    autojump_clock: trio.testing.MockClock,
) -> None:
    runner = RecordingRunner(fail=True)
    ready = trio.Event()
    async with open_worker_pool(1, runner=runner, job_timeout=60.0) as pool:
        await enrichment._warm_up(pool, "model.joblib", ready)
    assert ready.is_set()


async def test_a_warm_up_that_must_train_trains_in_the_pool_first(
    autojump_clock: trio.testing.MockClock,
) -> None:
    runner = RecordingRunner()
    ready = trio.Event()
    async with open_worker_pool(2, runner=runner, job_timeout=60.0) as pool:
        await enrichment._warm_up(pool, "cache/model.npz", ready, "cache")
    assert runner.calls == [train_default_model, preload_model]
    assert ready.is_set()


async def test_a_failed_training_still_says_ready(
    autojump_clock: trio.testing.MockClock,
) -> None:
    runner = RecordingRunner(fail=True)
    ready = trio.Event()
    async with open_worker_pool(1, runner=runner, job_timeout=60.0) as pool:
        await enrichment._warm_up(pool, "cache/model.npz", ready, "cache")
    assert runner.calls == [train_default_model]  # nothing to load
    assert ready.is_set()


@pytest.mark.parametrize("cached", [False, True])
async def test_open_workers_trains_the_default_model_behind_the_crawls_start(
    cached: bool,
    autojump_clock: trio.testing.MockClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without the user's model, the crawl goes on at once while a worker trains the
    default one (first crawl on a machine) and loads it; nothing trains in this process."""
    cache = tmp_path / "cache"
    expected = default_model_file(cache)
    if cached:
        cache.mkdir()
        expected.write_bytes(b"a model")
    runner = RecordingRunner()
    monkeypatch.setattr(enrichment, "model_dir", lambda settings: cache)
    monkeypatch.setattr(
        enrichment,
        "open_worker_pool",
        lambda **options: open_worker_pool(2, runner=runner, **options),
    )
    async with enrichment.open_workers(Settings(data_dir=tmp_path / "data")) as workers:
        assert workers.model_path == str(expected)
        assert not workers.classifier_ready.is_set()  # the crawl did not wait for it
        await workers.classifier_ready.wait()
    assert runner.calls == ([] if cached else [train_default_model]) + [preload_model]
