"""The Trio-native store over psycopg's async API.

psycopg's async API is asyncio; it runs here through trio-asyncio and never leaves
this package. Every public coroutine of ``Store`` is a plain Trio coroutine.
psycopg errors are translated here: connection failures become
``DatabaseUnavailable``; anything else is a bug and propagates.

Cancellation: cancelling a Store call cancels the running statement; a batch
transaction that is cancelled rolls back, so a batch is stored whole or not at all.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any, TypeVar

import attrs
import cattrs
import trio

# trio_asyncio must be imported before psycopg: it patches asyncio.get_running_loop,
# which psycopg binds at import time.
import trio_asyncio  # isort: split

import psycopg
import psycopg.waiting
from psycopg.rows import dict_row

from .. import jsonio
from ..config import Settings
from ..errors import DatabaseUnavailable
from ..model import Event, Reject, Venue
from .server import start_embedded

T = TypeVar("T")

EVENT_COLUMNS = (
    "id",
    "city",
    "title",
    "description",
    "starts_at",
    "ends_at",
    "timezone",
    "venue_name",
    "address",
    "locality",
    "postal_code",
    "country",
    "lat",
    "lon",
    "category",
    "price_min",
    "price_max",
    "currency",
    "is_free",
    "url",
    "image_url",
    "status",
    "quality_score",
    "first_seen_at",
    "last_seen_at",
    "updated_at",
)
# Columns a crawl writes; compared to decide whether a re-seen event changed.
_CONTENT_COLUMNS = (
    "title",
    "description",
    "starts_at",
    "ends_at",
    "timezone",
    "venue_name",
    "address",
    "locality",
    "postal_code",
    "country",
    "lat",
    "lon",
    "category",
    "price_min",
    "price_max",
    "currency",
    "is_free",
    "url",
    "image_url",
    "status",
    "date_tba",
    "quality_score",
)
_BATCH_COLUMNS = (
    "id",
    "city",
    *_CONTENT_COLUMNS,
    "source",
    "source_id",
    "fetched_at",
    "raw",
    "content_hash",
    "record",
    "seq",
    "event_only",
)

# The batch's rows stay whole and uncompressed (under 8 kB, most are): the default
# target of 2 kB compressed each raw payload and moved it to the temporary table's
# TOAST table, only to be read back at once. event_sources compresses it (pglz) once.
_CREATE_BATCH_TABLE = """
CREATE TEMP TABLE IF NOT EXISTS _batch_events (
    id uuid, city text, title text, description text, starts_at timestamptz, ends_at timestamptz,
    timezone text, venue_name text, address text, locality text, postal_code text, country text,
    lat double precision, lon double precision, category text, price_min numeric, price_max numeric,
    currency text, is_free boolean, url text, image_url text, status text, date_tba boolean,
    quality_score real,
    source text, source_id text, fetched_at timestamptz, raw jsonb, content_hash text,
    record jsonb, seq bigint, event_only boolean
) WITH (toast_tuple_target = 8160) ON COMMIT DELETE ROWS
"""

_UPSERT_EVENTS = f"""
INSERT INTO events AS e (id, city, {", ".join(_CONTENT_COLUMNS)})
SELECT DISTINCT ON (id) id, city, {", ".join(_CONTENT_COLUMNS)}
FROM _batch_events ORDER BY id, seq DESC
ON CONFLICT (id) DO UPDATE SET
    {", ".join(f"{c} = EXCLUDED.{c}" for c in _CONTENT_COLUMNS)},
    last_seen_at = now(),
    updated_at = CASE
        WHEN ({", ".join(f"e.{c}" for c in _CONTENT_COLUMNS)})
             IS DISTINCT FROM ({", ".join(f"EXCLUDED.{c}" for c in _CONTENT_COLUMNS)})
        THEN now() ELSE e.updated_at END
RETURNING (xmax = 0) AS inserted
"""

_SOURCES_INSERT = """
    INSERT INTO event_sources (source, source_id, event_id, url, fetched_at, raw, content_hash,
                               record)
    SELECT DISTINCT ON (source, source_id)
        source, source_id, id, record->>'url', fetched_at, raw, content_hash, record
    FROM _batch_events WHERE NOT event_only ORDER BY source, source_id, seq DESC
    ON CONFLICT (source, source_id) DO UPDATE SET
        event_id = EXCLUDED.event_id, url = EXCLUDED.url, fetched_at = EXCLUDED.fetched_at,
        raw = EXCLUDED.raw, content_hash = EXCLUDED.content_hash, record = EXCLUDED.record,
        last_seen_at = now()
