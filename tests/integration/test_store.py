"""The store against real PostgreSQL: migrations, idempotent batched upserts, locks."""

from __future__ import annotations

import datetime as dt
import functools
import subprocess
import uuid
from decimal import Decimal
from pathlib import Path

import attrs
import pytest

from scenescout_cli.config import load_settings
from scenescout_cli.enrich.sanitize import sanitize
from scenescout_cli.model import Event, Reject
from scenescout_cli.pipeline.linking import Linker
from scenescout_cli.store import db
from scenescout_cli.store.db import Batch, Link, WriteResult, open_store

from .processes import run_scenescout, scenescout_executable

pytestmark = pytest.mark.integration

T0 = dt.datetime(2026, 12, 5, 1, 0, tzinfo=dt.UTC)


def _event(source_id: str, title: str = "Night Market", **extra: object) -> Event:
    return Event(
        source="ticketmaster",
        source_id=source_id,
        title=title,
        starts_at=T0,
        timezone="America/New_York",
        venue_name="Brooklyn Steel",
        lat=40.7193,
        lon=-73.9387,
        raw={"id": source_id, "name": title},
        fetched_at=T0,
        **extra,  # type: ignore[arg-type]
    )


async def test_batches_upsert_idempotently(database_url: str) -> None:
    """Writing the same events twice keeps one row each and moves only last_seen_at."""
    settings = load_settings(
        {"SCENESCOUT_DATABASE_URL": database_url, "SCENESCOUT_DATA_DIR": "/tmp/unused"}
    )
    async with open_store(settings) as store:
        first = await store.write_batch(
            None,
            "nyc",
            Batch(
                events=[Link.alone(_event("a")), Link.alone(_event("b")), Link.alone(_event("a"))]
            ),
        )
        assert (first.inserted, first.updated) == (2, 0)
        before = {
            r[0]: r[1:]
            for r in await store.fetch_all(
                "SELECT title, first_seen_at, last_seen_at, updated_at FROM events"
            )
        }
        second = await store.write_batch(
            None, "nyc", Batch(events=[Link.alone(_event("a")), Link.alone(_event("b"))])
        )
        assert (second.inserted, second.updated) == (0, 2)
        rows = await store.fetch_all(
            "SELECT title, first_seen_at, last_seen_at, updated_at FROM events"
        )
        assert len(rows) == 2
        for title, first_seen, last_seen, updated in rows:
            assert first_seen == before[title][0]
            assert last_seen > before[title][1]
            assert updated == before[title][2]  # content unchanged
        (sources,) = await store.fetch_all("SELECT count(*) FROM event_sources")
        assert sources == (2,)
        # batches commit asynchronously; the setting does not outlive their transaction
        assert await store.fetch_all("SHOW synchronous_commit") == [("on",)]


async def test_a_large_raw_payload_is_stored_whole_and_compressed(database_url: str) -> None:
    """The batch table keeps payloads uncompressed (a row under 8 kB stays whole);
    event_sources still stores them compressed, and exactly as sent."""
    settings = load_settings(
        {"SCENESCOUT_DATABASE_URL": database_url, "SCENESCOUT_DATA_DIR": "/tmp/unused"}
    )
    # about 4 kB of JSON, as a Ticketmaster event with its images and classifications
    images = [
        {
            "ratio": "16_9",
            "url": f"https://s1.ticketm.net/dam/a/{n:03d}/RETINA_PORTRAIT_16_9.jpg",
            "width": 640 + n,
            "height": 360,
            "fallback": False,
        }
        for n in range(24)
    ]
    raw = {"id": "vvG1fZ9abc", "name": "Night Market", "images": images}
    async with open_store(settings) as store:
        event = attrs.evolve(_event("big"), raw=raw)
        await store.write_batch(None, "nyc", Batch(events=[Link.alone(event)]))
        [(stored, method)] = await store.fetch_all(
            "SELECT raw, pg_column_compression(raw) FROM event_sources WHERE source_id = 'big'"
        )
        assert stored == raw
        assert method == "pglz"
        options = await store.fetch_all(
            "SELECT reloptions FROM pg_class WHERE relname = '_batch_events'"
        )
        assert options == [(["toast_tuple_target=8160"],)]


