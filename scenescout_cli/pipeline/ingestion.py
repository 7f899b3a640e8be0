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

The work itself — hashing, normalising, de-duplicating (``Linker``) — is done by an
``IngestEngine``: synchronous, free of I/O, one page at a time. During a crawl it runs
in a worker process of its own (pipeline/ingest_worker.py) so the Trio thread keeps
fetching, enriching and storing meanwhile; the ``ingest`` stage (pipeline/ingest_stage.py)
hands it pages and answers its requests for stored events (``NeedRows``) from the
database. This module and what it imports stay free of Trio and of I/O: the engine's
process imports them and nothing else of the pipeline.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from .. import jsonio
from ..enrich.sanitize import sanitize
from ..enrich.timezones import resolve_zone
from ..enrich.validate import validate
from ..errors import RecordRejected
from ..model import Event, Reject, Venue, evolve_event
from ..sources.base import SourceAdapter
from .linking import Linker, Load
from .messages import Item, Linked, Unchanged

#: Bumped when normalisation changes, so that every record is normalised afresh once.
NORMALISATION_VERSION = "1"
#: Provider records remembered as "seen in this run" (at least half of them). Repeats
#: come from the overlapping parts of one split query, fetched one after another, so
#: they are never far apart: in a 1M-event sandbox crawl (the first 400k records) the
#: farthest repeat came 5,884 records after its first copy, 99.9% within 5,630. The
#: bound keeps a city of millions of events flat in memory; a repeat it has forgotten
#: costs only work (normalised and stored again, which changes nothing).
SEEN_LIMIT = 20_000


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


def canonical_json(record: dict[str, Any]) -> str:
    """A provider record as JSON text with its keys sorted: what ``content_hash``
    hashes, and fit to store (the raw payload's column is jsonb). A packed page
    carries its records' already (``jsonio.PackedRecords.with_texts``)."""
    return jsonio.dumps(record, sort_keys=True)


_HASH_PREFIX = "[" + jsonio.dumps(NORMALISATION_VERSION) + ","


def content_hash(record: dict[str, Any], *, text: str | None = None) -> str:
    """A stable hash of a provider record (key order and whitespace do not matter).

    ``text``: the record's ``canonical_json``, when the caller has it already.
    """
    if text is None:
        text = canonical_json(record)
    # the hash of [NORMALISATION_VERSION, record] as compact JSON, as it always was
    body = _HASH_PREFIX + text + "]"
    return hashlib.blake2b(body.encode(), digest_size=16).hexdigest()


def normalise_record(
    adapter: SourceAdapter,
    record: dict[str, Any],
    fetched_at: dt.datetime,
    *,
    content_hash: str | None = None,
    keep_raw: bool = True,
) -> Event | Venue | Reject:
    """One raw record → a clean Event or Venue, or Reject with the reason. Pure.

    Events are normalised by their adapter, given a zone (the venue's, else the
    coordinates'), sanitised, then validated; they carry ``content_hash``, and their
    raw payload unless ``keep_raw`` is False (it travels apart).
    """
    try:
        item = adapter.normalise(record, fetched_at)
        if isinstance(item, Event):
            item = sanitize(resolve_zone(item))
            validate(item, now=fetched_at)
    except RecordRejected as exc:
        return Reject(adapter.name, safe_record_id(adapter, record), exc.reason, exc.detail, record)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        # Untrusted input in a shape the normaliser did not foresee: a reject, not a crash.
        return Reject(
            adapter.name,
            safe_record_id(adapter, record),
            "malformed_record",
            f"{type(exc).__name__}: {exc}"[:200],
            record,
        )
    if isinstance(item, Event):
        if not keep_raw:
            return evolve_event(item, fetched_at=fetched_at, content_hash=content_hash, raw={})
        return evolve_event(item, fetched_at=fetched_at, content_hash=content_hash)
    return attrs.evolve(item, fetched_at=fetched_at)


def safe_record_id(adapter: SourceAdapter, record: dict[str, Any]) -> str | None:
    """The record's provider id, or None when the record has none it can give."""
    try:
        return adapter.record_id(record)
    except (KeyError, TypeError, AttributeError):
        return None


