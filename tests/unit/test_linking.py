"""The Linker holds a few days at a time and links exactly as if it held everything."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from types import ModuleType
from zoneinfo import ZoneInfo

import attrs
import pytest
import trio

from scenescout_cli.enrich import sanitize
from scenescout_cli.model import Event
from scenescout_cli.pipeline.linking import Linker, day_of

from .bench_scripts import bench_script


def dedup_scale() -> ModuleType:
    """bench/dedup_scale.py (its synthetic provider records)."""
    return bench_script("dedup_scale")


def crawl_order(count: int, *, days: int, seed: int = 3) -> list[Event]:
    """Provider records over ``days`` days (one to three providers per real event), in
    the order a crawl meets them: each provider's stream in time order, the streams
    interleaved in uneven chunks. Some providers list some events by date only."""
    rng = random.Random(seed)
    spread = []
    for record in dedup_scale().records(count):
        number = int(record.source_id[2:])  # the real-world event's number
        shift = dt.timedelta(days=(number * 7919) % days)
        assert record.starts_at is not None
        start = record.starts_at + shift
        if number % 7 == 0 and record.source != "ticketmaster":
            # a provider that lists only the date: local midnight, all day
            local = start.astimezone(ZoneInfo(record.timezone or "UTC"))
            midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
            record = attrs.evolve(record, all_day=True)
            start = midnight.astimezone(dt.UTC)
        spread.append(sanitize(attrs.evolve(record, starts_at=start)))
    streams = {
        source: sorted((r for r in spread if r.source == source), key=lambda r: r.starts_at)
        for source in {r.source for r in spread}
    }
    ordered: list[Event] = []
    while any(streams.values()):
        source = rng.choice([s for s, rest in streams.items() if rest])
        take = rng.randint(1, 300)
        ordered += streams[source][:take]
        del streams[source][:take]
    return ordered


@attrs.define
class FakeStore:
    """What storage has committed: each record's canonical id and each event's start,
    with commits ``lag`` links behind (items in flight between ingestion and storage)."""

    lag: int
    records: dict[tuple[str, str], tuple[uuid.UUID, Event]] = attrs.field(factory=dict)
    starts: dict[uuid.UUID, dt.datetime | None] = attrs.field(factory=dict)
    pending: list[tuple[uuid.UUID, Event, dt.datetime | None]] = attrs.field(factory=list)
    loads: list[tuple[dt.datetime | None, dt.datetime | None]] = attrs.field(factory=list)

    def write(self, event_id: uuid.UUID, record: Event, merged: Event) -> None:
        self.pending.append((event_id, record, merged.starts_at))
        while len(self.pending) > self.lag:
            committed_id, committed, start = self.pending.pop(0)
            self.records[(committed.source, committed.source_id)] = (committed_id, committed)
            self.starts[committed_id] = start

    async def load(
        self, start: dt.datetime | None, end: dt.datetime | None
    ) -> list[tuple[uuid.UUID, dt.datetime | None, Event]]:
        await trio.lowlevel.checkpoint()
        self.loads.append((start, end))
        out = []
        for event_id, record in self.records.values():
            when = self.starts[event_id]
            inside = when is None if start is None else when is not None and start <= when < end  # type: ignore[operator]
            if inside:
                out.append((event_id, when, record))
        return out


@pytest.mark.parametrize("lag", [0, 400])
async def test_a_bounded_linker_links_like_one_that_holds_everything(lag: int) -> None:
    """Over 60 days of interleaved provider streams, a Linker holding ~1,500 records at a
    time gives every record the same canonical event as an unbounded one."""
    records = crawl_order(6_000, days=60)
    unbounded = Linker()
    expected = {(r.source, r.source_id): unbounded.link(r)[0] for r in records}
    assert len(set(expected.values())) < len(records) * 0.8  # many records were merged

    store = FakeStore(lag=lag)
    bounded = Linker(loader=store.load, resident_limit=1_500, settle_after=1_000)
    largest = 0
    for record in records:
        await bounded.prepare(record)
        event_id, merged, _ = bounded.link(record)
        store.write(event_id, record, merged)
        largest = max(largest, bounded.resident)
        assert event_id == expected[(record.source, record.source_id)], record
    assert bounded.evicted_days > 10
    assert bounded.loads > 10
    # Days near where any provider's stream is (within settle_after links) must stay:
    # the bound is the limit plus those, far below holding everything.
    assert largest < len(records) * 0.6
    assert unbounded.resident == len(records)


async def test_recent_days_are_never_dropped() -> None:
    """Days a record came near within ``settle_after`` links stay, even over the limit:
    they may still have records in flight to storage."""
    records = crawl_order(1_200, days=2)
    store = FakeStore(lag=0)
    linker = Linker(loader=store.load, resident_limit=100, settle_after=10_000)
    for record in records:
        await linker.prepare(record)
        event_id, merged, _ = linker.link(record)
        store.write(event_id, record, merged)
    assert linker.evicted_days == 0
    assert linker.resident == len(records)


async def test_stored_events_are_loaded_once_per_day_and_undated_once() -> None:
    """prepare() asks the store for the days a record may match, only when missing."""
    store = FakeStore(lag=0)
    start = dt.datetime(2026, 7, 10, 20, tzinfo=dt.UTC)
    known = Event(
        "ticketmaster",
        "k1",
        "Harbor Lights",
        start,
        "America/New_York",
        venue_name="Webster Hall",
        lat=40.7319,
        lon=-73.9891,
    )
    store.records[("ticketmaster", "k1")] = (uuid.UUID(int=1), known)
    store.starts[uuid.UUID(int=1)] = start
    linker = Linker(loader=store.load)
    twin = attrs.evolve(known, source="eventbrite", source_id="e1")
    await linker.prepare(twin)
    await linker.prepare(attrs.evolve(twin, starts_at=start + dt.timedelta(days=1)))
    assert linker.link(twin)[0] == uuid.UUID(int=1)
    day = day_of(start)
    assert day is not None
    first, _ = store.loads[0]
    assert first is not None
    assert day_of(first) == day - 1
    assert len(store.loads) == 2  # the second record needed one more day only
    undated = attrs.evolve(twin, source_id="e2", starts_at=None, date_tba=True)
    await linker.prepare(undated)
    await linker.prepare(undated)
    assert store.loads[2:] == [(None, None)]
