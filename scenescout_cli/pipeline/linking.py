"""Cross-source de-duplication inside ingestion: provider record → canonical event.

``Linker`` holds the crawl's de-duplication state: canonical events already in the
database and those this run creates, each with its provider records. ``link`` finds
a record's canonical event — the one it was linked to before, else the one
``DedupIndex`` matches (blocking on time and place, then fuzzy titles and venues),
else a new one — and returns the canonical event merged afresh from all its records,
so the stored result does not depend on arrival order.

Memory stays flat however large the city: state is kept per **home day** (the UTC
day a canonical event starts; undated events share one partition). A record can only
match events starting within a local day of it, so before linking a record starting
on day *d*, ``prepare`` loads from the store the canonical events of days *d − 1* to
*d + 1* not in memory yet; and when more than ``resident_limit`` records are held,
the days no record has come near for ``settle_after`` links are dropped whole (a
canonical event with all its records). Everything dropped was committed by then —
at most a few thousand items are between ingestion and storage (pipeline/capacities)
— so reloading a day later brings back the same events, with the same ids. Records
are kept without their raw payload (merging never reads it; storage gets the full
record from the ``Linked`` item).

``link`` is pure and synchronous; ``prepare`` awaits the loader (a database query)
only when a day is missing. Without a loader (tests, a first crawl's callers that
pass ``known``) everything is held and ``prepare`` does nothing.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence

import attrs

from ..enrich.dedup import DedupIndex, merge
from ..model import Event, event_id_for

#: Records held before whole days are dropped (each costs a few kB with its features).
RESIDENT_LIMIT = 20_000
#: Links after which a day nobody came near is certainly committed (the pipeline holds
#: far fewer items in flight: see pipeline/capacities.py).
SETTLE_AFTER = 5_000
#: Days either side of a record's start whose events it may match. A record matches a
#: canonical event only if it matches every record in it (complete linkage): starts
#: within TIME_TOLERANCE or on the same local date, which lies within two UTC days; and
#: a canonical event's start is one of its records' starts.
REACH_DAYS = 1

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_DAY = dt.timedelta(days=1)

#: ``loader(start, end)`` → (canonical id, its start, one stored provider record) for
#: every stored record of canonical events starting in [start, end); with ``start``
#: None, of the undated ones.
Loader = Callable[
    [dt.datetime | None, dt.datetime | None],
    Awaitable[list[tuple[uuid.UUID, dt.datetime | None, Event]]],
]


def day_of(instant: dt.datetime | None) -> int | None:
    """The UTC day number of ``instant`` (None for an undated event)."""
    return None if instant is None else (instant - _EPOCH) // _DAY


class Linker:
    """De-duplication state of one crawl (see module docstring)."""

    def __init__(
        self,
        known: Iterable[tuple[uuid.UUID, Event]] = (),
        *,
        loader: Loader | None = None,
        resident_limit: int = RESIDENT_LIMIT,
        settle_after: int = SETTLE_AFTER,
    ) -> None:
        self.index = DedupIndex()
        self.members: dict[uuid.UUID, dict[tuple[str, str], Event]] = {}
        self.links: dict[tuple[str, str], uuid.UUID] = {}
        #: records that joined a canonical event holding another source's record
        self.merged_across_sources = 0
        #: days dropped to keep memory flat, and loads from the store (figures)
        self.evicted_days = 0
        self.loads = 0
        self._loader = loader
        self._resident_limit = resident_limit
        self._settle_after = settle_after
        self._home: dict[uuid.UUID, int | None] = {}
        self._by_day: dict[int | None, set[uuid.UUID]] = {}
        self._loaded: set[int | None] = set()
        self._touched: dict[int | None, int] = {}
        self._links_made = 0
        self._next_eviction = 0
        for event_id, record in known:
            self._add(event_id, record, day_of(record.starts_at))

    def __len__(self) -> int:
        """Canonical events held in memory."""
        return len(self.members)

    @property
    def resident(self) -> int:
        """Provider records held in memory."""
        return len(self.links)

    async def prepare(self, record: Event) -> None:
        """Load the stored canonical events ``record`` may match, if not held yet.

        Errors: whatever the loader raises (a database error ends the run).
        """
        if self._loader is None:
            return
        day = day_of(record.starts_at)
        if day is None:
            if None not in self._loaded:
                await self._load(None, None, [None])
            return
        missing = [
            d for d in range(day - REACH_DAYS, day + REACH_DAYS + 1) if d not in self._loaded
        ]
        if missing:
            first, last = min(missing), max(missing)
            await self._load(_EPOCH + first * _DAY, _EPOCH + (last + 1) * _DAY, missing)

    async def _load(
        self, start: dt.datetime | None, end: dt.datetime | None, days: Sequence[int | None]
    ) -> None:
        assert self._loader is not None
        rows = await self._loader(start, end)
        self.loads += 1
        self._loaded.update(days)
        for event_id, event_start, record in rows:
            home = day_of(event_start)
            if (record.source, record.source_id) in self.links:
                continue  # held already: linked in this run, newer than what is stored
            if event_id in self._home and self._home[event_id] != home:
                home = self._home[event_id]  # keep one home per event while it is held
            self._add(event_id, record, home)

    def _add(self, event_id: uuid.UUID, record: Event, home: int | None) -> None:
        identity = (record.source, record.source_id)
        self.index.add(event_id, record)
        if record.raw:
            record = attrs.evolve(record, raw={})
        self.members.setdefault(event_id, {})[identity] = record
        self.links[identity] = event_id
        if event_id not in self._home:
            self._home[event_id] = home
            self._by_day.setdefault(home, set()).add(event_id)

    def link(self, record: Event) -> tuple[uuid.UUID, Event, int]:
        """(canonical event id, canonical event merged from all its records, how many).

        With a loader, call ``prepare(record)`` first.
        """
        identity = (record.source, record.source_id)
        event_id = self.links.get(identity)
        if event_id is None:
            matched = self.index.match(record)
            event_id = matched if isinstance(matched, uuid.UUID) else event_id_for(*identity)
            others = self.members.get(event_id, {})
            if any(source != record.source for source, _ in others):
                self.merged_across_sources += 1
        self._add(event_id, record, day_of(record.starts_at))
        members = list(self.members[event_id].values())
        self._links_made += 1
        self._touch(day_of(record.starts_at))
        if (
            self._loader is not None
            and len(self.links) > self._resident_limit
            and self._links_made >= self._next_eviction
        ):
            self._evict()
        return event_id, merge(members), len(members)

    def _touch(self, day: int | None) -> None:
        if day is None:
            self._touched[None] = self._links_made
            return
        for near in range(day - REACH_DAYS, day + REACH_DAYS + 1):
            self._touched[near] = self._links_made

    def _evict(self) -> None:
        """Drop settled days, least recently touched first, to 80% of the limit."""
        settled = self._links_made - self._settle_after
        days = sorted(
            (self._touched.get(day, -1), day)
            for day in self._by_day
            if day is not None and self._touched.get(day, -1) < settled
        )
        target = self._resident_limit * 4 // 5
        for _, day in days:
            if len(self.links) <= target:
                break
            self._drop(day)
        if len(self.links) > target:
            # Everything held is recent: look again after a while, not on every link.
            self._next_eviction = self._links_made + self._settle_after // 10

    def _drop(self, day: int) -> None:
        for event_id in self._by_day.pop(day, set()):
            for identity in self.members.pop(event_id, {}):
                self.index.remove(identity)
                self.links.pop(identity, None)
            self._home.pop(event_id, None)
        self._loaded.discard(day)
        self.evicted_days += 1