@attrs.frozen
class PageJob:
    """One page's records for the engine, with what the store knows of them."""

    source: str
    #: a list, or a page packed by discovery (unpacked once, by the engine)
    records: Sequence[dict[str, Any]]
    fetched_at: dt.datetime
    #: source id → content hash stored by earlier crawls, for this page's records that
    #: have one (None on a first crawl)
    known: Mapping[str, str] | None = None


@attrs.frozen
class NeedRows:
    """The engine needs stored canonical events loaded before it can link on; answer
    with ``resume`` and each load's rows, in order."""

    loads: list[Load]


@attrs.frozen
class PageResult:
    """What one page became, in record order, and the figures it moved."""

    items: list[Item]
    #: records dropped as repeats within this run
    repeats: int
    #: records whose content hash equals the stored one
    unchanged: int
    #: the engine's running totals
    merged_across_sources: int
    comparisons: int
    #: stored records that left the event they belonged to (``Linker.moved``)
    moved: int
    #: seconds of work (in the engine's process)
    busy_s: float


class IngestEngine:
    """The per-record work of ingestion, synchronous and free of I/O.

    ``start(jobs)`` normalises each page's records and links its events, page after
    page; when the Linker needs stored canonical events first it returns ``NeedRows``
    and the caller answers with ``resume(loaded)`` (the rows of each load, from
    ``Store.known_records_between``) until the list of the pages' ``PageResult``\\ s
    comes back. The engine runs on the Trio thread (``LocalEngine``) or in a process of
    its own (pipeline/ingest_worker.py) — the same object either way; several pages per
    call spare a worker the round trips between them.
    """

    def __init__(
        self,
        adapters: Mapping[str, SourceAdapter],
        linker: Linker,
        *,
        raw_as_json: bool = False,
    ) -> None:
        """``raw_as_json``: linked records leave without their raw payload, which
        travels as JSON text in ``Linked.raw_json`` (cheaper across processes)."""
        self.adapters = adapters
        self.linker = linker
        self.raw_as_json = raw_as_json
        self.seen = RecentKeys(SEEN_LIMIT)
        self._page: _PageState | None = None
        self._queue: list[PageJob] = []
        self._results: list[PageResult] = []

    def start(self, jobs: Sequence[PageJob], *, committed: int = 0) -> list[PageResult] | NeedRows:
        """Begin ``jobs``; see the class docstring. ``committed``: how many of the
        engine's ``Linked`` items storage has committed so far (``Linker.committed``).
        ValueError while a call is unfinished."""
        if self._page is not None or self._queue:
            raise ValueError("the engine is still linking the previous page")
        self.linker.committed(committed)
        self._queue = list(reversed(jobs))
        self._results = []
        return self._advance(None)

    def resume(self, loaded: Sequence[tuple[Load, list[Any]]]) -> list[PageResult] | NeedRows:
        """Go on after a ``NeedRows``: ``loaded`` holds each load's rows."""
        if self._page is None:
            raise ValueError("no page is waiting for rows")
        began = time.perf_counter()
        for load, rows in loaded:
            self.linker.accept(load, rows)
        self._page.busy_s += time.perf_counter() - began
        return self._advance(self._link_from_here())

    def _advance(self, result: PageResult | NeedRows | None) -> list[PageResult] | NeedRows:
        while True:
            if isinstance(result, NeedRows):
                return result
            if result is not None:
                self._results.append(result)
            if not self._queue:
                done, self._results = self._results, []
                return done
            result = self._start_page(self._queue.pop())

    def _start_page(self, job: PageJob) -> PageResult | NeedRows:
        began = time.perf_counter()
        adapter = self.adapters[job.source]
        state = _PageState(known=job.known or {})
        records = job.records
        pairs = (
            records.with_texts()
            if isinstance(records, jsonio.PackedRecords)
            else ((record, None) for record in records)
        )
        for record, text in pairs:
            state.slots.append(self._normalise(adapter, record, text, job, state))
        self._page = state
        state.busy_s += time.perf_counter() - began
        return self._link_from_here()

    def _normalise(
        self,
        adapter: SourceAdapter,
        record: dict[str, Any],
        packed_text: bytes | None,
        job: PageJob,
        state: _PageState,
    ) -> Item | Event | None:
        """``packed_text``: the record's ``canonical_json`` as packed, or None."""
        source_id = safe_record_id(adapter, record)
        seen = self.seen
        if source_id is not None and (adapter.name, source_id) in seen:
            state.repeats += 1  # overlapping queries: checked before any work
            return None
        text = packed_text.decode() if packed_text is not None else canonical_json(record)
        digest = content_hash(record, text=text)
        if source_id is not None and job.known and job.known.get(source_id) == digest:
            seen.add((adapter.name, source_id))
            state.unchanged += 1
            return Unchanged(adapter.name, source_id)
        item = normalise_record(
            adapter, record, job.fetched_at, content_hash=digest, keep_raw=not self.raw_as_json
        )
        if isinstance(item, Event | Venue):
            key = (item.source, item.source_id)
            if key in seen:
                state.repeats += 1
                return None
            seen.add(key)
        if isinstance(item, Event) and self.raw_as_json:
            state.raw[len(state.slots)] = text
        return item

    def _link_from_here(self) -> PageResult | NeedRows:
        """Link the page's events in order, from where it stopped for rows."""
        state = self._page
        assert state is not None
        began = time.perf_counter()
        linker = self.linker
        slots = state.slots
        known = state.known
        while state.position < len(slots):
            item = slots[state.position]
            if isinstance(item, Event):
                if linker.wanted(item, stored=item.source_id in known):
                    state.busy_s += time.perf_counter() - began
                    return NeedRows(self._wanted_from_here())
                event_id, merged, sources = linker.link(item)
                left = linker.take_left()
                if left:  # events the record left, each merged again from the others
                    state.before[state.position] = [
                        Linked(one, left_id, left_merged, count, event_only=True)
                        for left_id, left_merged, count, one in left
                    ]
                slots[state.position] = Linked(
                    item, event_id, merged, sources, state.raw.pop(state.position, None)
                )
            state.position += 1
        self._page = None
        state.busy_s += time.perf_counter() - began
        return PageResult(
            _in_order(slots, state.before),
            state.repeats,
            state.unchanged,
            linker.merged_across_sources,
            linker.index.comparisons,
            linker.moved,
            state.busy_s,
        )

    def _wanted_from_here(self) -> list[Load]:
        """Every load the rest of the page needs, adjacent ranges merged: one round
        trip and a query or two for most pages."""
        assert self._page is not None
        wanted: set[Load] = set()
        known = self._page.known
        for item in self._page.slots[self._page.position :]:
            if isinstance(item, Event):
                wanted.update(self.linker.wanted(item, stored=item.source_id in known))
        return merge_loads(wanted)


