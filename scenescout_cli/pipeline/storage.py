"""Storage: one writer task that batches items by size or age and upserts them.

Each batch is one transaction (``Store.write_batch``). When the inbox closes the
last partial batch is written before the stage returns, so an interrupted crawl
still stores everything that reached this stage.
"""

from __future__ import annotations

import math
from typing import Protocol

import trio

from ..model import Event, Reject
from ..store import WriteResult
from . import capacities
from .messages import Item
from .stats import RunStats


class BatchWriter(Protocol):
    async def write_batch(
        self, run_id: int | None, city: str, events: list[Event], rejects: list[Reject]
    ) -> WriteResult: ...


async def store_items(
    store: BatchWriter,
    run_id: int | None,
    city: str,
    inbox: trio.MemoryReceiveChannel[Item],
    stats: RunStats,
    *,
    batch_size: int = capacities.STORE_BATCH_SIZE,
    max_age: float = capacities.STORE_BATCH_MAX_AGE,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Write every item of ``inbox`` in batches of ``batch_size``, or after ``max_age`` seconds."""
    stage = stats.stage("store")
    stage.watch(inbox)
    batch: list[Item] = []

    async def flush() -> None:
        if not batch:
            return
        events = [item for item in batch if isinstance(item, Event)]
        rejects = [item for item in batch if isinstance(item, Reject)]
        result = await store.write_batch(run_id, city, events, rejects)
        stats.inserted += result.inserted
        stats.updated += result.updated
        stats.rejected.update(r.reason for r in rejects)
        stats.batches += 1
        stage.sent += len(batch)
        batch.clear()

    async with inbox:
        task_status.started()
        deadline = math.inf
        while True:
            with trio.move_on_at(deadline):
                try:
                    item = await inbox.receive()
                except trio.EndOfChannel:
                    break
                stage.received += 1
                batch.append(item)
                if len(batch) == 1:
                    deadline = trio.current_time() + max_age
                if len(batch) < batch_size:
                    continue
            await flush()
            deadline = math.inf
        await flush()
