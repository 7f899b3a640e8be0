"""Storage: one writer task that batches items by size or age and writes them.

Each batch is one transaction (``Store.write_batch``): events, venues, unchanged
records, rejects and the progress markers of the pages whose records it completes.
When the inbox closes the last partial batch is written before the stage returns,
so an interrupted crawl still stores everything that reached this stage.
"""

from __future__ import annotations

import math
import os
import signal
import time
from collections.abc import Callable
from typing import Protocol

import trio

from ..model import Event, Reject, Venue
from ..store.db import Batch, Link, Progress, WriteResult
from . import capacities
from .channels import take_buffered
from .messages import ImageDone, Item, Linked, PageDone, QuerySplit, Unchanged
from .stats import RunStats


class BatchWriter(Protocol):
    async def write_batch(
        self,
        run_id: int | None,
        city: str,
        batch: Batch,
        *,
        before_commit: Callable[[], None] | None = None,
    ) -> WriteResult: ...


#: ``SCENESCOUT_TEST_CRASH=after:N`` or ``before-commit:N`` makes the process SIGKILL
#: itself right after batch N commits, or inside batch N's transaction: the crash
#: points of the kill-and-resume tests. Unset in normal use.
CRASH_VARIABLE = "SCENESCOUT_TEST_CRASH"


def crash_point(value: str | None) -> tuple[str, int] | None:
    """Parse ``SCENESCOUT_TEST_CRASH``; None when unset or malformed."""
    if not value:
        return None
    when, _, number = value.partition(":")
    if when not in ("after", "before-commit") or not number.isdigit():
        return None
    return when, int(number)


def _crash() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def to_batch(items: list[Item], plan_id: int | None) -> Batch:
    """Sort a batch's items into what each table receives. Pure."""
    batch = Batch()
    for item in items:
        if isinstance(item, Linked):
            batch.events.append(
                Link(item.record, item.event_id, item.merged, item.raw_json, item.event_only)
            )
        elif isinstance(item, Event):
            batch.events.append(Link.alone(item))
        elif isinstance(item, Venue):
            batch.venues.append(item)
        elif isinstance(item, Reject):
            batch.rejects.append(item)
        elif isinstance(item, ImageDone):
            batch.images.append((item.event_id, item.source_url, item.result, item.error))
        elif isinstance(item, Unchanged):
            batch.unchanged.append((item.source, item.source_id))
        elif plan_id is None:
            continue
        elif isinstance(item, PageDone):
            state = "done" if item.done else "paging"
            batch.progress.append(
                Progress(plan_id, item.query_key, state, item.next_cursor, item.pages)
            )
        elif isinstance(item, QuerySplit):
            batch.progress.append(Progress(plan_id, item.query_key, "split"))
    return batch


async def store_items(
    store: BatchWriter,
    run_id: int | None,
    city: str,
    inbox: trio.MemoryReceiveChannel[Item],
    stats: RunStats,
    *,
    plan_id: int | None = None,
    crash: tuple[str, int] | None = None,
    batch_size: int = capacities.STORE_BATCH_SIZE,
    max_age: float = capacities.STORE_BATCH_MAX_AGE,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Write every item of ``inbox`` in batches of ``batch_size``, or after ``max_age`` seconds."""
    stage = stats.stage("store")
    stage.watch(inbox)
    items: list[Item] = []

    async def flush() -> None:
        if not items:
            return
        batch = to_batch(items, plan_id)
        number = stats.batches + 1
        in_transaction = _crash if crash == ("before-commit", number) else None
        began = time.perf_counter()
        result = await store.write_batch(run_id, city, batch, before_commit=in_transaction)
        stage.busy_s += time.perf_counter() - began
        if crash == ("after", number):
            _crash()
        stats.inserted += result.inserted
        stats.updated += result.updated
        stats.unchanged += result.unchanged
        stats.venues += result.venues
        stats.removed += result.removed
        stats.rejected.update(r.reason for r in batch.rejects)
        stats.batches += 1
        stats.linked_committed += sum(isinstance(item, Linked) for item in items)
        stage.sent += len(items)
        items.clear()

    async with inbox:
        task_status.started()
        deadline = math.inf
        more = True  # the channel may hold more: its senders are not all closed
        while more:
            with trio.move_on_at(deadline):
                try:
                    item = await inbox.receive()
                except trio.EndOfChannel:
                    break
                if not items:
                    deadline = trio.current_time() + max_age
                before = len(items)
                items.append(item)
                more = take_buffered(inbox, items, batch_size)  # no wait for each item
                stage.received += len(items) - before
                if more and len(items) < batch_size:
                    continue
            await flush()
            deadline = math.inf
        await flush()
