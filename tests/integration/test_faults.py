"""Crawls against a misbehaving sandbox (fault profiles), over real sockets into PostgreSQL."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from .processes import run_scenescout

pytestmark = pytest.mark.integration

_names = itertools.count()
SOURCES = ("ticketmaster", "eventbrite", "yelp", "meetup", "google_places")
#: three sources of different shapes keep the fault tests short
THREE_SOURCES = ["--source", "ticketmaster", "--source", "eventbrite", "--source", "yelp"]


def _query(url: str, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


@pytest.fixture
def reference_url(pg_server: tuple[Path, str]) -> Iterator[str]:
    """A second empty database, for the clean crawl."""
    _, admin = pg_server
    name = f"scenescout_clean_{next(_names)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield admin.replace("/postgres?", f"/{name}?")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
def impatient_config(tmp_path: Path) -> Path:
    """Short timeouts and cooldowns, so that hangs and open circuits cost seconds, not minutes."""
    path = tmp_path / "scenescout.toml"
    path.write_text(
        "".join(
            f"[sources.{name}]\nrequest_timeout = 2\nmax_backoff = 2\nbreaker_cooldown = 2\n"
            for name in SOURCES
        )
    )
    return path


def _window(url: str) -> tuple[object, object]:
    [(start, end)] = _query(
        url, "SELECT window_start, window_end FROM crawl_plans ORDER BY id LIMIT 1"
    )
    return start, end


def _content(url: str, start: object, end: object) -> list[tuple[object, ...]]:
    """Every provider record of the window as stored (its normalised form).

    Records, not canonical events: retries reorder pages, and which records a
    de-duplication chain groups can depend on the order they arrive in (see
    enrich/dedup.py); what faults must not change is which records are stored and how.
    """
    return _query(
        url,
        "SELECT es.source, es.source_id, es.record->>'title', es.record->>'starts_at',"
        " es.record->>'venue_name', es.record->>'lat', es.record->>'lon',"
        " es.record->>'status', es.record->>'url', es.content_hash"
        " FROM event_sources es JOIN events e ON es.event_id = e.id"
        " WHERE e.starts_at >= %s AND e.starts_at < %s ORDER BY es.source, es.source_id",
        (start, end),
    )


def test_a_flaky_crawl_ends_with_the_same_events_as_a_clean_one(
    database_url: str, reference_url: str, scenescout_env: dict[str, str], impatient_config: Path
) -> None:
    """Under the flaky profile, retries absorb every fault: same events, run succeeded."""
    crawl = [
        "--config",
        str(impatient_config),
        "crawl",
        "--city",
        "nyc",
        "--sandbox",
        "--no-images",
        "--progress",
        "log",
        "--log-format",
        "json",
        *THREE_SOURCES,
    ]
    clean = run_scenescout(crawl, {**scenescout_env, "SCENESCOUT_DATABASE_URL": reference_url})
    assert clean.returncode == 0, clean.stderr
    flaky = run_scenescout([*crawl, "--sandbox-faults", "flaky"], scenescout_env)
    assert flaky.returncode == 0, flaky.stderr + flaky.stdout
    [(stats,)] = _query(database_url, "SELECT stats FROM crawl_runs")
    assert stats["status"] == "succeeded"
    assert sum(s["retries"] for s in stats["sources"].values()) > 0
    start = max(_window(database_url)[0], _window(reference_url)[0])
    end = min(_window(database_url)[1], _window(reference_url)[1])
    flaky_events = _content(database_url, start, end)
    assert flaky_events == _content(reference_url, start, end)
    assert len(flaky_events) >= 2_000


def test_a_hostile_crawl_ends_in_time_partial_and_loses_nothing(
    database_url: str, scenescout_env: dict[str, str], impatient_config: Path
) -> None:
    """Hostile providers: the run stops at its deadline, partial, every fetched record kept."""
    started = time.monotonic()
    hostile = run_scenescout(
        [
            "--config",
            str(impatient_config),
            "crawl",
            "--city",
            "nyc",
            "--sandbox",
            "--no-images",
            "--sandbox-faults",
            "hostile",
            "--max-duration",
            "25s",
            "--progress",
            "log",
            "--log-format",
            "json",
        ],
        scenescout_env,
    )
    took = time.monotonic() - started
    assert hostile.returncode == 1, hostile.stderr
    assert took < 25 + 20  # the deadline plus start-up, draining and the final writes
    [(status, stats)] = _query(database_url, "SELECT status, stats FROM crawl_runs")
    assert status == "partial"
    fetched = sum(s["records"] for s in stats["sources"].values())
    [(events,)] = _query(database_url, "SELECT count(*) FROM event_sources")
    [(venues,)] = _query(database_url, "SELECT count(*) FROM venues")
    rejected = sum(stats["rejected"].values())
    assert fetched > 0
    assert events + venues + rejected + stats["duplicates_in_run"] == fetched
    assert stats["rejected"]  # hostile records that break the schema are rejected, not lost