"""

# Both upsert the batch's provider records and return the events some of them leave:
# the ids they pointed at before, where the batch points them at another event.
# PostgreSQL 18 returns a row's old values from the upsert itself, at no cost;
# before it, each record's stored event is looked up first (in the statement's
# snapshot, so before the upsert): one index probe a record, ~5 ms a batch of 500.
_UPSERT_SOURCES = f"""
WITH upserted AS ({_SOURCES_INSERT}
    RETURNING old.event_id AS previous, new.event_id AS current
)
SELECT DISTINCT previous FROM upserted WHERE previous <> current
"""
_UPSERT_SOURCES_BEFORE_18 = f"""
WITH stored AS (
    SELECT id, (SELECT es.event_id FROM event_sources es
                WHERE es.source = b.source AND es.source_id = b.source_id) AS previous
    FROM _batch_events b WHERE NOT b.event_only
), upserted AS ({_SOURCES_INSERT})
SELECT DISTINCT previous FROM stored WHERE previous <> id
"""


def _upsert_sources(server_version: int) -> str:
    """The provider records' upsert for this server (``server_version`` as libpq's
    number: 180004 for 18.4)."""
    return _UPSERT_SOURCES if server_version >= 180000 else _UPSERT_SOURCES_BEFORE_18


# An event whose every provider record now belongs to another event describes nothing a
# provider lists any more (see ``Store.write_batch``).
_DELETE_ABANDONED = """
DELETE FROM events e
WHERE e.id = ANY(%s)
  AND NOT EXISTS (SELECT 1 FROM event_sources es WHERE es.event_id = e.id)
