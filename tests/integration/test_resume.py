"""Crash-safe and incremental crawls, with real processes, sockets and PostgreSQL.

A sandbox crawl is killed (SIGKILL) at several points; run again with the same
arguments it fetches only what remained and ends with the database an
uninterrupted crawl gives.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from scenescout_cli.pipeline import capacities

from .processes import run_scenescout

pytestmark = pytest.mark.integration

CRAWL = [
    "crawl",
    "--city",
    "nyc",
    "--sandbox",
    "--no-images",
    "--progress",
    "log",
    "--log-format",
    "json",
    "--source",
    "ticketmaster",
    "--source",
    "eventbrite",
]
_names = itertools.count()


def _query(url: str, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


@pytest.fixture
def reference_url(pg_server: tuple[Path, str]) -> Iterator[str]:
    """A second empty database, for the uninterrupted crawl."""
    _, admin = pg_server
    name = f"scenescout_reference_{next(_names)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield admin.replace("/postgres?", f"/{name}?")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


def _window(url: str) -> tuple[object, object]:
    [(start, end)] = _query(
        url, "SELECT window_start, window_end FROM crawl_plans ORDER BY id LIMIT 1"
    )
    return start, end


def _content(url: str, start: object, end: object) -> list[tuple[object, ...]]:
    """What a crawl decided about the events in [start, end), without its own timestamps.

    Each record's canonical event is named by the first of its records (source, id)
    rather than by its id: an id is the first-seen record's, and which of two sources'
    records of one event arrives first varies from run to run (concurrent fetchers).
    The grouping and the merged content must match; the id need not.
    The sandbox's port shows in its image URLs (and so in the records' hashes); it is
    the same from crawl to crawl unless the port was busy, so it is left out.
    """
    return _query(
        url,
        "SELECT es.source, es.source_id,"
        " (SELECT min(m.source || ':' || m.source_id) FROM event_sources m"
        "  WHERE m.event_id = e.id), e.title, e.starts_at, e.ends_at,"
        " e.timezone, e.venue_name, e.address, e.lat, e.lon, e.category, e.price_min,"
        " e.price_max, e.status, e.url, regexp_replace(e.image_url, ':[0-9]+/', ':PORT/'),"
        " e.description, e.quality_score"
        " FROM events e JOIN event_sources es ON es.event_id = e.id"
        " WHERE e.starts_at >= %s AND e.starts_at < %s ORDER BY es.source, es.source_id",
        (start, end),
    )


def _rejects(url: str) -> list[tuple[object, ...]]:
    return _query(url, "SELECT source, record_key, reason FROM rejects ORDER BY 1, 2, 3")


@pytest.mark.parametrize("crash", ["after:1", "before-commit:2", "after:4"])
def test_a_killed_crawl_resumes_to_the_same_database(
    crash: str, database_url: str, reference_url: str, scenescout_env: dict[str, str]
) -> None:
    """Killed between or inside batches, a crawl resumes and ends as an uninterrupted one."""
    reference_env = {**scenescout_env, "SCENESCOUT_DATABASE_URL": reference_url}
    reference = run_scenescout(CRAWL, reference_env)
    assert reference.returncode == 0, reference.stderr
    [(full_stats,)] = _query(reference_url, "SELECT stats FROM crawl_runs")

    killed = run_scenescout(CRAWL, {**scenescout_env, "SCENESCOUT_TEST_CRASH": crash})
    assert killed.returncode == -9, killed.stderr
    [(status,)] = _query(database_url, "SELECT status FROM crawl_runs")
    assert status == "running"  # it never got to record its end
    committed = _query(
        database_url, "SELECT coalesce(sum(pages), 0) FROM query_progress WHERE state <> 'split'"
    )[0][0]
    if crash.startswith("after"):
        assert committed > 0

    resumed = run_scenescout(CRAWL, scenescout_env)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming the unfinished crawl" in resumed.stdout + resumed.stderr
    [(resumed_stats,)] = _query(
        database_url, "SELECT stats FROM crawl_runs WHERE status = 'succeeded'"
    )
    pages_full = sum(s["pages"] for s in full_stats["sources"].values())
    pages_resumed = sum(s["pages"] for s in resumed_stats["sources"].values())
    in_flight = capacities.RAW_PAGES + 2 * capacities.SOURCE_CONCURRENCY * len(
        full_stats["sources"]
    )
    assert pages_resumed + committed <= pages_full + in_flight
    assert pages_resumed < pages_full or committed == 0

    start = max(_window(database_url)[0], _window(reference_url)[0])
    end = min(_window(database_url)[1], _window(reference_url)[1])
    assert _content(database_url, start, end) == _content(reference_url, start, end)
    assert len(_content(database_url, start, end)) >= 2_000
    assert _rejects(database_url) == _rejects(reference_url)
    [(open_plans,)] = _query(database_url, "SELECT count(*) FROM crawl_plans WHERE status = 'open'")
    assert open_plans == 0


def test_an_unchanged_recrawl_skips_the_work(
    database_url: str, scenescout_env: dict[str, str]
) -> None:
    """A second crawl finds every record unchanged: nothing is rewritten, last_seen_at
    moves. It splits the queries that hold one the first crawl had to split without
    fetching their first page."""
    first = run_scenescout(CRAWL, scenescout_env)
    assert first.returncode == 0, first.stderr
    updated_before = dict(_query(database_url, "SELECT id, updated_at FROM events"))
    second = run_scenescout(CRAWL, scenescout_env)
    assert second.returncode == 0, second.stderr
    [(stats,)] = _query(database_url, "SELECT stats FROM crawl_runs ORDER BY id DESC LIMIT 1")
    assert stats["events_inserted"] == 0
    assert stats["events_updated"] == 0
    assert stats["events_unchanged"] >= 2_000
    assert stats["sources"]["ticketmaster"]["unchanged"] >= 2_000
    assert dict(_query(database_url, "SELECT id, updated_at FROM events")) == updated_before
    [(state,)] = _query(
        database_url, "SELECT unchanged FROM source_state WHERE source = 'ticketmaster'"
    )
    assert state >= 2_000
    [(first_stats,), _] = _query(database_url, "SELECT stats FROM crawl_runs ORDER BY id")
    before, after = first_stats["sources"]["ticketmaster"], stats["sources"]["ticketmaster"]
    assert before["queries_split"] > 0
    assert before["splits_ahead"] == 0
    assert after["splits_ahead"] > 0
    assert after["requests"] < before["requests"]
