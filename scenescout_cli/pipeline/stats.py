"""Live figures of one run: per source, per stage, and the store's totals.

Stages update these counters synchronously (a few integer increments, never an
await), so observing the run never slows it. Sinks — the live view, log lines, the
summary, ``crawl_runs.stats`` — read ``snapshot()`` on their own clock.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import attrs
import trio


@attrs.define
class SourceStats:
    """One source's discovery figures."""

    name: str
    state: str = "waiting"  # waiting | running | done | failed | skipped
    queries_planned: int = 0
    queries_done: int = 0
    queries_split: int = 0
    #: of those, split without their first page: a recent crawl had to split them
    splits_ahead: int = 0
    queries_failed: int = 0
    pages: int = 0
    records: int = 0
    unchanged: int = 0
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    errors: int = 0
    capped: int = 0
    last_error: str | None = None
    activity: str = ""
    quota_left: int | None = None
    rate: float = 0.0
    breaker: str = "closed"
    #: wall time in requests, retries and rate-limit waits (fetchers overlap)
    fetch_s: float = 0.0

    def snapshot(self) -> dict[str, Any]:
        return attrs.asdict(self)


@attrs.define
class StageStats:
    """One stage's throughput; ``depth`` reads its input channel's buffer.

    ``busy_s`` is the wall time the stage spent on its own work (not waiting for
    input nor for room downstream): the benchmark's time per stage.
    """

    name: str
    received: int = 0
    sent: int = 0
    errors: int = 0
    capacity: float = 0
    busy_s: float = 0.0
    _channel: trio.MemoryReceiveChannel[Any] | None = attrs.field(default=None, repr=False)

    def watch(self, channel: trio.MemoryReceiveChannel[Any]) -> None:
        """Report ``channel``'s depth as this stage's queue depth."""
        self._channel = channel
        self.capacity = channel.statistics().max_buffer_size

    @property
    def depth(self) -> int:
        if self._channel is None:
            return 0
        return self._channel.statistics().current_buffer_used

    def snapshot(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "sent": self.sent,
            "errors": self.errors,
            "busy_s": round(self.busy_s, 3),
            "depth": self.depth,
        }


@attrs.define
class RunStats:
    """Everything a sink may show about the running crawl."""

    city: str
    started: float = attrs.field(factory=trio.current_time)
    sources: dict[str, SourceStats] = attrs.field(factory=dict)
    stages: dict[str, StageStats] = attrs.field(factory=dict)
    inserted: int = 0
    updated: int = 0
    #: records identical to the stored ones (incremental): only last_seen_at moved
    unchanged: int = 0
    venues: int = 0
    #: stored events deleted because their last provider record moved to another event
    removed: int = 0
    #: stored provider records that left their event for another (a show postponed)
    moved: int = 0
    #: provider records that joined an event another source had listed
    merged_across_sources: int = 0
    #: pairwise decisions de-duplication made (per record: how busy its blocks are)
    dedup_comparisons: int = 0
    unchanged_in_run: int = 0
    rejected: Counter[str] = attrs.field(factory=Counter)
    batches: int = 0
    #: ``Linked`` items storage has committed; they reach it in the order ingestion's
    #: engine made them, so the engine may forget what only these touched (not shown)
    linked_committed: int = 0
    notices: list[str] = attrs.field(factory=list)
    status: str = "running"
    finished: float | None = None
    #: processing's figures (pipeline.processing.EnrichStats) and the worker pool
    enrich: Any = None
    pool: Any = None

    def source(self, name: str) -> SourceStats:
        if name not in self.sources:
            self.sources[name] = SourceStats(name)
        return self.sources[name]

    def stage(self, name: str) -> StageStats:
        if name not in self.stages:
            self.stages[name] = StageStats(name)
        return self.stages[name]

    def notice(self, message: str) -> None:
        self.notices.append(message)

    @property
    def stored(self) -> int:
        """Events written or confirmed unchanged in the store."""
        return self.inserted + self.updated + self.unchanged

    def elapsed(self) -> float:
        end = self.finished if self.finished is not None else trio.current_time()
        return max(0.0, end - self.started)

    def events_per_second(self) -> float:
        elapsed = self.elapsed()
        return self.stored / elapsed if elapsed > 0 else 0.0

    @property
    def errors(self) -> int:
        return sum(s.errors for s in self.sources.values()) + sum(
            s.errors for s in self.stages.values()
        )

    def snapshot(self) -> dict[str, Any]:
        """Plain JSON-able figures, as stored in ``crawl_runs.stats``."""
        return {
            "city": self.city,
            "status": self.status,
            "elapsed_s": round(self.elapsed(), 3),
            "events_stored": self.stored,
            "events_inserted": self.inserted,
            "events_updated": self.updated,
            "events_unchanged": self.unchanged,
            "events_removed": self.removed,
            "records_moved": self.moved,
            "venues_stored": self.venues,
            "duplicates_in_run": self.unchanged_in_run,
            "merged_across_sources": self.merged_across_sources,
            "dedup_comparisons": self.dedup_comparisons,
            "rejected": dict(self.rejected),
            "events_per_second": round(self.events_per_second(), 1),
            "batches": self.batches,
            "sources": {name: s.snapshot() for name, s in self.sources.items()},
            "stages": {name: s.snapshot() for name, s in self.stages.items()},
            "notices": list(self.notices),
            "processing": attrs.asdict(self.enrich) if self.enrich is not None else {},
        }