def _in_order(slots: list[Item | Event | None], before: dict[int, list[Linked]]) -> list[Item]:
    """A page's items in record order, each record's left events just before it."""
    if not before:
        return [item for item in slots if item is not None]  # type: ignore[misc]
    items: list[Item] = []
    for position, item in enumerate(slots):
        items.extend(before.get(position, ()))
        if item is not None:
            items.append(item)  # type: ignore[arg-type]
    return items


def merge_loads(loads: Iterable[Load]) -> list[Load]:
    """``loads`` with overlapping or adjacent ranges of one kind joined, and the loads
    by identity made one. Pure."""
    loads = list(loads)
    identities = frozenset().union(*(load.identities for load in loads))
    loads = [load for load in loads if not load.identities]
    merged: list[Load] = []
    dated = sorted(
        (load for load in loads if load.start is not None and load.end is not None),
        key=lambda load: (load.date_only, load.start),
    )
    for load in dated:
        last = merged[-1] if merged else None
        if (
            last is not None
            and last.date_only == load.date_only
            and last.end is not None
            and load.start is not None
            and load.start <= last.end
        ):
            merged[-1] = attrs.evolve(last, end=max(last.end, load.end))  # type: ignore[type-var]
        else:
            merged.append(load)
    if any(load.start is None or load.end is None for load in loads):
        merged.append(Load(None, None))
    if identities:
        merged.append(Load(None, None, identities=identities))
    return merged


@attrs.define
class _PageState:
    slots: list[Item | Event | None] = attrs.field(factory=list)
    #: the page's stored records: source id → content hash (``PageJob.known``)
    known: Mapping[str, str] = attrs.field(factory=dict)
    #: slot → the record's raw payload as JSON (``raw_as_json``)
    raw: dict[int, str] = attrs.field(factory=dict)
    #: slot → the events its record left, merged again, to go out just before it
    before: dict[int, list[Linked]] = attrs.field(factory=dict)
    position: int = 0
    repeats: int = 0
    unchanged: int = 0
    busy_s: float = 0.0
