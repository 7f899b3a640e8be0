"""The Linker holds a few hours at a time and links exactly as if it held everything."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Sequence
from decimal import Decimal
from types import ModuleType
from zoneinfo import ZoneInfo

import attrs
import pytest
import trio

from scenescout_cli.enrich.sanitize import sanitize
from scenescout_cli.model import Event
from scenescout_cli.pipeline.linking import Linker, Load, _reach, day_of, hour_of

from .bench_scripts import bench_script

Row = tuple[uuid.UUID, dt.datetime | None, Event]
Linked = tuple[uuid.UUID, Event, int]


def dedup_scale() -> ModuleType:
    """bench/dedup_scale.py (its synthetic provider records)."""
    return bench_script("dedup_scale")


def local_midnight(instant: dt.datetime, zone: str) -> dt.datetime:
    """The UTC instant of the local midnight that begins ``instant``'s date in ``zone``."""
    local = instant.astimezone(ZoneInfo(zone))
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(dt.UTC)


def interleave(records: list[Event], rng: random.Random) -> list[Event]:
    """Each provider's stream in time order, the streams interleaved in uneven chunks
    (the order a crawl meets them)."""
    streams = {
        source: sorted(
            (r for r in records if r.source == source),
            key=lambda r: (r.starts_at is None, r.starts_at or dt.datetime.min),
        )
        for source in sorted({r.source for r in records})
    }
    ordered: list[Event] = []
    while any(streams.values()):
        source = rng.choice([s for s, rest in streams.items() if rest])
        take = rng.randint(1, 300)
        ordered += streams[source][:take]
        del streams[source][:take]
    return ordered


def crawl_order(count: int, *, days: int, seed: int = 3) -> list[Event]:
    """Provider records over ``days`` days (one to three providers per real event), in
    the order a crawl meets them. Some providers list some events by date only."""
    spread = []
    for record in dedup_scale().records(count):
        number = int(record.source_id[2:])  # the real-world event's number
        shift = dt.timedelta(days=(number * 7919) % days)
        assert record.starts_at is not None
        start = record.starts_at + shift
        if number % 7 == 0 and record.source != "ticketmaster":
            # a provider that lists only the date: local midnight, all day
            record = attrs.evolve(record, all_day=True)
            start = local_midnight(start, record.timezone or "UTC")
        spread.append(sanitize(attrs.evolve(record, starts_at=start)))
    return interleave(spread, random.Random(seed))