"""

_TOUCH_UNCHANGED = """
WITH seen AS (
    UPDATE event_sources es SET last_seen_at = now()
    FROM unnest(%s::text[], %s::text[]) AS u(source, source_id)
    WHERE es.source = u.source AND es.source_id = u.source_id
    RETURNING es.event_id
)
UPDATE events SET last_seen_at = now() WHERE id IN (SELECT event_id FROM seen)
RETURNING id
"""

_UPSERT_VENUE = """
INSERT INTO venues (source, source_id, city, name, address, locality, postal_code, country,
                    lat, lon, timezone, types, website, rating, rating_count, raw, fetched_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (source, source_id) DO UPDATE SET
    city = EXCLUDED.city, name = EXCLUDED.name, address = EXCLUDED.address,
    locality = EXCLUDED.locality, postal_code = EXCLUDED.postal_code, country = EXCLUDED.country,
    lat = EXCLUDED.lat, lon = EXCLUDED.lon, timezone = EXCLUDED.timezone, types = EXCLUDED.types,
    website = EXCLUDED.website, rating = EXCLUDED.rating, rating_count = EXCLUDED.rating_count,
    raw = EXCLUDED.raw, fetched_at = EXCLUDED.fetched_at, last_seen_at = now()
"""

_UPSERT_REJECT = """
INSERT INTO rejects (run_id, source, source_id, record_key, reason, detail, raw)
VALUES (%s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (source, record_key, reason) DO UPDATE SET
    run_id = EXCLUDED.run_id, source_id = EXCLUDED.source_id, detail = EXCLUDED.detail,
    raw = EXCLUDED.raw, rejected_at = now()
"""

_UPSERT_IMAGE = """
INSERT INTO images (source_url, content_hash, width, height, blurhash, phash, variants, error)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (source_url) DO UPDATE SET
    content_hash = EXCLUDED.content_hash, width = EXCLUDED.width, height = EXCLUDED.height,
    blurhash = EXCLUDED.blurhash, phash = EXCLUDED.phash, variants = EXCLUDED.variants,
    error = EXCLUDED.error, processed_at = now()
"""

_UPSERT_PROGRESS = """
INSERT INTO query_progress (plan_id, query_key, state, cursor, pages)
VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (plan_id, query_key) DO UPDATE SET
    state = EXCLUDED.state, cursor = EXCLUDED.cursor, pages = EXCLUDED.pages, updated_at = now()
"""

_MIGRATION_LOCK = 0x5CE7E5C0  # pg_advisory_lock key serialising migrations across processes


@attrs.frozen
class WriteResult:
    inserted: int
    updated: int
    rejected: int
    unchanged: int = 0
    venues: int = 0
    #: events deleted because their last provider record moved to another event
    removed: int = 0


@attrs.frozen
class Progress:
    """One query's progress, committed with the records of its latest page."""

    plan_id: int
    query_key: str
    state: str  # split | paging | done
    cursor: Any = None
    pages: int = 0


@attrs.frozen
class Link:
    """A provider record, its canonical event's id, and that event merged from its records."""

    record: Event
    event_id: uuid.UUID
    merged: Event
    #: the record's raw payload as JSON text, when ``record.raw`` was left behind
    raw_json: str | None = None
    #: only the event's row is written: ``record`` is one of its records as stored
    #: (another record left the event, which was merged again from those it holds)
    event_only: bool = False

    @classmethod
    def alone(cls, event: Event) -> Link:
        """A record that is its own canonical event."""
        return cls(event, event.event_id, event)


@attrs.frozen
class Batch:
    """What one storage transaction writes."""

    events: list[Link] = attrs.field(factory=list)
    venues: list[Venue] = attrs.field(factory=list)
    rejects: list[Reject] = attrs.field(factory=list)
    unchanged: list[tuple[str, str]] = attrs.field(factory=list)
    progress: list[Progress] = attrs.field(factory=list)
    #: (event id, source URL, image result as JSON or None, error slug or None)
    images: list[tuple[uuid.UUID, str, dict[str, Any] | None, str | None]] = attrs.field(
        factory=list
    )


@attrs.frozen
class QueryProgress:
    state: str
    cursor: Any
    pages: int


@attrs.frozen
class Plan:
    """A crawl's plan: its id, its window and (when resumed) its queries' progress."""

    id: int
    window_start: dt.datetime
    window_end: dt.datetime
    resumed: bool
    progress: dict[str, QueryProgress] = attrs.field(factory=dict)


def redact_url(url: str) -> str:
    """A database URL with its password replaced by ``***``."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def _migrations() -> list[tuple[int, str, str]]:
    folder = resources.files(__package__).joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        if match := re.fullmatch(r"(\d{4})_(\w+)\.sql", entry.name):
            found.append((int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    return sorted(found)


def _json_default(value: Any) -> str:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def _batch_row(city: str, link: Link, seq: int) -> tuple[Any, ...]:
    """One row of the batch table: the canonical event's columns (merged), then the
    provider record's own (source, id, raw payload, hash and normalised form) — left
    empty for an ``event_only`` link, whose record's row is not written."""
    merged = link.merged
    record = link.record
    event = (str(link.event_id), city, *(getattr(merged, c) for c in _CONTENT_COLUMNS))
    if link.event_only:
        return (*event, *(None,) * 6, seq, True)
    return (
        *event,
        record.source,
        record.source_id,
        record.fetched_at or dt.datetime.now(dt.UTC),
        link.raw_json if link.raw_json is not None else jsonio.dumps(record.raw),
        record.content_hash,
        jsonio.dumps(record_to_json(record)),
        seq,
        False,
    )


_record_converter = cattrs.Converter()
_record_converter.register_unstructure_hook(dt.datetime, lambda v: v.isoformat())
_record_converter.register_structure_hook(dt.datetime, lambda v, _: dt.datetime.fromisoformat(v))
#: Every field of a normalised record but its raw payload, in declaration order.
_RECORD_FIELDS = tuple(f.name for f in attrs.fields(Event) if f.name != "raw")
_RECORD_TIMES = frozenset(
    f.name for f in attrs.fields(Event) if f.name != "raw" and "datetime" in str(f.type)
)


def record_to_json(event: Event) -> dict[str, Any]:
    """A provider record's normalised form as JSON (without its raw payload).

    Written by hand rather than through cattrs: it runs once per stored record.
    """
    data: dict[str, Any] = {}
    for name in _RECORD_FIELDS:
        value = getattr(event, name)
        if name in _RECORD_TIMES and value is not None:
            value = value.isoformat()
        elif isinstance(value, tuple):
            value = list(value)
        data[name] = value
    return data


def record_from_json(data: dict[str, Any]) -> Event:
    """The inverse of ``record_to_json``."""
    return _record_converter.structure({**data, "raw": {}}, Event)


def _venue_row(city: str, venue: Venue) -> tuple[Any, ...]:
    return (
        venue.source,
        venue.source_id,
        city,
        venue.name,
        venue.address,
        venue.locality,
        venue.postal_code,
        venue.country,
        venue.lat,
        venue.lon,
        venue.timezone,
        list(venue.types),
        venue.website,
        venue.rating,
        venue.rating_count,
        jsonio.dumps(venue.raw),
        venue.fetched_at or dt.datetime.now(dt.UTC),
    )


def _reject_row(run_id: int | None, reject: Reject) -> tuple[Any, ...]:
    raw = jsonio.dumps(reject.raw, sort_keys=True)
    record_key = reject.source_id or hashlib.md5(raw.encode()).hexdigest()
    return (
        run_id,
        reject.source,
        reject.source_id,
        record_key,
        reject.reason,
        reject.detail,
        raw,
    )


def _json_or_none(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=_json_default)


class Store:
    """The database, Trio-native. Build it with ``open_store``."""

    def __init__(self, conn: psycopg.AsyncConnection[Any], url: str) -> None:
        self._conn = conn
        self.url = url
        self._lock = trio.Lock()

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        # One connection, one operation at a time: a transaction spans several awaits,
        # and another task's statement must never land inside it.
        async with self._lock:
            return await self._run_unlocked(fn, *args)

    async def _run_unlocked(self, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return await trio_asyncio.aio_as_trio(fn)(*args)
        except psycopg.OperationalError as exc:
            raise DatabaseUnavailable(f"database connection lost: {_first_line(exc)}") from exc

    # -- schema --------------------------------------------------------------

    async def migrate(self) -> list[str]:
        """Apply pending migrations in order, each in its own transaction; returns their names.

        Safe when several processes migrate at once (an advisory lock serialises them).
        """
        return await self._run(self._migrate)

    async def _migrate(self) -> list[str]:
        applied: list[str] = []
        async with self._conn.cursor() as cur:
            # A session-level lock: it outlives the commits below, and every migration
            # commits before it is released, so a second process waiting on it sees them.
            await cur.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
            await self._conn.commit()
            try:
                await cur.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    " version int PRIMARY KEY, name text NOT NULL,"
                    " applied_at timestamptz NOT NULL DEFAULT now())"
                )
                await cur.execute("SELECT version FROM schema_migrations")
                done = {row[0] for row in await cur.fetchall()}
                await self._conn.commit()
                for version, name, sql in _migrations():
                    if version in done:
                        continue
                    async with self._conn.transaction():  # no transaction is open: a real one
                        await cur.execute(sql)
                        await cur.execute(
                            "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                            (version, name),
                        )
                    applied.append(f"{version:04d}_{name}")
            finally:
                await self._conn.rollback()  # nothing is left open when a migration failed
                await cur.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))
                await self._conn.commit()
        return applied

    async def info(self) -> dict[str, Any]:
        """Server version, applied migrations and row counts."""
        return await self._run(self._info)

    async def _info(self) -> dict[str, Any]:
        async with self._conn.cursor() as cur:
            await cur.execute("SHOW server_version")
            version = (await _one(cur))[0]
            await cur.execute(
                "SELECT version, name, applied_at FROM schema_migrations ORDER BY version"
            )
            migrations = [f"{v:04d}_{n}" for v, n, _ in await cur.fetchall()]
            counts = {}
            for table in ("events", "event_sources", "venues", "crawl_runs", "rejects"):
                await cur.execute(f"SELECT count(*) FROM {table}")
                counts[table] = (await _one(cur))[0]
        await self._conn.commit()
        pending = [f"{v:04d}_{n}" for v, n, _ in _migrations() if f"{v:04d}_{n}" not in migrations]
        return {
            "url": redact_url(self.url),
            "server_version": version,
            "migrations": migrations,
            "pending": pending,
            "rows": counts,
        }

    # -- runs ----------------------------------------------------------------

    async def start_run(self, city: str, stats: dict[str, Any]) -> int:
        """Insert a ``running`` crawl_runs row; returns its id."""
        return await self._run(self._start_run, city, stats)

    async def _start_run(self, city: str, stats: dict[str, Any]) -> int:
        async with self._conn.transaction(), self._conn.cursor() as cur:
            await cur.execute(
                "INSERT INTO crawl_runs (city, stats) VALUES (%s, %s) RETURNING id",
                (city, json.dumps(stats, default=_json_default)),
            )
            return int((await _one(cur))[0])

    async def finish_run(self, run_id: int, status: str, stats: dict[str, Any]) -> None:
        """Record the run's end, status and figures."""
        await self._run(self._finish_run, run_id, status, stats)

    async def _finish_run(self, run_id: int, status: str, stats: dict[str, Any]) -> None:
        async with self._conn.transaction(), self._conn.cursor() as cur:
            await cur.execute(
                "UPDATE crawl_runs SET finished_at = now(), status = %s, stats = %s WHERE id = %s",
                (status, json.dumps(stats, default=_json_default), run_id),
            )

    async def try_lock_city(self, city: str) -> bool:
        """Take the session-level advisory lock of ``city``; False if another session holds it."""
        return await self._run(self._try_lock_city, city)

    async def _try_lock_city(self, city: str) -> bool:
        async with self._conn.cursor() as cur:
            await cur.execute(
                "SELECT pg_try_advisory_lock(hashtext(%s))", (f"scenescout:crawl:{city}",)
            )
            locked = bool((await _one(cur))[0])
        await self._conn.commit()
        return locked

    # -- quota ledger ----------------------------------------------------------

    async def quota_used(self, source: str, key_id: str, day: dt.date) -> int:
        """Requests already recorded for ``source`` with this credential on ``day`` (UTC)."""
        rows = await self.fetch_all(
            "SELECT requests FROM source_quota WHERE source = %s AND key_id = %s AND day = %s",
            (source, key_id, day),
        )
        return int(rows[0][0]) if rows else 0

    async def add_quota_usage(
        self, source: str, key_id: str, day: dt.date, requests: int, errors: int
    ) -> None:
        """Add this run's requests (and how many were errors) to the day's ledger."""
        if requests or errors:
            await self._run(self._add_quota_usage, source, key_id, day, requests, errors)

    async def _add_quota_usage(
        self, source: str, key_id: str, day: dt.date, requests: int, errors: int
    ) -> None:
        async with self._conn.transaction(), self._conn.cursor() as cur:
            await cur.execute(
                "INSERT INTO source_quota (source, key_id, day, requests, errors)"
                " VALUES (%s, %s, %s, %s, %s)"
                " ON CONFLICT (source, key_id, day) DO UPDATE SET"
                " requests = source_quota.requests + EXCLUDED.requests,"
                " errors = source_quota.errors + EXCLUDED.errors, updated_at = now()",
                (source, key_id, day, requests, errors),
            )

    # -- writes --------------------------------------------------------------

    async def write_batch(
        self,
        run_id: int | None,
        city: str,
        batch: Batch,
        *,
        before_commit: Callable[[], None] | None = None,
    ) -> WriteResult:
        """Write one batch in one transaction: upsert events (COPY into a temporary table,
        then INSERT … ON CONFLICT) and venues, move ``last_seen_at`` of unchanged records,
        record rejects, and commit query progress.

        A provider record linked to another event than before moves to it; an event it
        leaves with no provider record at all is deleted (``WriteResult.removed``): a
        record whose start moved beyond the Linker's reach (a show postponed by weeks)
        is linked afresh, and once every record of its old event has followed, the old
        event would list a date no provider lists any more.

        Idempotent: writing the same batch twice leaves the same rows and only moves
        ``last_seen_at``. Cancelled or failed, the transaction rolls back whole.

        Commits are asynchronous (``synchronous_commit = off`` for this transaction): a
        crash of the database server may lose the last fraction of a second of batches,
        never part of one — and their query progress goes with them, so a resumed
        crawl fetches those pages again. The crawler's own crash loses nothing.
        """
        return await self._run(self._write_batch, run_id, city, batch, before_commit)

    async def _write_batch(
        self,
        run_id: int | None,
        city: str,
        batch: Batch,
        before_commit: Callable[[], None] | None,
    ) -> WriteResult:
        inserted = updated = unchanged = removed = 0
        async with self._conn.transaction(), self._conn.cursor() as cur:
            await cur.execute("SET LOCAL synchronous_commit = off")
            if batch.events:
                await cur.execute(_CREATE_BATCH_TABLE)
                async with cur.copy(
                    f"COPY _batch_events ({', '.join(_BATCH_COLUMNS)}) FROM STDIN"
                ) as copy:
                    for seq, link in enumerate(batch.events):
                        await copy.write_row(_batch_row(city, link, seq))
                await cur.execute(_UPSERT_EVENTS)
                for (was_inserted,) in await cur.fetchall():
                    if was_inserted:
                        inserted += 1
                    else:
                        updated += 1
                await cur.execute(_upsert_sources(self._conn.info.server_version))
                left_behind = [event_id for (event_id,) in await cur.fetchall()]
                if left_behind:
                    await cur.execute(_DELETE_ABANDONED, (left_behind,))
                    removed = cur.rowcount
            if batch.unchanged:
                sources, ids = zip(*batch.unchanged, strict=True)
                await cur.execute(_TOUCH_UNCHANGED, (list(sources), list(ids)))
                unchanged = len(await cur.fetchall())
            if batch.venues:
                await cur.executemany(_UPSERT_VENUE, [_venue_row(city, v) for v in batch.venues])
            if batch.rejects:
                await cur.executemany(
                    _UPSERT_REJECT, [_reject_row(run_id, r) for r in batch.rejects]
                )
            if batch.images:
                await cur.executemany(
                    _UPSERT_IMAGE,
                    [
                        (
                            url,
                            (result or {}).get("content_hash"),
                            (result or {}).get("width"),
                            (result or {}).get("height"),
                            (result or {}).get("blurhash"),
                            (result or {}).get("phash"),
                            json.dumps((result or {}).get("variants", [])),
                            error,
                        )
                        for _, url, result, error in batch.images
                    ],
                )
                await cur.executemany(
                    "INSERT INTO event_images (event_id, source_url) SELECT %s, %s"
                    " WHERE EXISTS (SELECT 1 FROM events WHERE id = %s) ON CONFLICT DO NOTHING",
                    [(str(event_id), url, str(event_id)) for event_id, url, _, _ in batch.images],
                )
            if batch.progress:
                await cur.executemany(
                    _UPSERT_PROGRESS,
                    [
                        (p.plan_id, p.query_key, p.state, _json_or_none(p.cursor), p.pages)
                        for p in batch.progress
                    ],
                )
            if before_commit is not None:
                before_commit()  # tests: a crash inside the transaction
        return WriteResult(
            inserted=inserted,
            updated=updated,
            rejected=len(batch.rejects),
            unchanged=unchanged,
            venues=len(batch.venues),
            removed=removed,
        )

    # -- plans, progress and incremental state -------------------------------

    async def open_plan(
        self,
        city: str,
        fingerprint: str,
        window_start: dt.datetime,
        window_end: dt.datetime,
        *,
        resume_within: dt.timedelta,
    ) -> Plan:
        """The open plan with these arguments younger than ``resume_within``, or a new one."""
        return await self._run(
            self._open_plan, city, fingerprint, window_start, window_end, resume_within
        )

    async def _open_plan(
        self,
        city: str,
        fingerprint: str,
        window_start: dt.datetime,
        window_end: dt.datetime,
        resume_within: dt.timedelta,
    ) -> Plan:
        async with self._conn.transaction(), self._conn.cursor() as cur:
            await cur.execute(
                "SELECT id, window_start, window_end FROM crawl_plans"
                " WHERE city = %s AND fingerprint = %s AND status = 'open'"
                " AND created_at > now() - %s ORDER BY created_at DESC LIMIT 1",
                (city, fingerprint, resume_within),
            )
            row = await cur.fetchone()
            if row is not None:
                await cur.execute(
                    "SELECT query_key, state, cursor, pages FROM query_progress WHERE plan_id = %s",
                    (row[0],),
                )
                progress = {
                    key: QueryProgress(state, cursor, pages)
                    for key, state, cursor, pages in await cur.fetchall()
                }
                return Plan(row[0], row[1], row[2], resumed=True, progress=progress)
            await cur.execute(
                "INSERT INTO crawl_plans (city, fingerprint, window_start, window_end)"
                " VALUES (%s, %s, %s, %s) RETURNING id",
                (city, fingerprint, window_start, window_end),
            )
            plan_id = (await _one(cur))[0]
        return Plan(plan_id, window_start, window_end, resumed=False, progress={})

    async def complete_plan(self, plan_id: int) -> None:
        """Mark a plan complete: the next crawl with the same arguments starts afresh."""
        await self.execute(
            "UPDATE crawl_plans SET status = 'complete', updated_at = now() WHERE id = %s",
            (plan_id,),
        )

    async def known_records_between(
        self,
        city: str,
        start: dt.datetime | None,
        end: dt.datetime | None,
        *,
        date_only: bool = False,
        identities: Sequence[tuple[str, str]] = (),
    ) -> list[tuple[uuid.UUID, dt.datetime | None, Event]]:
        """(canonical event id, its start, normalised provider record) of every stored
        record of ``city``'s events starting in [start, end) — or, with ``start`` None,
        of its undated events: the Linker's loader (pipeline/linking.py).

        ``date_only=True`` leaves out most events with a timed record: it keeps those
        whose start may be date-only — a record says all-day, or the start is local
        midnight in the event's zone (a zone Postgres does not know is kept) — a
        superset the Linker narrows down with the matcher's own reading.

        ``identities`` (source, source id): instead, the rows of the events holding
        those records, wherever they start (one index probe a record, then its event's).
        """
        if identities:
            sources, ids = zip(*identities, strict=True)
            rows = await self.fetch_all(
                "SELECT es.event_id, e.starts_at, es.record FROM event_sources es"
                " JOIN events e ON e.id = es.event_id WHERE e.city = %s"
                " AND es.record IS NOT NULL AND es.event_id IN (SELECT k.event_id"
                " FROM event_sources k JOIN unnest(%s::text[], %s::text[]) AS u(source, source_id)"
                " ON k.source = u.source AND k.source_id = u.source_id)",
                (city, list(sources), list(ids)),
            )
        elif start is None:
            rows = await self.fetch_all(
                "SELECT es.event_id, e.starts_at, es.record FROM event_sources es"
                " JOIN events e ON e.id = es.event_id WHERE e.city = %s"
                " AND es.record IS NOT NULL AND e.starts_at IS NULL",
                (city,),
            )
        elif date_only:
            rows = await self.fetch_all(
                "SELECT es.event_id, e.starts_at, es.record FROM event_sources es"
                " JOIN events e ON e.id = es.event_id WHERE e.city = %s"
                " AND es.record IS NOT NULL AND e.starts_at >= %s AND e.starts_at < %s"
                # CASE, not OR: AT TIME ZONE fails on a name Postgres does not know
                " AND (CASE WHEN e.timezone IN (SELECT name FROM pg_timezone_names)"
                " THEN date_trunc('second', e.starts_at AT TIME ZONE e.timezone)::time = '00:00'"
                " ELSE e.timezone IS NOT NULL END"
                " OR EXISTS (SELECT 1 FROM event_sources a WHERE a.event_id = e.id"
                " AND a.record @> '{\"all_day\": true}'))",
                (city, start, end),
            )
        else:
            rows = await self.fetch_all(
                "SELECT es.event_id, e.starts_at, es.record FROM event_sources es"
                " JOIN events e ON e.id = es.event_id WHERE e.city = %s"
                " AND es.record IS NOT NULL AND e.starts_at >= %s AND e.starts_at < %s",
                (city, start, end),
            )
        return [(event_id, when, record_from_json(record)) for event_id, when, record in rows]

    async def processed_images(self) -> set[str]:
        """Source URLs whose images were optimised already (a re-crawl skips them)."""
        rows = await self.fetch_all("SELECT source_url FROM images WHERE error IS NULL")
        return {url for (url,) in rows}

    async def geocode_get(self, address: str) -> tuple[bool, dict[str, Any] | None]:
        """(cached, result) for a normalised address; result None = known not found."""
        rows = await self.fetch_all(
            "SELECT result FROM geocode_cache WHERE address = %s", (address,)
        )
        return (True, rows[0][0]) if rows else (False, None)

    async def geocode_put(self, address: str, result: dict[str, Any] | None) -> None:
        """Remember a geocoder's answer (or that it found nothing) for an address."""
        await self.execute(
            "INSERT INTO geocode_cache (address, result) VALUES (%s, %s)"
            " ON CONFLICT (address) DO UPDATE SET result = EXCLUDED.result, cached_at = now()",
            (address, None if result is None else json.dumps(result, default=_json_default)),
        )

    async def provider_labelled(self) -> list[tuple[str, str | None, str | None]]:
        """(title, description, provider category) of every stored provider record, for
        retraining the classifier on the user's own data."""
        rows = await self.fetch_all("SELECT record FROM event_sources WHERE record IS NOT NULL")
        out = []
        for (record,) in rows:
            out.append(
                (record.get("title") or "", record.get("description"), record.get("category"))
            )
        return out

    async def has_events(self, city: str) -> bool:
        """Whether any event of ``city`` is stored."""
        rows = await self.fetch_all("SELECT EXISTS (SELECT 1 FROM events WHERE city = %s)", (city,))
        return bool(rows[0][0])

    async def recent_splits(self, city: str, within: dt.timedelta) -> list[str]:
        """The keys of the queries that crawls of ``city`` begun in the last ``within``
        had to split (``query_progress`` rows in state 'split')."""
        rows = await self.fetch_all(
            "SELECT DISTINCT q.query_key FROM query_progress q"
            " JOIN crawl_plans p ON p.id = q.plan_id"
            " WHERE p.city = %s AND p.created_at > now() - %s AND q.state = 'split'",
            (city, within),
        )
        return [key for (key,) in rows]

    async def known_hashes(self, city: str) -> dict[tuple[str, str], str]:
        """(source, source_id) → content hash of every provider record stored for ``city``."""
        rows = await self.fetch_all(
            "SELECT es.source, es.source_id, es.content_hash FROM event_sources es"
            " JOIN events e ON e.id = es.event_id"
            " WHERE e.city = %s AND es.content_hash IS NOT NULL",
            (city,),
        )
        return {(source, source_id): digest for source, source_id, digest in rows}

    async def record_source_state(
        self,
        source: str,
        city: str,
        run_id: int,
        state: str,
        records: int,
        unchanged: int,
        errors: int,
    ) -> None:
        """Remember what this run did for (source, city)."""
        await self.execute(
            "INSERT INTO source_state (source, city, last_run_id, last_crawl_at, state, records,"
            " unchanged, errors) VALUES (%s, %s, %s, now(), %s, %s, %s, %s)"
            " ON CONFLICT (source, city) DO UPDATE SET last_run_id = EXCLUDED.last_run_id,"
            " last_crawl_at = now(), state = EXCLUDED.state, records = EXCLUDED.records,"
            " unchanged = EXCLUDED.unchanged, errors = EXCLUDED.errors",
            (source, city, run_id, state, records, unchanged, errors),
        )

    async def fill_from_venues(self, city: str) -> int:
        """Give events without coordinates those of the known venue of the same name.

        Names are compared case- and punctuation-blind within the city. Returns how
        many events were filled.
        """
        rows = await self.fetch_all(
            "WITH filled AS ("
            " UPDATE events e SET lat = v.lat, lon = v.lon,"
            " address = coalesce(e.address, v.address),"
            " postal_code = coalesce(e.postal_code, v.postal_code),"
            " timezone = coalesce(e.timezone, v.timezone), updated_at = now()"
            " FROM venues v WHERE e.city = %s AND v.city = e.city AND e.lat IS NULL"
            " AND v.lat IS NOT NULL AND e.venue_name IS NOT NULL"
            " AND regexp_replace(lower(e.venue_name), '[^a-z0-9]+', '', 'g')"
            "   = regexp_replace(lower(v.name), '[^a-z0-9]+', '', 'g')"
            " RETURNING e.id) SELECT count(*) FROM filled",
            (city,),
        )
        return int(rows[0][0])

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> None:
        """Run one statement in its own transaction."""
        await self._run(self._execute, sql, tuple(params))

    async def _execute(self, sql: str, params: tuple[Any, ...]) -> None:
        async with self._conn.transaction(), self._conn.cursor() as cur:
            await cur.execute(sql, params)

    # -- reads ---------------------------------------------------------------

    async def events(
        self,
        *,
        city: str | None = None,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
        category: str | None = None,
        limit: int | None = None,
        order: str = "start",
    ) -> list[dict[str, Any]]:
        """Events ordered by start (TBA last) or by quality, filtered; dicts of EVENT_COLUMNS."""
        return await self._run(self._events, city, start, end, category, limit, order)

    async def _events(self, city, start, end, category, limit, order) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
        where, params = [], []
        for clause, value in (
            ("city = %s", city),
            ("starts_at >= %s", start),
            ("starts_at < %s", end),
            ("category = %s", category),
        ):
            if value is not None:
                where.append(clause)
                params.append(value)
        sql = f"SELECT {', '.join(EVENT_COLUMNS)} FROM events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        if order == "quality":
            sql += " ORDER BY quality_score DESC NULLS LAST, starts_at NULLS LAST, id"
        else:
            sql += " ORDER BY starts_at NULLS LAST, title, id"
        if limit is not None:
            sql += " LIMIT %s"
            params.append(limit)
        async with self._conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(sql, params)
            rows = await cur.fetchall()
        await self._conn.commit()
        return rows

    async def rejects(
        self, *, limit: int = 50, source: str | None = None, reason: str | None = None
    ) -> list[dict[str, Any]]:
        """The latest rejected records, newest first; each with its reason and payload."""
        where, params = [], []
        for clause, value in (("source = %s", source), ("reason = %s", reason)):
            if value is not None:
                where.append(clause)
                params.append(value)
        sql = (
            "SELECT id, run_id, source, source_id, reason, detail, raw, rejected_at FROM rejects"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY rejected_at DESC, id DESC LIMIT %s"
        )
        return await self._run(self._dict_rows, sql, (*params, limit))

    async def _dict_rows(self, sql: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        async with self._conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(sql, params)
            rows = await cur.fetchall()
        await self._conn.commit()
        return rows

    async def runs(self, limit: int = 20) -> list[dict[str, Any]]:
        """The latest crawl runs, newest first."""
        return await self._run(self._runs, limit)

    async def _runs(self, limit: int) -> list[dict[str, Any]]:
        async with self._conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                "SELECT id, city, started_at, finished_at, status, stats FROM crawl_runs"
                " ORDER BY started_at DESC, id DESC LIMIT %s",
                (limit,),
            )
            rows = await cur.fetchall()
        await self._conn.commit()
        return rows

    async def fetch_all(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read-only query; for tests and diagnostics."""
        return await self._run(self._fetch_all, sql, tuple(params))

    async def _fetch_all(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        async with self._conn.cursor() as cur:
            await cur.execute(sql, params)
            rows = await cur.fetchall()
        await self._conn.commit()
        return rows


async def _connect(url: str) -> psycopg.AsyncConnection[Any]:
    return await psycopg.AsyncConnection.connect(
        url, connect_timeout=10, application_name="scenescout"
    )


async def _one(cur: psycopg.AsyncCursor[Any]) -> Any:
    """The single row a statement returns (it always returns one)."""
    row = await cur.fetchone()
    if row is None:
        raise RuntimeError("expected a row")
    return row


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


async def resolve_database_url(settings: Settings) -> str:
    """The URL to connect to: the configured one, or the embedded server's (started on demand)."""
    if settings.database_url:
        return settings.database_url
    return await trio.to_thread.run_sync(start_embedded, settings.embedded_pgdata)


@asynccontextmanager
async def open_store(settings: Settings, *, migrate: bool = True) -> AsyncIterator[Store]:
    """Connect (starting the embedded server if no URL is set), migrate, yield the Store.

    Owns the trio-asyncio loop and the connection; both close on exit.
    Errors: DatabaseUnavailable (one line, no password) when unreachable; RuntimeError
    when psycopg was imported before this module (before trio_asyncio).
    """
    if psycopg.waiting.get_running_loop is not asyncio.get_running_loop:
        # Its waits would not see trio_asyncio's loop: "no running event loop" at the
        # first connection, which does not say why.
        raise RuntimeError("psycopg was imported before scenescout_cli.store.db")
    url = await resolve_database_url(settings)
    async with trio_asyncio.open_loop():
        try:
            conn = await trio_asyncio.aio_as_trio(_connect)(url)
        except psycopg.OperationalError as exc:
            raise DatabaseUnavailable(
                f"cannot connect to {redact_url(url)}: {_first_line(exc)}"
            ) from None
        try:
            store = Store(conn, url)
            if migrate:
                await store.migrate()
            yield store
        finally:
            with trio.CancelScope(shield=True):
                await trio_asyncio.aio_as_trio(conn.close)()