async def test_a_changed_event_moves_updated_at_and_rejects_are_kept(database_url: str) -> None:
    """A changed record updates the row and its updated_at; rejects are stored with their reason."""
    settings = load_settings(
        {"SCENESCOUT_DATABASE_URL": database_url, "SCENESCOUT_DATA_DIR": "/tmp/unused"}
    )
    async with open_store(settings) as store:
        await store.write_batch(None, "nyc", Batch(events=[Link.alone(_event("a"))]))
        (before,) = await store.fetch_all("SELECT updated_at FROM events")
        reject = Reject("ticketmaster", "zz", "missing_title", "no name", {"id": "zz"})
        result = await store.write_batch(
            None,
            "nyc",
            Batch(events=[Link.alone(_event("a", status="cancelled"))], rejects=[reject]),
        )
        assert result.rejected == 1
        (row,) = await store.fetch_all("SELECT status, updated_at FROM events")
        assert row[0] == "cancelled"
        assert row[1] > before[0]
        rejects = await store.fetch_all("SELECT source, source_id, reason, raw FROM rejects")
        assert rejects == [("ticketmaster", "zz", "missing_title", {"id": "zz"})]


async def _crawl(store: db.Store, *records: Event) -> list[WriteResult]:
    """Link as ingestion does — a Linker per crawl, loading from the store, told which
    records the store holds, the events records leave written just before them — and
    store one batch a record."""
    stored = set(await store.known_hashes("nyc"))
    linker = Linker(loader=functools.partial(store.known_records_between, "nyc"))
    results = []
    for record in records:
        await linker.prepare(record, stored=(record.source, record.source_id) in stored)
        event_id, merged, _ = linker.link(record)
        links = [
            Link(one, left_id, left_merged, event_only=True)
            for left_id, left_merged, _, one in linker.take_left()
        ]
        links.append(Link(record, event_id, merged))
        results.append(await store.write_batch(None, "nyc", Batch(events=links)))
    return results


async def _events(store: db.Store) -> dict[uuid.UUID, list[str]]:
    """Each stored event's providers."""
    rows = await store.fetch_all(
        "SELECT e.id, es.source FROM events e"
        " LEFT JOIN event_sources es ON es.event_id = e.id ORDER BY es.source"
    )
    out: dict[uuid.UUID, list[str]] = {}
    for event_id, source in rows:
        out.setdefault(event_id, []).extend([source] if source else [])
    return out


def _night_market(source: str, source_id: str, url: str, **extra: object) -> Event:
    return sanitize(
        attrs.evolve(_event(source_id), source=source, url=url, content_hash="h0", **extra)
    )


