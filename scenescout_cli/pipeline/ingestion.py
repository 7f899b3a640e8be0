"""Ingestion: pages of raw records in, normalised events (or rejects) out.

Each record is one unit of work: a record that cannot be normalised becomes a
``Reject`` with its reason and goes on to the rejects table; it never ends the run.
A provider record seen twice in one run (overlapping split queries) passes once.
"""

from __future__ import annotations

from typing import Any

import attrs
import trio

from ..errors import RecordRejected
from ..model import Event, Reject
from ..sources.base import SourceAdapter
from .messages import Item, RawPage
from .stats import RunStats


def normalise_record(adapter: SourceAdapter, record: dict[str, Any], page: RawPage) -> Item:
    """One raw record → Event, or Reject with the reason. Pure."""
    try:
        event = adapter.normalise(record, page.fetched_at)
    except RecordRejected as exc:
        return Reject(adapter.name, _safe_id(adapter, record), exc.reason, exc.detail, record)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        # Untrusted input in a shape the normaliser did not foresee: a reject, not a crash.
        return Reject(
            adapter.name,
            _safe_id(adapter, record),
            "malformed_record",
            f"{type(exc).__name__}: {exc}"[:200],
            record,
        )
    return attrs.evolve(event, fetched_at=page.fetched_at)


def _safe_id(adapter: SourceAdapter, record: dict[str, Any]) -> str | None:
    try:
        return adapter.record_id(record)
    except (KeyError, TypeError, AttributeError):
        return None


async def ingest(
    adapters: dict[str, SourceAdapter],
    pages: trio.MemoryReceiveChannel[RawPage],
    out: trio.MemorySendChannel[Item],
    stats: RunStats,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Normalise every record of every page; closes ``out`` when ``pages`` ends."""
    stage = stats.stage("ingest")
    stage.watch(pages)
    seen: set[tuple[str, str]] = set()
    async with pages, out:
        task_status.started()
        async for page in pages:
            adapter = adapters[page.source]
            for record in page.records:
                stage.received += 1
                item = normalise_record(adapter, record, page)
                if isinstance(item, Event):
                    key = (item.source, item.source_id)
                    if key in seen:
                        stats.unchanged_in_run += 1
                        continue
                    seen.add(key)
                else:
                    stage.errors += 1
                await out.send(item)
                stage.sent += 1
