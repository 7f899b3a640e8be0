"""Processing: geocoding, images, classification and quality scoring.

For now a wired pass-through stage; the enrichment steps (issue 6) plug in here.
"""

from __future__ import annotations

import trio

from .messages import Item
from .stats import RunStats


async def process(
    inbox: trio.MemoryReceiveChannel[Item],
    out: trio.MemorySendChannel[Item],
    stats: RunStats,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Pass every item on; closes ``out`` when ``inbox`` ends."""
    stage = stats.stage("process")
    stage.watch(inbox)
    async with inbox, out:
        task_status.started()
        async for item in inbox:
            stage.received += 1
            await out.send(item)
            stage.sent += 1