@pytest.mark.parametrize("server", ["18", "before-18"])
@pytest.mark.parametrize("first", ["eventbrite", "ticketmaster"])
async def test_a_reschedule_moves_a_record_and_its_old_event_keeps_only_the_others(
    database_url: str, server: str, first: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two providers list one show; both postpone it by two weeks, one crawl apart. The
    Linker does not reach the stored event from the new date: it loads it by the
    record's identity, and the record leaves it. The old event, still listed by the
    other provider, is merged again from that listing alone (its URL, no price any
    more), and is deleted once its last record has left — with nothing else. The moved
    record takes a new id, whichever listing created the old event (``first``). Before
    PostgreSQL 18 the records' old events are looked up instead of returned by the
    upsert."""
    if server == "before-18":
        choose = db._upsert_sources
        monkeypatch.setattr(db, "_upsert_sources", lambda version: choose(min(version, 170004)))
    settings = load_settings(
        {"SCENESCOUT_DATABASE_URL": database_url, "SCENESCOUT_DATA_DIR": "/tmp/unused"}
    )
    listed = _night_market("eventbrite", "el-1", "https://www.eventbrite.com/e/el-1")
    sold = _night_market(
        "ticketmaster",
        "tm-1",
        "https://www.ticketmaster.com/event/tm-1",
        price_min=Decimal("45.00"),
        price_max=Decimal("45.00"),
        currency="USD",
    )
    later = {"starts_at": T0 + dt.timedelta(days=14), "status": "rescheduled", "content_hash": "h1"}

    async with open_store(settings) as store:
        await _crawl(store, *((listed, sold) if first == "eventbrite" else (sold, listed)))
        old = listed.event_id if first == "eventbrite" else sold.event_id
        assert await _events(store) == {old: ["eventbrite", "ticketmaster"]}
        [(url, price)] = await store.fetch_all("SELECT url, price_min FROM events")
        assert (url, price) == (sold.url, Decimal("45.00"))

        [moved] = await _crawl(store, attrs.evolve(sold, **later))
        assert moved.removed == 0  # the old event still has its other listing
        events = await _events(store)
        [new] = set(events) - {old}
        assert events == {old: ["eventbrite"], new: ["ticketmaster"]}
        assert new != sold.event_id
        [(url, price, starts_at, status)] = await store.fetch_all(
            "SELECT url, price_min, starts_at, status FROM events WHERE id = %s", (old,)
        )
        assert (url, price, starts_at, status) == (listed.url, None, T0, "scheduled")
        [(raw,)] = await store.fetch_all(
            "SELECT raw FROM event_sources WHERE source = 'eventbrite'"
        )
        assert raw == listed.raw  # the listing's own row is untouched

        [followed] = await _crawl(store, attrs.evolve(listed, **later))
        assert followed.removed == 1
        assert await _events(store) == {new: ["eventbrite", "ticketmaster"]}
        [(starts_at,)] = await store.fetch_all("SELECT starts_at FROM events")
        assert starts_at == T0 + dt.timedelta(days=14)

        # the same batches again: nothing moves, nothing is deleted
        again = await _crawl(store, attrs.evolve(sold, **later), attrs.evolve(listed, **later))
        assert [r.removed for r in again] == [0, 0]
        assert await _events(store) == {new: ["eventbrite", "ticketmaster"]}


async def test_known_records_by_identity_bring_whole_events(database_url: str) -> None:
    """The Linker's load by identity: every stored record of the events holding the
    records named, wherever those events start, and nothing of other events."""
    settings = load_settings(
        {"SCENESCOUT_DATABASE_URL": database_url, "SCENESCOUT_DATA_DIR": "/tmp/unused"}
    )
    listed = _night_market("eventbrite", "el-1", "https://www.eventbrite.com/e/el-1")
    sold = _night_market("ticketmaster", "tm-1", "https://www.ticketmaster.com/event/tm-1")
    other = _night_market(
        "ticketmaster", "tm-2", "https://www.ticketmaster.com/event/tm-2", title="Jazz Brunch"
    )
    async with open_store(settings) as store:
        await _crawl(store, sold, listed, other)
        rows = await store.known_records_between(
            "nyc", None, None, identities=[("eventbrite", "el-1")]
        )
        assert sorted((r.source, r.source_id) for _, _, r in rows) == [
            ("eventbrite", "el-1"),
            ("ticketmaster", "tm-1"),
        ]
        assert {(event_id, start) for event_id, start, _ in rows} == {(sold.event_id, T0)}
        assert (
            await store.known_records_between("nyc", None, None, identities=[("meetup", "nope")])
            == []
        )


async def test_the_city_lock_admits_one_session(database_url: str) -> None:
    """Only one connection holds a city's crawl lock; other cities are free."""
    settings = load_settings(
        {"SCENESCOUT_DATABASE_URL": database_url, "SCENESCOUT_DATA_DIR": "/tmp/unused"}
    )
    async with open_store(settings) as one, open_store(settings) as two:
        assert await one.try_lock_city("nyc")
        assert not await two.try_lock_city("nyc")
        assert await two.try_lock_city("la")


async def test_recent_splits_are_the_split_queries_of_the_citys_recent_plans(
    database_url: str,
) -> None:
    """The keys of queries in state 'split' of the city's plans begun within the span,
    complete or not; not other cities', not older plans', not other states."""
    settings = load_settings(
        {"SCENESCOUT_DATABASE_URL": database_url, "SCENESCOUT_DATA_DIR": "/tmp/unused"}
    )
    start = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    end = start + dt.timedelta(days=30)
    week = dt.timedelta(days=7)
    async with open_store(settings) as store:
        plans = {}
        for name, city in (("old", "nyc"), ("done", "nyc"), ("open", "nyc"), ("la", "la")):
            plan = await store.open_plan(city, name, start, end, resume_within=dt.timedelta(0))
            plans[name] = plan.id
            progress = [
                db.Progress(plan.id, f"{name}-split", "split"),
                db.Progress(plan.id, f"{name}-paging", "paging", {"page": 2}, 2),
                db.Progress(plan.id, f"{name}-done", "done", None, 3),
            ]
            await store.write_batch(None, city, Batch(progress=progress))
        await store.complete_plan(plans["done"])
        await store.execute(
            "UPDATE crawl_plans SET created_at = now() - interval '8 days' WHERE id = %s",
            (plans["old"],),
        )
        assert sorted(await store.recent_splits("nyc", week)) == ["done-split", "open-split"]
        assert await store.recent_splits("la", week) == ["la-split"]
        assert await store.recent_splits("chicago", week) == []


def test_db_migrate_and_info_commands(scenescout_env: dict[str, str]) -> None:
    """`db migrate` is idempotent and `db info` shows the applied migration."""
    first = run_scenescout(["db", "migrate"], scenescout_env)
    assert first.returncode == 0, first.stderr
    again = run_scenescout(["db", "migrate"], scenescout_env)
    assert "up to date" in again.stdout
    info = run_scenescout(["db", "info"], scenescout_env)
    assert info.returncode == 0
    assert "0001_initial" in info.stdout


def test_two_processes_start_the_embedded_server_at_once(
    tmp_path: Path, scenescout_env: dict[str, str]
) -> None:
    """Two scenescout processes starting together on a fresh data dir both succeed."""
    env = dict(scenescout_env)
    env.pop("SCENESCOUT_DATABASE_URL")
    env["SCENESCOUT_DATA_DIR"] = str(tmp_path / "fresh")
    exe = scenescout_executable()
    procs = [
        subprocess.Popen(
            [exe, "db", "info"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    results = [p.communicate(timeout=180) for p in procs]
    for proc, (out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
        assert "embedded" in out


async def test_the_geocode_cache_remembers_found_and_not_found(database_url: str) -> None:
    """The database cache answers a second lookup, including "nothing found", without a call."""
    from scenescout_cli.enrich.geocode import MISSING, GeocodeResult, GeocodeService
    from scenescout_cli.pipeline.enrichment import StoreGeocodeCache

    settings = load_settings(
        {"SCENESCOUT_DATABASE_URL": database_url, "SCENESCOUT_DATA_DIR": "/tmp/unused"}
    )

    class CountingClient:
        calls = 0

        async def fetch_page(self, query, cursor):  # type: ignore[no-untyped-def]
            from scenescout_cli.model import Page

            CountingClient.calls += 1
            found = "Steel" in (query.target or "")
            record = GeocodeResult(40.7193, -73.9387, "rooftop", {}).as_record()
            return Page([record] if found else [], None)

    async with open_store(settings) as store:
        cache = StoreGeocodeCache(store)
        assert await cache.get("nowhere") is MISSING
        service = GeocodeService(CountingClient(), cache)
        first = await service.geocode("Brooklyn Steel, 319 Frost St, Brooklyn")
        missing = await service.geocode("Nowhere Hall, 1 Imaginary Rd")
        calls = CountingClient.calls
        again = GeocodeService(CountingClient(), StoreGeocodeCache(store))
        assert await again.geocode("Brooklyn Steel, 319 Frost St, Brooklyn") == first
        assert await again.geocode("Nowhere Hall, 1 Imaginary Rd") is None
        assert missing is None
        assert CountingClient.calls == calls
