"""Ingestion: pages of raw records in, normalised events, venues or rejects out.

Each record is one unit of work: a record that cannot be normalised becomes a
``Reject`` with its reason and goes on to the rejects table; it never ends the run.
A record whose content hash equals the stored one becomes ``Unchanged`` and skips
the rest of the work (incremental crawls). A provider record seen twice in one run
(overlapping split queries) passes once — "seen" is a bounded memory of recent
records (``RecentKeys``), which is enough because the parts of a split query run one
after the other; a repeat it has forgotten is normalised and stored again, which
changes nothing (storage upserts). After a page's records comes its ``PageDone``
marker, which storage commits with them.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from typing import Any

import attrs
import trio

from .. import jsonio
from ..enrich import resolve_zone, sanitize, validate
from ..errors import RecordRejected
from ..model import Event, Reject, Venue
from ..sources.base import SourceAdapter
from .linking import Linker
from .messages import Item, Linked, PageDone, QuerySplit, RawPage, Unchanged
from .stats import RunStats

#: Bumped when normalisation changes, so that every record is normalised afresh once.
NORMALISATION_VERSION = "1"
#: Provider records remembered as "seen in this run". Repeats come from the
#: overlapping parts of one split query, fetched one after another, so they are
#: never far apart; the bound keeps a city of millions of events flat in memory.
SEEN_LIMIT = 200_000


class RecentKeys:
    """A set that remembers at least the last ``limit // 2`` and at most ``limit`` keys.

    Two generations: when the current one is half the limit it becomes the old one
    and the one before is forgotten. Membership and adding are O(1).
    """

    def __init__(self, limit: int = SEEN_LIMIT) -> None:
        self._half = max(1, limit // 2)
        self._current: set[tuple[str, str]] = set()
        self._old: set[tuple[str, str]] = set()

    def __contains__(self, key: object) -> bool:
        return key in self._current or key in self._old

    def __len__(self) -> int:
        return len(self._current) + len(self._old)

    def add(self, key: tuple[str, str]) -> None:
        if key in self._old:
            return
        self._current.add(key)
        if len(self._current) >= self._half:
            self._old, self._current = self._current, set()


def content_hash(record: dict[str, Any]) -> str:
    """A stable hash of a provider record (key order and whitespace do not matter)."""
    text = jsonio.dumps([NORMALISATION_VERSION, record], sort_keys=True)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def normalise_record(
    adapter: SourceAdapter,
    record: dict[str, Any],
    page: RawPage,
    *,
    content_hash: str | None = None,
) -> Event | Venue | Reject:
    """One raw record → a clean Event or Venue, or Reject with the reason. Pure.

    Events are normalised by their adapter, given a zone (the venue's, else the
    coordinates'), sanitised, then validated; they carry ``content_hash``.
    """
    try:
        item = adapter.normalise(record, page.fetched_at)
        if isinstance(item, Event):
            item = sanitize(resolve_zone(item))
            validate(item, now=page.fetched_at)
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
    if isinstance(item, Event):
        return attrs.evolve(item, fetched_at=page.fetched_at, content_hash=content_hash)
    return attrs.evolve(item, fetched_at=page.fetched_at)


def _safe_id(adapter: SourceAdapter, record: dict[str, Any]) -> str | None:
    try:
        return adapter.record_id(record)
    except (KeyError, TypeError, AttributeError):
        return None


async def ingest(
    adapters: dict[str, SourceAdapter],
    pages: trio.MemoryReceiveChannel[RawPage | QuerySplit],
    out: trio.MemorySendChannel[Item],
    stats: RunStats,
    *,
    known_hashes: Mapping[tuple[str, str], str] | None = None,
    linker: Linker | None = None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Normalise every record of every page; closes ``out`` when ``pages`` ends.

    ``known_hashes`` maps (source, source_id) to the content hash stored by earlier
    crawls of this city; ``linker`` links each event to its canonical event, reading
    stored events from the database as records need them (``Linker.prepare``).
    """
    linker = linker if linker is not None else Linker()
    stage = stats.stage("ingest")
    stage.watch(pages)
    known = known_hashes or {}
    seen = RecentKeys(SEEN_LIMIT)
    async with pages, out:
        task_status.started()
        async for page in pages:
            if isinstance(page, QuerySplit):
                await out.send(page)
                continue
            adapter = adapters[page.source]
            for number, record in enumerate(page.records):
                if number % 64 == 63:
                    await trio.lowlevel.checkpoint()
                stage.received += 1
                began = time.perf_counter()
                item = _ingest_one(adapter, record, page, known, seen, stats)
                if isinstance(item, Event):
                    await linker.prepare(item)  # the store is read only for a new day
                    item = _link(item, linker, stats)
                stage.busy_s += time.perf_counter() - began
                if item is None:
                    continue
                await out.send(item)
                stage.sent += 1
            await out.send(
                PageDone(
                    page.query.key, page.page_number + 1, page.next_cursor, page.next_cursor is None
                )
            )


def _ingest_one(
    adapter: SourceAdapter,
    record: dict[str, Any],
    page: RawPage,
    known: Mapping[tuple[str, str], str],
    seen: RecentKeys,
    stats: RunStats,
) -> Item | Event | None:
    """The item one record becomes — an Event still to be linked — or None for a
    repeat within this run."""
    source_id = _safe_id(adapter, record)
    if source_id is not None and (adapter.name, source_id) in seen:
        stats.unchanged_in_run += 1  # overlapping queries: checked before any work
        return None
    digest = content_hash(record)
    if source_id is not None:
        key = (adapter.name, source_id)
        if known.get(key) == digest:
            seen.add(key)
            stats.source(adapter.name).unchanged += 1
            return Unchanged(adapter.name, source_id)
    item = normalise_record(adapter, record, page, content_hash=digest)
    if isinstance(item, Event | Venue):
        key = (item.source, item.source_id)
        if key in seen:
            stats.unchanged_in_run += 1
            return None
        seen.add(key)
    return item


def _link(record: Event, linker: Linker, stats: RunStats) -> Linked:
    """``record`` with its canonical event (de-duplication; ``linker.prepare`` first)."""
    event_id, merged, sources = linker.link(record)
    stats.merged_across_sources = linker.merged_across_sources
    stats.dedup_comparisons = linker.index.comparisons
    return Linked(record, event_id, merged, sources)
