"""What each CLI command does, apart from parsing (``cli.py``) and printing details.

Each function is a Trio coroutine (or a plain function) taking settled arguments.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import zoneinfo
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import trio
from rich.console import Console
from rich.table import Table

from .config import Settings
from .errors import ConfigError, ScenescoutError

# A pipe has no width: give tables room instead of folding them into 80 columns.
_console = Console() if sys.stdout.isatty() else Console(width=160)


def _zone_for(city: str | None) -> dt.tzinfo:
    if city:
        from .cities import city_from_slug

        try:
            return zoneinfo.ZoneInfo(city_from_slug(city).timezone)
        except ConfigError:
            return dt.UTC
    return dt.UTC


def parse_range(
    start: str | None, end: str | None, city: str | None
) -> tuple[dt.datetime, dt.datetime | None]:
    """``--from``/``--to`` → aware datetimes. Dates are midnights in the city's zone.

    ``--from`` defaults to now. ConfigError on a value that is not a date or datetime.
    """
    zone = _zone_for(city)

    def parse(text: str, flag: str) -> dt.datetime:
        try:
            if len(text) == 10:
                return dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), zone)
            value = dt.datetime.fromisoformat(text)
        except ValueError:
            raise ConfigError(
                f"{flag} must be a date (2026-12-01) or a time (2026-12-01T18:00), got {text!r}"
            ) from None
        return value if value.tzinfo else value.replace(tzinfo=zone)

    lower = parse(start, "--from") if start else dt.datetime.now(dt.UTC)
    upper = parse(end, "--to") if end else None
    if upper is not None and upper <= lower:
        raise ConfigError("--to must be after --from")
    return lower, upper


async def export_events(
    settings: Settings,
    city: str | None,
    start: dt.datetime,
    end: dt.datetime | None,
    category: str | None,
    limit: int | None,
    fmt: str,
    output: Path | None,
    order: str = "start",
) -> int:
    """Query the store and write the events in ``fmt`` to ``output`` (stdout when None)."""
    from .export import EventRow, write_events
    from .store.db import open_store

    async with open_store(settings) as store:
        rows = await store.events(
            city=city, start=start, end=end, category=category, limit=limit, order=order
        )
    events = [EventRow.from_mapping(row) for row in rows]
    if output is None:
        # a pipe has no width: give the table room instead of squeezing it to 80 columns
        width = None if sys.stdout.isatty() else 160
        # writing may block on a slow pipe: keep it off the Trio thread
        return await trio.to_thread.run_sync(
            lambda: write_events(events, fmt, sys.stdout, console_width=width)
        )

    def write_file() -> int:
        tmp = output.with_name(f".{output.name}.tmp")
        with tmp.open("w", encoding="utf-8", newline="") as fh:
            count = write_events(events, fmt, fh)
        os.replace(tmp, output)
        return count

    try:
        return await trio.to_thread.run_sync(write_file)
    except OSError as exc:
        raise ConfigError(f"cannot write {output}: {exc.strerror}") from None


def _duration(row: dict[str, Any]) -> str:
    if not row.get("finished_at"):
        return "—"
    seconds = (row["finished_at"] - row["started_at"]).total_seconds()
    return f"{seconds:.1f}s"


async def show_runs(settings: Settings, limit: int) -> None:
    from .store.db import open_store

    async with open_store(settings) as store:
        rows = await store.runs(limit)
    table = Table(title="crawl runs")
    for column in (
        "id",
        "city",
        "started",
        "took",
        "status",
        "stored",
        "new",
        "rejected",
        "errors",
    ):
        table.add_column(
            column,
            justify="right" if column in {"id", "stored", "new", "rejected", "errors"} else "left",
        )
    for row in rows:
        stats = row["stats"] or {}
        errors = sum(s.get("errors", 0) for s in stats.get("sources", {}).values())
        table.add_row(
            str(row["id"]),
            row["city"],
            f"{row['started_at']:%Y-%m-%d %H:%M:%S %Z}",
            _duration(row),
            row["status"],
            str(stats.get("events_stored", "")),
            str(stats.get("events_inserted", "")),
            str(sum((stats.get("rejected") or {}).values())),
            str(errors),
        )
    _console.print(table)


async def show_rejects(
    settings: Settings, limit: int, source: str | None, reason: str | None, as_json: bool
) -> None:
    """The latest rejected records: when, source, id, reason and detail (or JSON lines)."""
    import json

    from .store.db import open_store

    async with open_store(settings) as store:
        rows = await store.rejects(limit=limit, source=source, reason=reason)
    if as_json:
        for row in rows:
            print(json.dumps(row, default=str, ensure_ascii=False))
        return
    table = Table(title=f"rejected records (latest {len(rows)})")
    for column in ("when", "run", "source", "source id", "reason", "detail"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            f"{row['rejected_at']:%Y-%m-%d %H:%M}",
            str(row["run_id"] or ""),
            row["source"],
            row["source_id"] or "—",
            row["reason"],
            (row["detail"] or "")[:80],
        )
    _console.print(table)


async def show_sources(settings: Settings) -> None:
    from .sources.registry import KNOWN_SOURCES, configured_sources
    from .store.db import open_store

    configured, _ = configured_sources(settings)
    async with open_store(settings) as store:
        runs = await store.runs(50)
    table = Table(title="sources")
    for column in ("source", "configured", "rate limit", "paging cap", "last run"):
        table.add_column(column)
    for name, variable in KNOWN_SOURCES.items():
        src = configured.get(name)
        last = next((r for r in runs if name in (r["stats"] or {}).get("sources", {})), None)
        if last:
            s = last["stats"]["sources"][name]
            last_text = (
                f"#{last['id']} {last['city']} {last['started_at']:%Y-%m-%d %H:%M} "
                f"{s['state']}: {s['records']} records, {s['errors']} errors"
            )
        else:
            last_text = "never"
        if src:
            limits = f"{src.adapter.rate_per_second:g}/s"
            cap = f"{src.adapter.page_cap:,} per query"
        else:
            limits = cap = "—"
        table.add_row(name, "yes" if src else f"no ({variable} unset)", limits, cap, last_text)
    _console.print(table)


def show_cities() -> None:
    from .cities import presets

    table = Table(title="city presets (--city SLUG)")
    for column in ("slug", "name", "centre", "radius", "timezone", "country"):
        table.add_column(column)
    for city in presets():
        table.add_row(
            city.slug,
            city.name,
            f"{city.area.lat:.4f},{city.area.lon:.4f}",
            f"{city.area.radius_km:g} km",
            city.timezone,
            city.country,
        )
    _console.print(table)


async def train_model(settings: Settings) -> None:
    """Retrain the category classifier on the labelled set plus the stored events that
    their providers categorised; crawls use the result from then on."""
    from .enrich.classify import (
        LEGACY_TRAINED_MODEL,
        TRAINED_MODEL,
        category_from_provider,
        train_from_events,
    )
    from .store.db import open_store

    async with open_store(settings) as store:
        rows = await store.provider_labelled()
    path = settings.data_dir / TRAINED_MODEL

    def train() -> int:
        from .model import Event

        labelled = []
        for title, description, category in rows:
            event = Event(
                source="ticketmaster",
                source_id="-",
                title=title,
                starts_at=None,
                timezone=None,
                description=description,
                category=category,
            )
            labelled.append((title, description, category_from_provider(event)))
        model = train_from_events(labelled)
        path.parent.mkdir(parents=True, exist_ok=True)
        model.save(path)
        # the pickle an older version wrote is no longer used: the archive comes first
        (settings.data_dir / LEGACY_TRAINED_MODEL).unlink(missing_ok=True)
        return sum(1 for *_, c in labelled if c)

    used = await trio.to_thread.run_sync(train)
    _console.print(f"trained on the labelled set and {used:,} provider-labelled events: {path}")


async def migrate(settings: Settings) -> None:
    from .store.db import open_store

    async with open_store(settings, migrate=False) as store:
        applied = await store.migrate()
    _console.print(f"applied: {', '.join(applied)}" if applied else "schema is up to date")


async def db_info(settings: Settings) -> None:
    from .store.db import open_store

    async with open_store(settings) as store:
        info = await store.info()
    table = Table(title="database", show_header=False)
    table.add_column("what")
    table.add_column("value")
    kind = "embedded" if not settings.database_url else "external"
    table.add_row("server", f"PostgreSQL {info['server_version']} ({kind})")
    table.add_row("url", info["url"])
    if not settings.database_url:
        table.add_row("data dir", str(settings.embedded_pgdata))
    table.add_row("migrations", ", ".join(info["migrations"]) or "none")
    table.add_row("pending", ", ".join(info["pending"]) or "none")
    for name, count in info["rows"].items():
        table.add_row(f"rows: {name}", f"{count:,}")
    _console.print(table)


async def doctor(settings: Settings) -> bool:
    """Check configuration, keys, data dir and database; print one line each. True if all pass."""
    checks: list[tuple[str, bool, str]] = []
    checks.append(
        ("config", True, str(settings.config_file or "no config file; environment and defaults"))
    )
    for warning in settings.warnings:
        checks.append(("config", False, warning))
    checks.extend(await _probe_sources(settings))
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        probe = settings.data_dir / ".doctor-probe"
        probe.write_text("ok")
        probe.unlink()
        checks.append(("data dir", True, f"{settings.data_dir} is writable"))
    except OSError as exc:
        checks.append(("data dir", False, f"{settings.data_dir}: {exc.strerror}"))
    try:
        from .store.db import open_store

        async with open_store(settings) as store:
            info = await store.info()
        checks.append(("database", True, f"PostgreSQL {info['server_version']} at {info['url']}"))
    except ScenescoutError as exc:
        checks.append(("database", False, str(exc)))
    for what, ok, detail in checks:
        mark = f"[green]{'ok':>4}[/]" if ok else "[red]FAIL[/]"
        _console.print(f"{mark}  {what:<20} {detail}", highlight=False, soft_wrap=True)
    return all(ok for _, ok, _ in checks)


async def _probe_sources(settings: Settings) -> list[tuple[str, bool, str]]:
    """One cheap request per configured source (one page of one query, no retries)."""
    import random

    import httpx

    from .cities import city_from_slug
    from .pipeline.planner import crawl_window
    from .sources.governor import TokenBucket
    from .sources.http import RetryPolicy, SourceClient
    from .sources.registry import SOURCES, configured_sources

    configured, notices = configured_sources(settings)
    checks = []
    for notice in notices:
        name, _, reason = notice.partition(" ")
        checks.append((f"source {name}", True, reason))
    window = crawl_window(dt.datetime.now(dt.UTC), 1)
    async with httpx.AsyncClient(timeout=None) as http:
        for name, source in configured.items():
            client = SourceClient(
                adapter=source.adapter,
                base_url=source.base_url,
                http=http,
                bucket=TokenBucket(1.0),
                concurrency=trio.CapacityLimiter(1),
                request_timeout=15.0,
                retry=RetryPolicy(max_retries=0),
                rng=random.Random(),
            )
            query = source.adapter.plan(city_from_slug("nyc"), window)[0]
            try:
                await client.fetch_page(query, None)
            except ScenescoutError as exc:
                checks.append((f"source {name}", False, f"key set, but the probe failed: {exc}"))
            else:
                checks.append((f"source {name}", True, f"key accepted by {SOURCES[name].name}"))
    return checks


async def serve_sandbox(
    city: Any, port: int, events: int | None, rate_limit: bool, faults: str = "none"
) -> None:
    """Run the emulator until interrupted, printing how to point scenescout at it."""
    from .sandbox import serve

    async with trio.open_nursery() as nursery:
        info = await nursery.start(
            lambda task_status: serve(
                city,
                port=port,
                events=events,
                rate_limit=rate_limit,
                faults=faults,
                task_status=task_status,
            )
        )
        _console.print(
            f"sandbox for {city.slug} ({faults} faults): {info.event_count:,} Ticketmaster "
            f"events at {info.base_url}; point scenescout at it with:",
            soft_wrap=True,
        )
        for line in sandbox_environment(info):
            _console.print(f"  export {line}", soft_wrap=True, highlight=False)
        _console.print("Ctrl-C stops it.")


def read_sandbox_environment(lines: Iterable[str]) -> dict[str, str]:
    """The variables a starting ``sandbox serve`` prints (its ``export`` lines), read
    from its output up to "Ctrl-C stops it."; empty if it ended before printing them."""
    variables: dict[str, str] = {}
    for line in lines:
        if line.strip().startswith("export "):
            name, _, value = line.strip().removeprefix("export ").partition("=")
            variables[name] = value
        if line.startswith("Ctrl-C"):
            break
    return variables


def sandbox_environment(info: Any) -> list[str]:
    """``NAME=value`` lines that point scenescout at a running sandbox."""
    from .config import KEY_VARIABLES, URL_VARIABLES

    lines = []
    for name, url in sorted(info.urls.items()):
        if name in URL_VARIABLES:
            lines.append(f"{URL_VARIABLES[name]}={url}")
    for name, key in sorted(info.keys.items()):
        variable = KEY_VARIABLES.get("google" if name == "google_places" else name)
        if variable and key:
            lines.append(f"{variable}={key}")
    if info.eventbrite_organizers:
        lines.append(f"SCENESCOUT_EVENTBRITE_ORGANIZERS={','.join(info.eventbrite_organizers)}")
    if info.eventbrite_venues:
        lines.append(f"SCENESCOUT_EVENTBRITE_VENUES={','.join(info.eventbrite_venues)}")
    lines.append("SCENESCOUT_ALLOW_PRIVATE_NETWORK=1")
    return lines
