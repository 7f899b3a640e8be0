"""Cross-source de-duplication inside ingestion: provider record → canonical event.

``Linker`` holds the crawl's de-duplication state: canonical events already in the
database and those this run creates, each with its provider records. ``link`` finds
a record's canonical event — the one it was linked to before, else the one
``DedupIndex`` matches (blocking on time and place, then fuzzy titles and venues),
else a new one — and returns the canonical event merged afresh from all its records,
so the stored result does not depend on arrival order.

Memory follows the events of an hour, not of a day, however large the city. State is
partitioned by where each canonical event starts (``merge`` takes the start of a timed
record when the event has one, else of a date-only one — all-day, or local midnight):

- a *timed* event (one of its records has a time) lives in the partition of its UTC
  **hour**;
- a *date-only* event (its records have only a date) in that of its UTC **day**;
- an undated (TBA) event in the one undated partition.

**Reach.** ``DedupIndex`` joins a record to a canonical event only if the record is the
same event as every record in it (complete linkage), so in particular as the record
whose start is the event's. ``same_event`` compares starts thus: two timed starts at
most ``TIME_TOLERANCE`` apart; a date-only start and any other on the same local date,
read in the date-only record's zone (else the other's, else UTC; two date-only starts
each in its own zone, else the other's); TBA only with TBA. Three facts about the IANA
zones (checked for every zone, 2025–2028) bound "the same local date": (F1) a local day
lasts at most 26 hours (25 at a DST change, 26 at Antarctica/Troll); (F2) it overlaps
at most two UTC days; (F3) UTC offsets lie within −12 h … +14 h, so local date *L* of
any zone lies within the UTC instants [*L* − 14 h, *L* + 1 day + 12 h). A record
starting at *t* therefore needs these partitions (``_reach``):

- timed: the hours of [*t* − 30 min, *t* + 30 min] (two at most); the date-only days
  *D*(*t*) − 1 … *D*(*t*) + 1 (one local day in one zone holds both starts: F2);
- date-only with a zone: the hours of its local day in that zone, first to last instant
  (both starts are read in it); the date-only days *L* − 1 … *L* + 1 of its local date
  *L* (F3). Without a zone (all-day): the hours of *t* ± 26 h (one local day in the
  other record's zone or UTC: F1), and days *L* − 1 … *L* + 1 for every date *L* that
  *t* has somewhere, *D*(*t* − 12 h) … *D*(*t* + 14 h) (F3);
- undated: the undated partition.

Providers list a date without a time as local midnight in a known zone, which reaches
the day ahead only: a stream in time order meets it before that day's timed events,
and on a first crawl those hours are still empty. (An all-day record at another time
reaches back to its midnight too; none of today's providers sends one.)

**A record linked before** (the same source and id, stored by an earlier crawl) goes
back to its canonical event while it still belongs there: while it is the same event
as each of the event's other records (``DedupIndex.joins``), or, alone in its event,
while its old start is within its new one's reach. These rules reach that event as
long as the record's start has not moved; when it has moved beyond them (a show
postponed by weeks), the caller says the record is stored (``stored=True``) and the
Linker loads its event by the record's identity (``Load.identities``) before linking.
A record that no longer belongs **leaves**: it is linked afresh — to a matching event,
else it keeps its event if it was alone in it, else it takes a new id derived from its
new start. An event it leaves holding other records is merged again from them
(``take_left`` hands those out, for storage to rewrite the event's row); one it leaves
empty is deleted by storage (``Store.write_batch``). So an event never keeps what a
record that left it said.

**Loading.** ``wanted(record)`` names the partitions the record needs that are not held,
as loads (``Load``): runs of adjacent missing hours, runs of adjacent days' date-only
events, or the undated events; and ``accept(load, rows)`` files what the store
returned (``Store.known_records_between``); ``prepare`` does both with the ``loader``,
passing ``date_only=True`` for date-only days. A crawl moving forward in time costs
about one query per new hour and one per new day. Rows of events of another partition
are ignored (their own load brings them), so a date-only load may return more than the
date-only events (a loader that ignores ``date_only`` returns whole days: correct, but
heavier).

**Eviction.** When more than ``resident_limit`` records are held, settled partitions
are dropped whole (a canonical event with all its records), least recently used
first. A partition is touched by every link that needs it and by the link that puts
an event in it, and when it is loaded; an event moves to the partition of its new
start when a link changes it. A partition is settled when every link that touched it
is committed: storage says how many links it has committed (``committed``; links
reach it in the order they were made), and without word from it, a partition no
record has come near for ``settle_after`` links is (at most a few thousand items are
between ingestion and storage: pipeline/capacities). So everything dropped was
committed, and the store then holds each dropped event under the partition it was
dropped from: loading it again brings back the same events, with the same ids.
Records are kept without their raw payload (merging never reads it; storage gets the
full record from the ``Linked`` item).

``link`` is pure and synchronous; ``prepare`` awaits the loader (a database query)
only when a partition is missing. Without a loader (tests, the in-memory default)
everything is held and nothing is wanted; ``lazy=True`` bounds memory the same way
for a caller that answers ``wanted`` itself (pipeline/ingestion.py).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Iterable, Sequence
from typing import Protocol

import attrs

# is_date_only is the matcher's own reading of "date-only": partitions must agree with it.
from ..enrich.dedup import (
    TIME_TOLERANCE,
    DedupIndex,
    is_date_only,
    local_day,
    merge,
    zone_named,
)
from ..model import Event, event_id_for, evolve_event

#: Records held before settled partitions are dropped (each costs a few kB with its
#: features). About what a dense city (~1,400 records an hour) must hold anyway: the
#: hours of the links not yet committed, the next hour and the date-only days around.
RESIDENT_LIMIT = 8_000
#: Links after which a partition nobody came near is certainly committed, when storage
#: has not said so sooner (``Linker.committed``): the pipeline holds at most ~2,900
#: linked records uncommitted (pipeline/capacities.py; the bound is checked with a 1.2
#: margin by tests/unit/test_pipeline.py).
SETTLE_AFTER = 3_500

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_EPOCH_DATE = _EPOCH.date()
_HOUR = dt.timedelta(hours=1)
_DAY = dt.timedelta(days=1)
_TICK = dt.timedelta(microseconds=1)
#: F1: the longest local day of any zone.
_LONGEST_LOCAL_DAY = dt.timedelta(hours=26)
#: F3: the most negative and most positive UTC offsets.
_WEST = dt.timedelta(hours=12)
_EAST = dt.timedelta(hours=14)

#: A partition: ("h", UTC hour number) of timed events, ("d", UTC day number) of
#: date-only events, or the undated events.
Partition = tuple[str, int]
_UNDATED: Partition = ("u", 0)

#: (canonical id, its stored start, one stored provider record)
Row = tuple[uuid.UUID, dt.datetime | None, Event]


@attrs.frozen
class Load:
    """One query for stored canonical events: those starting in [start, end) — with
    ``date_only``, only the date-only ones are needed — or, with ``start`` None, the
    undated ones. Ranges are whole UTC hours (whole days with ``date_only``). With
    ``identities`` (source, source id), instead: the events holding those records,
    whatever their start."""

    start: dt.datetime | None
    end: dt.datetime | None
    date_only: bool = False
    identities: frozenset[tuple[str, str]] = frozenset()

    def partitions(self) -> list[Partition]:
        """The partitions this load brings (none for a load by identity: it brings
        single events)."""
        if self.identities:
            return []
        if self.start is None or self.end is None:
            return [_UNDATED]
        if self.date_only:
            return [("d", d) for d in range(_day(self.start), _day(self.end))]
        return [("h", h) for h in range(hour_of(self.start), hour_of(self.end))]


class Loader(Protocol):
    """``loader(start, end)`` → a ``Row`` for every stored record of the canonical events
    starting in [start, end) (with ``start`` None, of the undated ones); with
    ``date_only=True`` it may leave out events that have a timed record. With
    ``identities``, the rows of every stored record of the events holding those
    records (``start`` and ``end`` are then None)."""

    def __call__(
        self,
        start: dt.datetime | None,
        end: dt.datetime | None,
        *,
        date_only: bool = False,
        identities: Sequence[tuple[str, str]] = (),
    ) -> Awaitable[list[Row]]: ...


async def fetch_load(loader: Loader, load: Load) -> list[Row]:
    """The rows ``load`` brings, from ``loader``. Errors: whatever the loader raises."""
    if load.identities:
        return await loader(None, None, identities=sorted(load.identities))
    return await loader(load.start, load.end, date_only=load.date_only)


def day_of(instant: dt.datetime | None) -> int | None:
    """The UTC day number of ``instant`` (None for an undated event)."""
    return None if instant is None else (instant - _EPOCH) // _DAY


def hour_of(instant: dt.datetime) -> int:
    """The UTC hour number of ``instant``."""
    return (instant - _EPOCH) // _HOUR


def _day(instant: dt.datetime) -> int:
    return (instant - _EPOCH) // _DAY


def _timed(record: Event) -> bool:
    return record.starts_at is not None and not is_date_only(record, zone_named(record.timezone))


def _home(start: dt.datetime | None, records: Iterable[Event]) -> Partition:
    """The partition of a canonical event starting at ``start`` with ``records``."""
    if start is None:
        return _UNDATED
    if any(_timed(record) for record in records):
        return ("h", hour_of(start))
    return ("d", _day(start))


def _reach(record: Event) -> list[Partition]:
    """The partitions holding every canonical event ``record`` may join (module doc)."""
    start = record.starts_at
    if start is None:
        return [_UNDATED]
    zone = zone_named(record.timezone)
    if not is_date_only(record, zone):
        hours = range(hour_of(start - TIME_TOLERANCE), hour_of(start + TIME_TOLERANCE) + 1)
        day = _day(start)
        days = range(day - 1, day + 2)
    elif zone is not None:
        local = start.astimezone(zone).date()
        first, end = local_day(local, zone)
        hours = range(hour_of(first), hour_of(end - _TICK) + 1)
        day = (local - _EPOCH_DATE).days
        days = range(day - 1, day + 2)
    else:
        hours = range(hour_of(start - _LONGEST_LOCAL_DAY), hour_of(start + _LONGEST_LOCAL_DAY) + 1)
        days = range(_day(start - _WEST) - 1, _day(start + _EAST) + 2)
    return [("h", h) for h in hours] + [("d", d) for d in days]


class Linker:
    """De-duplication state of one crawl (see module docstring)."""

    def __init__(
        self,
        known: Iterable[tuple[uuid.UUID, Event]] = (),
        *,
        loader: Loader | None = None,
        lazy: bool = False,
        fresh: bool = False,
        resident_limit: int = RESIDENT_LIMIT,
        settle_after: int = SETTLE_AFTER,
    ) -> None:
        """``fresh``: the store held no event of the city when the crawl began, so a
        partition this Linker never dropped already holds all there is of it and only
        dropped partitions are ever loaded (a first crawl makes no empty queries)."""
        self.index = DedupIndex()
        self.members: dict[uuid.UUID, dict[tuple[str, str], Event]] = {}
        self.links: dict[tuple[str, str], uuid.UUID] = {}
        #: records that joined a canonical event holding another source's record
        self.merged_across_sources = 0
        #: partitions dropped to keep memory flat, and loads from the store (figures)
        self.evicted = 0
        self.loads = 0
        self._loader = loader
        self._bounded = lazy or loader is not None
        self._resident_limit = resident_limit
        self._settle_after = settle_after
        self._home: dict[uuid.UUID, Partition] = {}
        self._by_partition: dict[Partition, set[uuid.UUID]] = {}
        self._loaded: set[Partition] = set()
        self._fresh = fresh
        self._last_reach: tuple[Event, list[Partition]] | None = None
        self._dropped: set[Partition] = set()
        self._touched: dict[Partition, int] = {}
        self._links_made = 0
        #: identities loaded by identity and not linked since (never asked for twice)
        self._sought: set[tuple[str, str]] = set()
        #: events records left holding other records: (id, merged, records, one of them)
        self._left: list[tuple[uuid.UUID, Event, int, Event]] = []
        #: records that left the canonical event they were linked to before
        self.moved = 0
        #: links storage has committed (the first this many), as last told
        self._committed = 0
        self._next_eviction = 0
        for event_id, record in known:
            self._add(event_id, record)
            if self._bounded:
                self._place(event_id, _home(record.starts_at, (record,)))

    def __len__(self) -> int:
        """Canonical events held in memory."""
        return len(self.members)

    def _reach_of(self, record: Event) -> list[Partition]:
        """``_reach(record)``, kept for the last record: ``wanted`` and ``link`` both
        need it, one after the other."""
        if self._last_reach is None or self._last_reach[0] is not record:
            self._last_reach = (record, _reach(record))
        return self._last_reach[1]

    @property
    def resident(self) -> int:
        """Provider records held in memory."""
        return len(self.links)

    def wanted(self, record: Event, *, stored: bool = False) -> list[Load]:
        """The loads ``link(record)`` needs first: none when everything it may join is
        held (always, without a loader or ``lazy``). ``stored``: an earlier crawl stored
        the record; once its reach is held, its event is loaded by identity if the reach
        did not bring it (its start moved)."""
        if not self._bounded:
            return []
        missing = [
            p
            for p in self._reach_of(record)
            if p not in self._loaded and (not self._fresh or p in self._dropped)
        ]
        loads: list[Load] = []
        run: list[Partition] = []
        for partition in missing:
            if run and (partition[0] != run[-1][0] or partition[1] != run[-1][1] + 1):
                loads.append(_load_of(run))
                run = []
            run.append(partition)
        if run:
            loads.append(_load_of(run))
        if stored and not loads:
            identity = (record.source, record.source_id)
            if identity not in self.links and identity not in self._sought:
                loads.append(Load(None, None, identities=frozenset((identity,))))
        return loads

    def accept(self, load: Load, rows: Iterable[Row]) -> None:
        """File the stored canonical events ``load`` brought (``rows`` as its loader
        returns them). Events already held keep what this run made of them."""
        bringing = {p for p in load.partitions() if p not in self._loaded}
        self.loads += 1
        events: dict[uuid.UUID, tuple[dt.datetime | None, list[Event]]] = {}
        for event_id, start, record in rows:
            events.setdefault(event_id, (start, []))[1].append(record)
        if load.identities:
            self._sought |= load.identities
        for event_id, (start, records) in events.items():
            home = _home(start, records)
            if load.identities:
                # a single event: held in its partition (not marked loaded), and kept
                # for the record waiting on it as a loaded partition is
                self._touched[home] = self._links_made
            elif home not in bringing:
                continue  # another partition's event: its own load brings it
            held = event_id in self.members
            for record in records:
                if (record.source, record.source_id) not in self.links:
                    # not linked in this run already, where it is newer than the store
                    self._add(event_id, record)
            if not held and event_id in self.members:
                self._place(event_id, home)
        if load.identities:
            return
        self._loaded |= bringing
        for partition in bringing:
            self._touched[partition] = self._links_made  # needed by the records waiting

    async def prepare(self, record: Event, *, stored: bool = False) -> None:
        """Load the stored canonical events ``record`` may join, if not held yet;
        ``stored`` as for ``wanted``.

        Errors: whatever the loader raises (a database error ends the run).
        """
        if self._loader is None:
            return
        while loads := self.wanted(record, stored=stored):
            for load in loads:
                self.accept(load, await fetch_load(self._loader, load))

    def _add(self, event_id: uuid.UUID, record: Event) -> None:
        identity = (record.source, record.source_id)
        self.index.add(event_id, record)
        if record.raw:
            record = evolve_event(record, raw={})
        self.members.setdefault(event_id, {})[identity] = record
        self.links[identity] = event_id

    def _place(self, event_id: uuid.UUID, home: Partition) -> None:
        """Put a held event in partition ``home`` (moving it from its old one)."""
        if self._home.get(event_id) == home:
            return
        self._unplace(event_id)
        self._home[event_id] = home
        self._by_partition.setdefault(home, set()).add(event_id)

    def _unplace(self, event_id: uuid.UUID) -> None:
        """Take an event out of the partition it is in, if any."""
        old = self._home.pop(event_id, None)
        if old is not None:
            partners = self._by_partition[old]
            partners.discard(event_id)
            if not partners:
                del self._by_partition[old]

    def committed(self, links: int) -> None:
        """Storage has committed the first ``links`` links this Linker made (counted
        from 1, in order): the partitions only they touched may be dropped from now on,
        without waiting ``settle_after`` links. A lower count than before changes
        nothing; a count above the links made is an error (ValueError)."""
        if links > self._links_made:
            raise ValueError(f"{links} links committed, but only {self._links_made} made")
        if links > self._committed:
            self._committed = links
            self._next_eviction = 0  # what was recent may be settled now

    def link(self, record: Event) -> tuple[uuid.UUID, Event, int]:
        """(canonical event id, canonical event merged from all its records, how many).

        With a loader, call ``prepare(record)`` first; with ``lazy``, ``accept`` what
        ``wanted(record)`` names.
        """
        identity = (record.source, record.source_id)
        self._sought.discard(identity)
        event_id = self.links.get(identity)
        left: uuid.UUID | None = None
        if event_id is not None and not self._belongs(record, event_id):
            self._leave(identity, event_id)
            left, event_id = event_id, None
        if event_id is None:
            matched = self.index.match(record)
            if isinstance(matched, uuid.UUID):
                event_id = matched
            elif left is not None:
                # alone in it, the record keeps its event; else the event keeps the
                # others and the record takes a new id (its own may be that event's, or
                # one it left in an earlier crawl, still holding others in the store)
                event_id = left if left not in self.members else _moved_id(record)
            else:
                event_id = event_id_for(*identity)
                if event_id in self.members:
                    # the event this record created holds others it no longer matches
                    event_id = _moved_id(record)
            others = self.members.get(event_id, {})
            if any(source != record.source for source, _ in others):
                self.merged_across_sources += 1
        self._add(event_id, record)
        members = list(self.members[event_id].values())
        merged = merge(members)
        self._links_made += 1
        if self._bounded:
            home = _home(merged.starts_at, members)
            self._place(event_id, home)
            for partition in self._reach_of(record):
                self._touched[partition] = self._links_made
            self._touched[home] = self._links_made
            if len(self.links) > self._resident_limit and self._links_made >= self._next_eviction:
                self._evict()
        return event_id, merged, len(members)

    def take_left(self) -> list[tuple[uuid.UUID, Event, int, Event]]:
        """The events records left since the last call that still hold other records,
        each (canonical id, merged afresh from the records left, how many, one of
        them), to be stored like a link made just before the one that left them (each
        counts as a link, for ``committed``)."""
        left, self._left = self._left, []
        return left

    def _belongs(self, record: Event, event_id: uuid.UUID) -> bool:
        """Whether a record linked to ``event_id`` before still belongs there (module
        docstring): the same event as each of its other records; alone, not moved
        beyond its reach."""
        members = self.members[event_id]
        if len(members) > 1:
            return self.index.joins(record, event_id)
        [old] = members.values()
        return _home(old.starts_at, (old,)) in self._reach_of(record)

    def _leave(self, identity: tuple[str, str], event_id: uuid.UUID) -> None:
        """Take a record out of its event; an event left holding others is merged
        again from them and handed out (``take_left``), one left empty is forgotten."""
        self.moved += 1
        self.index.remove(identity)
        del self.links[identity]
        members = self.members[event_id]
        del members[identity]
        if not members:
            del self.members[event_id]
            self._unplace(event_id)
            return
        rest = list(members.values())
        merged = merge(rest)
        self._links_made += 1
        if self._bounded:
            home = _home(merged.starts_at, rest)
            self._place(event_id, home)
            self._touched[home] = self._links_made
        self._left.append((event_id, merged, len(rest), rest[0]))

    def _evict(self) -> None:
        """Drop settled partitions, least recently touched first, to 80% of the limit."""
        # Touched by a committed link, or by none of the last settle_after; a partition
        # loaded after link n is touched as by link n (``accept``), so a strict "<"
        # keeps one loaded for the records waiting on it.
        settled = max(self._links_made - self._settle_after, self._committed)
        candidates = sorted(
            (self._touched.get(partition, -1), partition)
            for partition in self._by_partition
            if self._touched.get(partition, -1) < settled
        )
        target = self._resident_limit * 4 // 5
        for _, partition in candidates:
            if len(self.links) <= target:
                break
            self._drop(partition)
        if len(self.links) > target:
            # Everything held is recent: look again after a while, not on every link.
            self._next_eviction = self._links_made + self._settle_after // 10

    def _drop(self, partition: Partition) -> None:
        for event_id in self._by_partition.pop(partition, set()):
            for identity in self.members.pop(event_id, {}):
                self.index.remove(identity)
                self.links.pop(identity, None)
            self._home.pop(event_id, None)
        self._loaded.discard(partition)
        self._dropped.add(partition)
        self._touched.pop(partition, None)
        self.evicted += 1


def _moved_id(record: Event) -> uuid.UUID:
    """The id of a new event for a record that left an event holding others (its own id,
    ``event_id_for``, may be that event's or one still holding others in the store):
    derived from the record and its new start."""
    start = "tba" if record.starts_at is None else record.starts_at.isoformat()
    return event_id_for(record.source, f"{record.source_id}@{start}")


def _load_of(run: Sequence[Partition]) -> Load:
    """The load of adjacent partitions of one kind."""
    kind, first, last = run[0][0], run[0][1], run[-1][1]
    if kind == "h":
        return Load(_EPOCH + first * _HOUR, _EPOCH + (last + 1) * _HOUR)
    if kind == "d":
        return Load(_EPOCH + first * _DAY, _EPOCH + (last + 1) * _DAY, date_only=True)
    return Load(None, None)