def dense_order(*, hours: int, seed: int = 11) -> list[Event]:
    """About 90 provider records an hour over ``hours`` hours, in crawl order, with
    what makes hour partitions hard: listings of one event minutes apart across an hour
    boundary; date-only listings (all-day or local midnight, in New York, Tokyo or no
    zone at all) of events that others list with a time, on local dates that straddle
    UTC midnight; undated (TBA) listings; and records seen again later (re-crawled
    with a new status), long after their hour was dropped."""
    rng = random.Random(seed)
    first = dt.datetime(2026, 7, 1, tzinfo=dt.UTC)
    out = []
    for record in dedup_scale().records(hours * 90):
        number = int(record.source_id[2:])
        zone = "Asia/Tokyo" if number % 3 == 0 else "America/New_York"
        start = first + dt.timedelta(minutes=(number * 7919) % (hours * 60))
        assert record.starts_at is not None
        start += record.starts_at - record.starts_at.replace(minute=0)  # +0 or +10 min
        copy = record.source != "ticketmaster"
        changes: dict[str, object] = {"timezone": zone, "starts_at": start}
        if copy and number % 5 == 0:
            changes["starts_at"] = start - dt.timedelta(minutes=20)  # the hour before
        if copy and number % 15 == 0:
            changes["starts_at"] = local_midnight(start, zone)
            changes["all_day"] = number % 30 == 0  # else only local midnight
        elif copy and number % 23 == 0:
            changes["all_day"] = True  # all day, at the listed time
            changes["timezone"] = None if number % 46 == 0 else zone
        if number % 37 == 0:
            changes["starts_at"] = None
            changes["date_tba"] = True
        out.append(sanitize(attrs.evolve(record, **changes)))
    ordered = interleave(out, rng)
    # Re-crawled records: the same source and id, with a new status, much later.
    again = [r for r in ordered[: len(ordered) // 2] if rng.random() < 0.03]
    for record in again:
        at = rng.randrange(len(ordered) * 3 // 4, len(ordered))
        ordered.insert(at, attrs.evolve(record, status="cancelled"))
    return ordered


def harbor_lights(source: str, start: dt.datetime, zone: str | None, **changes: object) -> Event:
    """One listing of the same show at Webster Hall."""
    return Event(
        source,
        f"{source[:2]}1",
        "Harbor Lights",
        start,
        zone,
        venue_name="Webster Hall",
        lat=40.7319,
        lon=-73.9891,
        **changes,  # type: ignore[arg-type]
    )


def utc(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """An instant of July 2026."""
    return dt.datetime(2026, 7, day, hour, minute, tzinfo=dt.UTC)


@attrs.define
class FakeStore:
    """What storage has committed: each record's canonical id and each event's start
    and zone, with commits ``lag`` links behind (items in flight between ingestion
    and storage). ``date_only`` loads keep what the SQL keeps (all-day, or local
    midnight in the event's zone) unless ``superset``: then they return everything."""

    lag: int
    superset: bool = False
    records: dict[tuple[str, str], tuple[uuid.UUID, Event]] = attrs.field(factory=dict)
    starts: dict[uuid.UUID, tuple[dt.datetime | None, str | None]] = attrs.field(factory=dict)
    pending: list[tuple[uuid.UUID, Event, Event]] = attrs.field(factory=list)
    loads: list[Load] = attrs.field(factory=list)
    rows: int = 0
    written: int = 0

    @property
    def committed(self) -> int:
        """Links committed so far (what storage tells the Linker)."""
        return self.written - len(self.pending)

    def write(self, event_id: uuid.UUID, record: Event, merged: Event) -> None:
        self.written += 1
        self.pending.append((event_id, record, merged))
        while len(self.pending) > self.lag:
            committed_id, committed, merged_then = self.pending.pop(0)
            self.records[(committed.source, committed.source_id)] = (committed_id, committed)
            self.starts[committed_id] = (merged_then.starts_at, merged_then.timezone)

    def rows_of(self, load: Load) -> list[Row]:
        if load.identities:
            holding = {self.records[i][0] for i in load.identities if i in self.records}
            out = [(i, self.starts[i][0], r) for i, r in self.records.values() if i in holding]
            self.loads.append(load)
            self.rows += len(out)
            return out
        start, end = load.start, load.end
        all_day = {event_id for event_id, record in self.records.values() if record.all_day}
        chosen = {}
        for event_id, (when, zone) in self.starts.items():
            if start is None or end is None:
                inside = when is None
            else:
                inside = when is not None and start <= when < end
            if inside and load.date_only and not self.superset:
                assert when is not None
                midnight = zone is not None and local_midnight(when, zone) == when
                inside = midnight or event_id in all_day
            if inside:
                chosen[event_id] = when
        out = [(i, chosen[i], r) for i, r in self.records.values() if i in chosen]
        self.loads.append(load)
        self.rows += len(out)
        return out

    async def load(
        self,
        start: dt.datetime | None,
        end: dt.datetime | None,
        *,
        date_only: bool = False,
        identities: Sequence[tuple[str, str]] = (),
    ) -> list[Row]:
        await trio.lowlevel.checkpoint()
        return self.rows_of(Load(start, end, date_only, frozenset(identities)))


async def link_with_prepare(linker: Linker, store: FakeStore, records: list[Event]) -> list[Linked]:
    """Link each record after ``prepare`` (the loader path), committing as it goes."""
    out = []
    for record in records:
        await linker.prepare(record)
        linked = linker.link(record)
        store.write(linked[0], record, linked[1])
        out.append(linked)
    return out


def link_by_pages(linker: Linker, store: FakeStore, records: list[Event]) -> list[Linked]:
    """Link page by page as the ingestion engine does with a ``lazy`` Linker: before a
    record that wants loads, fetch what the rest of its page wants, in one round trip."""
    out = []
    for first in range(0, len(records), 50):
        page = records[first : first + 50]
        for number, record in enumerate(page):
            if linker.wanted(record):
                wanted = dict.fromkeys(load for r in page[number:] for load in linker.wanted(r))
                for load in wanted:
                    linker.accept(load, store.rows_of(load))
            linked = linker.link(record)
            store.write(linked[0], record, linked[1])
            out.append(linked)
    return out


@pytest.mark.parametrize("lag", [0, 400])
async def test_a_bounded_linker_links_like_one_that_holds_everything(lag: int) -> None:
    """Over 60 days of interleaved provider streams, a Linker holding ~1,500 records at a
    time gives every record the same canonical event as an unbounded one."""
    records = crawl_order(6_000, days=60)
    unbounded = Linker()
    expected = [unbounded.link(r) for r in records]
    assert len({event_id for event_id, _, _ in expected}) < len(records) * 0.8

    store = FakeStore(lag=lag)
    bounded = Linker(loader=store.load, resident_limit=1_500, settle_after=1_000)
    largest = 0
    for record, want in zip(records, expected, strict=True):
        await bounded.prepare(record)
        linked = bounded.link(record)
        store.write(linked[0], record, linked[1])
        largest = max(largest, bounded.resident)
        assert linked == want, record
    assert bounded.evicted > 10
    assert bounded.loads > 10
    # Partitions near where any provider's stream is (within settle_after links) must
    # stay: the bound is the limit plus those, far below holding everything.
    assert largest < len(records) * 0.6
    assert unbounded.resident == len(records)


@pytest.mark.parametrize(
    ("lag", "superset", "by_pages", "fresh"),
    [
        (0, False, False, False),
        (300, False, False, False),
        (300, True, False, False),
        (300, False, True, False),
        (300, False, False, True),
        (300, False, True, True),
    ],
)
async def test_dense_hours_link_like_everything_held(
    lag: int, superset: bool, by_pages: bool, fresh: bool
) -> None:
    """Dense hours — boundary-straddling listings, date-only and undated ones, records
    seen again after their hour was dropped, commits in flight — link exactly as an
    unbounded Linker does, whether loads go through ``prepare`` or ``wanted``/``accept``
    page by page, and whether date-only loads are exact or return whole days. A
    ``fresh`` Linker (nothing stored before the crawl) loads only what it dropped."""
    records = dense_order(hours=48)
    unbounded = Linker()
    expected = [unbounded.link(r) for r in records]
    merged = sum(1 for _, _, count in expected if count > 1)
    assert merged > len(records) * 0.3  # many records joined others
    dated = [r for r in records if r.starts_at is not None]
    assert len(dated) < len(records) - 50  # undated ones
    assert len({(r.source, r.source_id) for r in records}) < len(records) - 50  # repeats

    store = FakeStore(lag=lag, superset=superset)
    settle = 400
    if by_pages:
        bounded = Linker(lazy=True, fresh=fresh, resident_limit=600, settle_after=settle)
        got = link_by_pages(bounded, store, records)
    else:
        bounded = Linker(loader=store.load, fresh=fresh, resident_limit=600, settle_after=settle)
        got = await link_with_prepare(bounded, store, records)
    for record, linked, want in zip(records, got, expected, strict=True):
        assert linked == want, record
    assert bounded.evicted > 40
    assert store.rows > 0  # events dropped then needed again came back from the store
    if fresh:
        # only partitions it had dropped were asked for (a load spans one or more)
        assert 0 < len(store.loads) <= bounded.evicted


async def test_a_crawl_moving_forward_holds_a_few_hours_and_asks_once_per_hour() -> None:
    """Records in time order (date-only listings at their local midnight, as providers
    give them and sort them) keep a few hours' records in memory, and cost about one
    query per new hour and one per new day's date-only events — never an hour twice."""
    records = sorted(
        (r for r in dense_order(hours=72) if r.starts_at is not None and not r.all_day),
        key=lambda r: r.starts_at or dt.datetime.min,
    )
    store = FakeStore(lag=100)
    linker = Linker(loader=store.load, resident_limit=500, settle_after=300)
    largest = 0
    for record in records:
        await linker.prepare(record)
        linked = linker.link(record)
        store.write(linked[0], record, linked[1])
        largest = max(largest, linker.resident)
    hours = [p for load in store.loads if not load.date_only for p in load.partitions()]
    days = [p for load in store.loads if load.date_only for p in load.partitions()]
    # a date-only listing at midnight loads its local day: up to 24 hours past the end
    assert len(hours) == len(set(hours)) <= 72 + 25
    assert len(days) == len(set(days)) <= 3 + 3
    assert len(store.loads) <= 72 + 6  # one per new hour or day at most (11 here)
    assert store.rows == 0  # nothing dropped was needed again
    assert largest <= 600  # about settle_after links' hours: a quarter of a day's records
    assert linker.evicted > 50


async def test_recent_partitions_are_never_dropped() -> None:
    """Partitions a record came near within ``settle_after`` links stay, even over the
    limit: they may still have records in flight to storage."""
    records = crawl_order(1_200, days=2)
    store = FakeStore(lag=0)
    linker = Linker(loader=store.load, resident_limit=100, settle_after=10_000)
    await link_with_prepare(linker, store, records)
    assert linker.evicted == 0
    assert linker.resident == len(records)


@pytest.mark.parametrize("told", ["nothing", "committed", "too_much"])
def test_a_linker_told_what_is_committed_drops_it_at_once(told: str) -> None:
    """Told how many links storage has committed, a Linker drops what only those
    touched without waiting ``settle_after`` links (here longer than the crawl), and
    still links exactly as one holding everything. Told more than is committed, it
    drops events whose commit is in flight and splits them: the count must be true."""
    records = dense_order(hours=48)
    unbounded = Linker()
    expected = [unbounded.link(r) for r in records]

    store = FakeStore(lag=300)
    bounded = Linker(lazy=True, fresh=True, resident_limit=600, settle_after=len(records))
    got = []
    for first in range(0, len(records), 50):  # a page at a time, as the engine works
        if told == "committed":
            bounded.committed(store.committed)
        elif told == "too_much":
            bounded.committed(store.written)  # as if nothing were in flight
        got += link_by_pages(bounded, store, records[first : first + 50])
    agree = [linked == want for linked, want in zip(got, expected, strict=True)]
    if told == "nothing":
        assert bounded.evicted == 0
        assert bounded.resident == len({(r.source, r.source_id) for r in records})
    elif told == "committed":
        assert all(agree)
        assert bounded.evicted > 40
        assert store.rows > 0  # events dropped then needed again came back
    else:
        assert not all(agree)


async def test_a_crawl_moving_forward_holds_what_is_in_flight_when_told_commits() -> None:
    """Records in time order, storage ~300 links behind and ``settle_after`` longer
    than the crawl: told what is committed, a Linker holds about the hours of the
    links in flight, as few as ``settle_after`` of 300 would keep."""
    records = sorted(
        (r for r in dense_order(hours=72) if r.starts_at is not None and not r.all_day),
        key=lambda r: r.starts_at or dt.datetime.min,
    )
    store = FakeStore(lag=300)
    linker = Linker(loader=store.load, resident_limit=500, settle_after=len(records))
    largest = 0
    for record in records:
        linker.committed(store.committed)
        await linker.prepare(record)
        linked = linker.link(record)
        store.write(linked[0], record, linked[1])
        largest = max(largest, linker.resident)
    assert store.rows == 0  # nothing dropped was needed again
    assert linker.evicted > 50
    assert largest <= 600


def test_a_linker_takes_only_counts_of_links_it_made() -> None:
    """A lower count than before changes nothing; more links than made is an error."""
    records = crawl_order(40, days=2)

    def evicted_when_told(*counts: int) -> int:
        linker = Linker(lazy=True, fresh=True, resident_limit=1, settle_after=10_000)
        for record in records[:20]:
            linker.link(record)
        for count in counts:
            linker.committed(count)
        with pytest.raises(ValueError, match="21 links committed, but only 20 made"):
            linker.committed(21)
        for record in records[20:]:
            linker.link(record)
        return linker.evicted

    assert evicted_when_told() == evicted_when_told(5) == 0  # nothing settled here
    assert evicted_when_told(20) > 0  # what only the first 20 links touched
    assert evicted_when_told(20, 5) == evicted_when_told(20)  # an older count: ignored


async def test_stored_events_are_loaded_once_per_hour_and_undated_once() -> None:
    """prepare() asks the store for the hours and days a record may match, only when
    missing, and the undated events once."""
    store = FakeStore(lag=0)
    start = utc(10, 20, 10)
    known = harbor_lights("ticketmaster", start, "America/New_York")
    store.write(uuid.UUID(int=1), known, known)
    linker = Linker(loader=store.load)
    twin = harbor_lights("eventbrite", start, "America/New_York")
    await linker.prepare(twin)  # 20:10 reaches 19:40 to 20:40, and 9 to 11 July
    assert store.loads == [
        Load(utc(10, 19), utc(10, 21)),
        Load(utc(9, 0), utc(12, 0), date_only=True),
    ]
    assert linker.link(twin)[0] == uuid.UUID(int=1)
    later = attrs.evolve(twin, source_id="e2", starts_at=start + dt.timedelta(minutes=40))
    await linker.prepare(later)  # 20:50 reaches 21:20: one more hour
    assert store.loads[2:] == [Load(utc(10, 21), utc(10, 22))]
    undated = attrs.evolve(twin, source_id="e3", starts_at=None, date_tba=True)
    await linker.prepare(undated)
    await linker.prepare(undated)
    assert store.loads[3:] == [Load(None, None)]


@pytest.mark.parametrize(
    ("stored", "listing"),
    [
        pytest.param(  # 22:30 on 10 July in Tokyo; the listing: midnight on 10 July
            harbor_lights("ticketmaster", utc(10, 13, 30), "Asia/Tokyo"),
            harbor_lights("eventbrite", utc(9, 15), "Asia/Tokyo", all_day=True),
            id="timed-the-next-utc-day",
        ),
        pytest.param(  # 10 July in Tokyo and in New York: UTC days 9 and 10
            harbor_lights("ticketmaster", utc(9, 15), "Asia/Tokyo"),
            harbor_lights("eventbrite", utc(10, 4), "America/New_York"),
            id="date-only-the-utc-day-before",
        ),
        pytest.param(  # 23:00 on 11 July in Auckland; all day, no zone: read in Auckland's
            harbor_lights("ticketmaster", utc(11, 11), "Pacific/Auckland"),
            harbor_lights("eventbrite", utc(10, 12, 30), None, all_day=True),
            id="no-zone-22-hours-before",
        ),
        pytest.param(  # 11 July in Tokyo: its midnight, and all day without a zone
            harbor_lights("ticketmaster", utc(10, 15), "Asia/Tokyo"),
            harbor_lights("eventbrite", utc(11, 10), None, all_day=True),
            id="no-zone-date-only-the-utc-day-before",
        ),
    ],
)
async def test_a_date_only_listing_finds_its_local_date_across_utc_days(
    stored: Event, listing: Event
) -> None:
    """A listing by date only finds the stored event of its local date, wherever that
    date falls in UTC."""
    store = FakeStore(lag=0)
    store.write(uuid.UUID(int=1), stored, stored)
    linker = Linker(loader=store.load)
    await linker.prepare(listing)
    assert linker.link(listing)[0] == uuid.UUID(int=1)


async def test_a_date_only_listing_loads_the_hours_of_its_local_date() -> None:
    """A Tokyo listing by date only loads the timed events of its local date — 15:00 to
    15:00 UTC, across UTC midnight — in one query."""
    store = FakeStore(lag=0)
    linker = Linker(loader=store.load)
    await linker.prepare(harbor_lights("eventbrite", utc(9, 15), "Asia/Tokyo", all_day=True))
    assert store.loads == [
        Load(utc(9, 15), utc(10, 15)),
        Load(utc(9, 0), utc(12, 0), date_only=True),
    ]


async def test_a_timed_record_finds_a_listing_of_its_local_date_on_the_utc_day_before() -> None:
    """A show at 22:00 in New York on 10 July (02:00 UTC on the 11th) joins the stored
    date-only listing of 10 July, which starts on the UTC day before its own."""
    store = FakeStore(lag=0)
    listing = harbor_lights("eventbrite", utc(10, 4), "America/New_York")  # midnight
    store.write(uuid.UUID(int=1), listing, listing)
    linker = Linker(loader=store.load)
    show = harbor_lights("ticketmaster", utc(11, 2), "America/New_York")
    await linker.prepare(show)
    assert linker.link(show)[0] == uuid.UUID(int=1)


@pytest.mark.parametrize(
    "zone",
    [
        "America/New_York",
        "America/Havana",  # DST changes at midnight
        "America/Santiago",
        "America/St_Johns",
        "Asia/Beirut",
        "Asia/Kathmandu",
        "Australia/Lord_Howe",  # half-hour DST
        "Antarctica/Troll",  # two-hour DST: 26-hour days
        "Pacific/Kiritimati",  # UTC+14
        "Pacific/Pago_Pago",  # UTC−11
    ],
)
def test_the_reach_covers_every_start_on_the_same_local_date(zone: str) -> None:
    """Through 2026, a date-only listing in ``zone`` reaches the hour of every instant
    of its local date, and a timed record at any of those instants reaches the listing's
    date-only day (the facts the module docstring relies on)."""
    tz = ZoneInfo(zone)
    reach: dict[dt.date, set[tuple[str, int]]] = {}
    listed: tuple[str, int | None] = ("d", 0)
    instant = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    while instant < dt.datetime(2026, 12, 30, tzinfo=dt.UTC):
        date = instant.astimezone(tz).date()
        if date not in reach:  # the date's first instant: its local midnight
            listing = Event("eventbrite", "e", "X", instant, zone, all_day=True)
            reach[date] = set(_reach(listing))
            listed = ("d", day_of(instant))
        assert ("h", hour_of(instant)) in reach[date], (zone, instant)
        timed = Event("ticketmaster", "t", "X", instant, zone)
        assert listed in _reach(timed), (zone, instant)
        instant += dt.timedelta(minutes=15)


# --------------------------------------------------------------------------- records that move

NEW_YORK = "America/New_York"
THREE_WEEKS = dt.timedelta(weeks=3)


def _stored_pair(store: FakeStore, first: str) -> tuple[Event, Event, uuid.UUID]:
    """Harbor Lights listed by Ticketmaster (with a price) and Eventbrite, linked by
    an earlier crawl into one event, created by ``first``'s record."""
    start = utc(10, 20)
    sold = harbor_lights(
        "ticketmaster",
        start,
        NEW_YORK,
        url="https://www.ticketmaster.com/event/ti1",
        price_min=Decimal(45),
        price_max=Decimal(45),
        currency="USD",
    )
    listed = harbor_lights("eventbrite", start, NEW_YORK, url="https://www.eventbrite.com/e/ev1")
    earlier = Linker()
    for record in (sold, listed) if first == "ticketmaster" else (listed, sold):
        event_id, merged, _ = earlier.link(record)
        store.write(event_id, record, merged)
    [event_id] = {event_id for event_id, _ in store.records.values()}
    return sold, listed, event_id


@pytest.mark.parametrize("first", ["ticketmaster", "eventbrite"])
async def test_a_record_moved_beyond_reach_leaves_its_event_to_the_others(first: str) -> None:
    """Postponed by three weeks, a stored record is out of reach of its event: told
    it is stored, the Linker loads that event by its identity, takes it out and hands
    the event out merged again from the listing it keeps (no price, the listing's URL).
    The record takes a new id (its own may be the event's, whichever listing made it)."""
    store = FakeStore(lag=0)
    sold, listed, old = _stored_pair(store, first)
    linker = Linker(loader=store.load)
    moved = attrs.evolve(sold, starts_at=sold.starts_at + THREE_WEEKS, status="rescheduled")
    await linker.prepare(moved, stored=True)
    assert store.loads[-1] == Load(None, None, identities=frozenset({("ticketmaster", "ti1")}))
    event_id, merged, count = linker.link(moved)
    assert event_id not in {old, sold.event_id}
    assert (count, merged.starts_at) == (1, moved.starts_at)
    [(left_id, left_merged, left_count, one)] = linker.take_left()
    assert (left_id, left_count, one.source) == (old, 1, "eventbrite")
    assert (left_merged.url, left_merged.price_min) == (listed.url, None)
    assert left_merged.starts_at == listed.starts_at
    assert linker.take_left() == []
    assert linker.moved == 1


async def test_a_record_moved_to_a_date_listed_elsewhere_joins_that_event() -> None:
    """A record alone in its event, moved to where another provider already lists the
    show, joins that listing's event rather than staying a duplicate in its own (which
    storage then deletes: nothing is handed out for it)."""
    start = utc(10, 20)
    sold = harbor_lights("ticketmaster", start, NEW_YORK)
    elsewhere = harbor_lights("eventbrite", start + THREE_WEEKS, NEW_YORK)
    moved = attrs.evolve(sold, starts_at=start + THREE_WEEKS)

    holding_all = Linker()  # one crawl that meets the record again
    holding_all.link(sold)
    joined = holding_all.link(elsewhere)[0]
    assert holding_all.link(moved)[0] == joined == elsewhere.event_id
    assert holding_all.take_left() == []

    store = FakeStore(lag=0)  # the next crawl, loading from the store
    for record in (sold, elsewhere):
        store.write(record.event_id, record, record)
    loading = Linker(loader=store.load)
    await loading.prepare(moved, stored=True)
    assert loading.link(moved)[0] == elsewhere.event_id
    assert loading.take_left() == []


async def test_a_record_alone_in_its_event_keeps_its_id_when_it_moves() -> None:
    """A moved record that was alone in its event, with no event at its new date,
    keeps that event: the same id, now at the new start, and nothing handed out."""
    store = FakeStore(lag=0)
    joined = harbor_lights("eventbrite", utc(10, 20), NEW_YORK)
    sold = harbor_lights("ticketmaster", utc(10, 20), NEW_YORK)
    store.write(joined.event_id, sold, sold)  # it joined an event whose creator left
    linker = Linker(loader=store.load)
    moved = attrs.evolve(sold, starts_at=sold.starts_at + THREE_WEEKS)
    await linker.prepare(moved, stored=True)
    event_id, merged, count = linker.link(moved)
    assert (event_id, merged.starts_at, count) == (joined.event_id, moved.starts_at, 1)
    assert (linker.take_left(), linker.moved) == ([], 1)


async def test_a_record_that_still_matches_stays_and_nothing_is_handed_out() -> None:
    """A stored record whose change keeps it the same event (a new status, a minute
    later) goes back to its event, found by its reach: no load by identity."""
    store = FakeStore(lag=0)
    sold, _, old = _stored_pair(store, "ticketmaster")
    linker = Linker(loader=store.load)
    changed = attrs.evolve(
        sold, starts_at=sold.starts_at + dt.timedelta(minutes=1), status="cancelled"
    )
    await linker.prepare(changed, stored=True)
    assert not any(load.identities for load in store.loads)
    assert linker.link(changed)[0] == old
    assert (linker.take_left(), linker.moved) == ([], 0)


async def test_a_load_by_identity_that_finds_nothing_is_not_asked_again() -> None:
    """A record said to be stored that the store does not hold (deleted meanwhile) is
    looked for once, then linked afresh."""
    store = FakeStore(lag=0)
    linker = Linker(loader=store.load)
    record = harbor_lights("ticketmaster", utc(10, 20), NEW_YORK)
    await linker.prepare(record, stored=True)
    assert [load for load in store.loads if load.identities] == [
        Load(None, None, identities=frozenset({("ticketmaster", "ti1")}))
    ]
    assert linker.wanted(record, stored=True) == []
    assert linker.link(record)[0] == record.event_id


def test_an_event_handed_out_counts_as_a_link() -> None:
    """Storage counts every ``Linked`` item it commits, the events handed out too: the
    Linker counts them as links, so a true count is never more than it made."""
    store = FakeStore(lag=0)
    sold, listed, _ = _stored_pair(store, "ticketmaster")
    linker = Linker(known=[(store.records[(r.source, r.source_id)][0], r) for r in (sold, listed)])
    linker.link(attrs.evolve(sold, starts_at=sold.starts_at + THREE_WEEKS))
    assert len(linker.take_left()) == 1
    linker.committed(2)  # the event handed out, then the record
    with pytest.raises(ValueError, match="3 links committed, but only 2 made"):
        linker.committed(3)
