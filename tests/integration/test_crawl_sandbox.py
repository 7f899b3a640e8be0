"""End to end: crawl the sandbox over real loopback sockets into real PostgreSQL."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import psycopg
import pytest

from .processes import run_scenescout, scenescout_executable

pytestmark = pytest.mark.integration


def _query(url: str, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def test_two_sandbox_crawls_store_every_event_once(
    database_url: str, scenescout_env: dict[str, str]
) -> None:
    """Two crawls of the nyc sandbox leave ≥ 2,000 events, no duplicates, and move last_seen_at."""
    first = run_scenescout(
        ["crawl", "--city", "nyc", "--sandbox", "--progress", "log"], scenescout_env
    )
    assert first.returncode == 0, first.stderr
    [(events, distinct_keys)] = _query(
        database_url,
        "SELECT count(*), count(DISTINCT (title, starts_at, venue_name)) FROM events",
    )
    assert events >= 2_000
    assert distinct_keys == events
    [(sources,)] = _query(database_url, "SELECT count(*) FROM event_sources")
    assert sources == events
    before = dict(_query(database_url, "SELECT id, last_seen_at FROM events"))
    first_seen = dict(_query(database_url, "SELECT id, first_seen_at FROM events"))

    second = run_scenescout(
        ["crawl", "--city", "nyc", "--sandbox", "--progress", "log"], scenescout_env
    )
    assert second.returncode == 0, second.stderr
    after = dict(_query(database_url, "SELECT id, last_seen_at FROM events"))
    # the window starts at "now", so the second crawl may miss events that just began
    assert len(after) == len(before)
    moved = sum(1 for key, seen in after.items() if seen > before[key])
    assert moved >= len(before) - 50
    assert dict(_query(database_url, "SELECT id, first_seen_at FROM events")) == first_seen

    runs = _query(database_url, "SELECT status, stats FROM crawl_runs ORDER BY id")
    assert [status for status, _ in runs] == ["succeeded", "succeeded"]
    stats = runs[1][1]
    assert stats["events_inserted"] == 0
    assert stats["events_stored"] >= 2_000
    assert stats["sources"]["ticketmaster"]["queries_split"] >= 1
    summary = (
        json.loads(second.stdout.strip().splitlines()[-1])
        if second.stdout.startswith("{")
        else None
    )
    assert summary is None or summary["status"] == "succeeded"


def test_the_summary_and_rows_carry_no_sandbox_key(
    database_url: str, scenescout_env: dict[str, str]
) -> None:
    """The API key appears in no output, stored URL or stored payload."""
    result = run_scenescout(
        ["crawl", "--city", "nyc", "--sandbox", "--progress", "log", "--log-format", "json"],
        scenescout_env,
    )
    assert result.returncode == 0, result.stderr
    key = "sandbox-ticketmaster-key"
    assert key not in result.stdout
    assert key not in result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["event"] == "summary"
    assert summary["events_stored"] >= 2_000
    [(leaks,)] = _query(
        database_url,
        f"SELECT count(*) FROM event_sources WHERE raw::text LIKE '%{key}%' OR url LIKE '%{key}%'",
    )
    assert leaks == 0


def test_sigint_stops_the_crawl_and_keeps_what_was_fetched(
    database_url: str, scenescout_env: dict[str, str]
) -> None:
    """SIGINT ends the crawl: exit 130, an `interrupted` run, every fetched record stored."""
    proc = subprocess.Popen(
        [
            scenescout_executable(),
            "crawl",
            "--city",
            "nyc",
            "--sandbox",
            "--progress",
            "log",
            "--log-format",
            "json",
            "--sandbox-events",
            "20000",
        ],
        env=scenescout_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    started = proc.stderr.readline()  # the log sink announces the run once it is under way
    assert '"event":"started"' in started, started
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    [(status, stats)] = _query(database_url, "SELECT status, stats FROM crawl_runs")
    assert status == "interrupted"
    [(events,)] = _query(database_url, "SELECT count(*) FROM events")
    fetched = stats["sources"]["ticketmaster"]["records"]
    assert events + stats["duplicates_in_run"] + sum(stats["rejected"].values()) == fetched


def test_a_second_crawl_of_the_city_exits_3(
    database_url: str, scenescout_env: dict[str, str]
) -> None:
    """While another session holds the city's lock, a crawl exits 3 with one line."""
    run_scenescout(["db", "migrate"], scenescout_env)
    with psycopg.connect(database_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(hashtext('scenescout:crawl:nyc'))")
        result = run_scenescout(
            ["crawl", "--city", "nyc", "--sandbox", "--progress", "none"], scenescout_env
        )
    assert result.returncode == 3
    assert result.stderr.strip() == "scenescout: another crawl of nyc is running (its lock is held)"


def test_events_reads_back_what_a_crawl_stored(
    database_url: str, scenescout_env: dict[str, str], tmp_path: Path
) -> None:
    """After a crawl, `events` prints a table and writes ICS and GeoJSON with true zones."""
    crawl = run_scenescout(
        ["crawl", "--city", "nyc", "--sandbox", "--progress", "none", "--quiet"], scenescout_env
    )
    assert crawl.returncode == 0, crawl.stderr
    assert crawl.stdout == ""
    table = run_scenescout(["events", "--city", "nyc", "--limit", "20"], scenescout_env)
    assert table.returncode == 0, table.stderr
    [(first_title,)] = _query(
        database_url,
        "SELECT title FROM events WHERE starts_at >= now() ORDER BY starts_at, title, id LIMIT 1",
    )
    assert first_title[:20] in table.stdout

    ics_path = tmp_path / "nyc.ics"
    ics = run_scenescout(
        ["events", "--city", "nyc", "--format", "ics", "-o", str(ics_path)], scenescout_env
    )
    assert ics.returncode == 0, ics.stderr
    text = ics_path.read_text(encoding="utf-8")
    assert text.startswith("BEGIN:VCALENDAR")
    assert "TZID:America/New_York" in text
    assert "BEGIN:VTIMEZONE" in text

    geo = run_scenescout(["events", "--city", "nyc", "--format", "geojson"], scenescout_env)
    collection = json.loads(geo.stdout)
    assert collection["type"] == "FeatureCollection"
    lon, lat = collection["features"][0]["geometry"]["coordinates"]
    assert -75 < lon < -73
    assert 40 < lat < 41.5
