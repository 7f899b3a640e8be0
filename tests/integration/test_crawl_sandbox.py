"""End to end: crawl the sandbox over real loopback sockets into real PostgreSQL."""

from __future__ import annotations

import datetime as dt
import functools
import json
import signal
import subprocess
from pathlib import Path

import httpx
import psycopg
import pytest
import trio
from psycopg.types.json import Jsonb

from scenescout_cli.commands import read_sandbox_environment

from .processes import run_scenescout, scenescout_executable

pytestmark = pytest.mark.integration


def _query(url: str, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


SANDBOX_KEYS = (
    "sandbox-ticketmaster-key",
    "sandbox-eventbrite-token",
    "sandbox-yelp-key",
    "sandbox-meetup-token",
    "sandbox-google-key",
)
#: Most tests need one source only; they crawl Ticketmaster (the quickest).
ONE_SOURCE = ["--source", "ticketmaster"]


def _sandbox_totals(start: dt.datetime, end: dt.datetime) -> dict[str, int]:
    """What the paging-capped sandbox APIs hold for nyc in [start, end], asked directly."""
    from scenescout_cli.cities import city_from_slug
    from scenescout_cli.sandbox import serve

    def z(moment: dt.datetime) -> str:
        return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    async def ask() -> dict[str, int]:
        city = city_from_slug("nyc")
        async with trio.open_nursery() as nursery:
            info = await nursery.start(functools.partial(serve, city, rate_limit=False))
            async with httpx.AsyncClient() as http:
                tm = await http.get(
                    f"{info.urls['ticketmaster']}/events.json",
                    params={
                        "apikey": info.keys["ticketmaster"],
                        "latlong": "40.7306,-73.9866",
                        "radius": "26",
                        "unit": "km",
                        "startDateTime": z(start),
                        "endDateTime": z(end - dt.timedelta(seconds=1)),
                        "size": "1",
                    },
                )
            nursery.cancel_scope.cancel()
        return {"ticketmaster": tm.json()["page"]["totalElements"]}

    return trio.run(ask)


def test_two_sandbox_crawls_of_every_source(
    database_url: str, scenescout_env: dict[str, str]
) -> None:
    """Two full sandbox crawls: every source, every Ticketmaster event past the paging cap,
    cross-source duplicates merged, no keys leaked, the second crawl only moves last_seen_at."""
    crawl = [
        "crawl",
        "--city",
        "nyc",
        "--sandbox",
        "--no-images",
        "--progress",
        "log",
        "--log-format",
        "json",
    ]
    first = run_scenescout(crawl, scenescout_env)
    assert first.returncode == 0, first.stderr
    [(events, distinct_keys)] = _query(
        database_url,
        "SELECT count(*), count(DISTINCT (title, starts_at, venue_name)) FROM events",
    )
    assert events >= 2_000
    assert distinct_keys == events
    stored = dict(_query(database_url, "SELECT source, count(*) FROM event_sources GROUP BY 1"))
    assert set(stored) == {"ticketmaster", "eventbrite", "yelp", "meetup"}
    [(venues,)] = _query(database_url, "SELECT count(*) FROM venues")
    assert venues >= 40
    assert sum(stored.values()) > events  # several providers list some of the same events
    [(cross_source,)] = _query(
        database_url,
        "SELECT count(*) FROM (SELECT event_id FROM event_sources GROUP BY event_id"
        " HAVING count(DISTINCT source) > 1) merged",
    )
    assert cross_source >= 50
    [(start, end)] = _query(database_url, "SELECT window_start, window_end FROM crawl_plans")
    [(tm_in_window,)] = _query(
        database_url,
        "SELECT count(*) FROM event_sources es JOIN events e ON e.id = es.event_id"
        f" WHERE es.source = 'ticketmaster' AND e.starts_at >= '{start.isoformat()}'"
        f" AND e.starts_at < '{end.isoformat()}'",
    )
    assert tm_in_window == _sandbox_totals(start, end)["ticketmaster"]
    for key in SANDBOX_KEYS:
        assert key not in first.stdout + first.stderr
        [(leaks,)] = _query(
            database_url,
            f"SELECT count(*) FROM event_sources WHERE raw::text LIKE '%{key}%'"
            f" OR url LIKE '%{key}%' OR record::text LIKE '%{key}%'",
        )
        assert leaks == 0
    summary = json.loads(first.stdout.strip().splitlines()[-1])
    assert summary["event"] == "summary"
    assert summary["merged_across_sources"] >= 50
    before = dict(_query(database_url, "SELECT id, last_seen_at FROM events"))
    first_seen = dict(_query(database_url, "SELECT id, first_seen_at FROM events"))

    second = run_scenescout(crawl, scenescout_env)
    assert second.returncode == 0, second.stderr
    after = dict(_query(database_url, "SELECT id, last_seen_at FROM events"))
    assert len(after) == len(before)
    moved = sum(1 for key, seen in after.items() if seen > before[key])
    # the window starts at "now", so the second crawl may miss events that just began
    assert moved >= len(before) - 50
    assert dict(_query(database_url, "SELECT id, first_seen_at FROM events")) == first_seen
    runs = _query(database_url, "SELECT status, stats FROM crawl_runs ORDER BY id")
    assert [status for status, _ in runs] == ["succeeded", "succeeded"]
    stats = runs[1][1]
    assert stats["events_inserted"] == 0
    assert stats["events_stored"] >= 2_000
    assert stats["sources"]["ticketmaster"]["queries_split"] >= 1


def _shift_stored(url: str, event_id: object, *, stale: tuple[str, ...]) -> None:
    """Make the store hold ``event_id`` three weeks earlier than the providers list it
    (the event's start and its records'), as if every provider had postponed it since
    the last crawl; the records of the ``stale`` sources look changed (their content
    hash), the others unchanged."""
    weeks = dt.timedelta(days=21)
    with psycopg.connect(url) as conn:
        conn.execute(
            "UPDATE events SET starts_at = starts_at - %s WHERE id = %s", (weeks, event_id)
        )
        rows = conn.execute(
            "SELECT source, source_id, record FROM event_sources WHERE event_id = %s", (event_id,)
        ).fetchall()
        for source, source_id, record in rows:
            start = dt.datetime.fromisoformat(record["starts_at"]) - weeks
            conn.execute(
                "UPDATE event_sources SET record = %s, content_hash ="
                " CASE WHEN %s THEN 'stale' ELSE content_hash END"
                " WHERE source = %s AND source_id = %s",
                (
                    Jsonb({**record, "starts_at": start.isoformat()}),
                    source in stale,
                    source,
                    source_id,
                ),
            )


def test_a_recrawl_moves_records_their_events_no_longer_hold(
    database_url: str, scenescout_env: dict[str, str]
) -> None:
    """Events stored three weeks before the date their providers list: a re-crawl finds
    each changed record's event by its identity and moves the record to the listed
    date. Where both listings changed, they end in one event at that date and the old
    event is deleted; where only Ticketmaster's did, the old event keeps Eventbrite's
    listing alone, merged again from it (its URL now, not Ticketmaster's)."""
    crawl = [
        "crawl",
        "--city",
        "nyc",
        "--sandbox",
        "--no-images",
        "--progress",
        "none",
        "--source",
        "ticketmaster",
        "--source",
        "eventbrite",
    ]
    first = run_scenescout(crawl, scenescout_env)
    assert first.returncode == 0, first.stderr
    pairs = _query(
        database_url,
        "SELECT e.id, e.starts_at, tm.source_id, eb.source_id, eb.url FROM events e"
        " JOIN event_sources tm ON tm.event_id = e.id AND tm.source = 'ticketmaster'"
        " JOIN event_sources eb ON eb.event_id = e.id AND eb.source = 'eventbrite'"
        " ORDER BY e.id LIMIT 6",
    )
    assert len(pairs) == 6
    both, one = pairs[:3], pairs[3:]
    for event_id, *_ in both:
        _shift_stored(database_url, event_id, stale=("ticketmaster", "eventbrite"))
    for event_id, *_ in one:
        _shift_stored(database_url, event_id, stale=("ticketmaster",))

    second = run_scenescout(crawl, scenescout_env)
    assert second.returncode == 0, second.stderr

    def home(source: str, source_id: str) -> tuple[object, object]:
        [row] = _query(
            database_url,
            "SELECT e.id, e.starts_at FROM event_sources es JOIN events e ON e.id = es.event_id"
            f" WHERE es.source = '{source}' AND es.source_id = '{source_id}'",
        )
        return row[0], row[1]

    remaining = {event_id for (event_id,) in _query(database_url, "SELECT id FROM events")}
    for old, listed_at, tm_id, eb_id, _ in both:
        assert home("ticketmaster", tm_id) == home("eventbrite", eb_id)
        assert home("ticketmaster", tm_id)[1] == listed_at
        assert old not in remaining
    for old, listed_at, tm_id, eb_id, eb_url in one:
        moved_to, starts_at = home("ticketmaster", tm_id)
        assert (moved_to != old, starts_at) == (True, listed_at)
        assert home("eventbrite", eb_id) == (old, listed_at - dt.timedelta(days=21))
        [(url,)] = _query(database_url, f"SELECT url FROM events WHERE id = '{old}'")
        assert url == eb_url
    [(stats,)] = _query(database_url, "SELECT stats FROM crawl_runs ORDER BY id DESC LIMIT 1")
    assert stats["records_moved"] >= 9  # both listings of three, Ticketmaster's of three
    assert stats["events_removed"] >= 3


def _start_large_crawl(env: dict[str, str]) -> subprocess.Popen[str]:
    """A 20,000-event sandbox crawl, returned once its log sink says it is under way."""
    proc = subprocess.Popen(
        [
            scenescout_executable(),
            "crawl",
            "--city",
            "nyc",
            "--sandbox",
            "--no-images",
            "--progress",
            "log",
            "--log-format",
            "json",
            "--sandbox-events",
            "20000",
            *ONE_SOURCE,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    started = proc.stderr.readline()
    assert '"event":"started"' in started, started
    return proc


def test_sigint_stops_the_crawl_and_keeps_what_was_fetched(
    database_url: str, scenescout_env: dict[str, str]
) -> None:
    """SIGINT ends the crawl: exit 130, an `interrupted` run, every fetched record stored."""
    proc = _start_large_crawl(scenescout_env)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    [(status, stats)] = _query(database_url, "SELECT status, stats FROM crawl_runs")
    assert status == "interrupted"
    fetched = stats["sources"]["ticketmaster"]["records"]
    [(sources,)] = _query(database_url, "SELECT count(*) FROM event_sources")
    assert sources + stats["duplicates_in_run"] + sum(stats["rejected"].values()) == fetched


def test_a_second_crawl_of_the_city_exits_3(
    database_url: str, scenescout_env: dict[str, str]
) -> None:
    """While another session holds the city's lock, a crawl exits 3 with one line."""
    run_scenescout(["db", "migrate"], scenescout_env)
    with psycopg.connect(database_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(hashtext('scenescout:crawl:nyc'))")
        result = run_scenescout(
            [
                "crawl",
                "--city",
                "nyc",
                "--sandbox",
                "--no-images",
                "--progress",
                "none",
                *ONE_SOURCE,
            ],
            scenescout_env,
        )
    assert result.returncode == 3
    assert result.stderr.strip() == "scenescout: another crawl of nyc is running (its lock is held)"


def test_events_reads_back_what_a_crawl_stored(
    database_url: str, scenescout_env: dict[str, str], tmp_path: Path
) -> None:
    """After a crawl, `events` prints a table and writes ICS and GeoJSON with true zones."""
    crawl = run_scenescout(
        [
            "crawl",
            "--city",
            "nyc",
            "--sandbox",
            "--no-images",
            "--progress",
            "none",
            "--quiet",
            *ONE_SOURCE,
        ],
        scenescout_env,
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


def test_a_crawl_processes_images_categories_and_quality(
    database_url: str, scenescout_env: dict[str, str], tmp_path: Path
) -> None:
    """Processing gives events optimised images, categories and quality; a re-crawl redoes none."""
    crawl = [
        "crawl",
        "--city",
        "miami",
        "--sandbox",
        "--progress",
        "log",
        "--log-format",
        "json",
        *ONE_SOURCE,
    ]
    first = run_scenescout(crawl, scenescout_env)
    assert first.returncode == 0, first.stderr
    [(stats,)] = _query(database_url, "SELECT stats FROM crawl_runs")
    assert stats["processing"]["images"] > 100
    [(images, with_variants)] = _query(
        database_url,
        "SELECT count(*), count(*) FILTER (WHERE jsonb_array_length(variants) >= 1) FROM images"
        " WHERE error IS NULL",
    )
    assert images == stats["processing"]["images"]
    assert with_variants == images
    [(variants,)] = _query(database_url, "SELECT variants FROM images LIMIT 1")
    media = Path(scenescout_env["SCENESCOUT_DATA_DIR"]) / "media"
    for variant in variants:
        assert (media / variant["path"]).is_file()
        assert (media / variant["path"]).read_bytes()[8:12] == b"WEBP"
    [(linked,)] = _query(database_url, "SELECT count(DISTINCT event_id) FROM event_images")
    assert linked >= images
    [(uncategorised, unscored)] = _query(
        database_url,
        "SELECT count(*) FILTER (WHERE category IS NULL),"
        " count(*) FILTER (WHERE quality_score IS NULL) FROM events",
    )
    assert uncategorised == 0
    assert unscored == 0
    best = run_scenescout(
        ["events", "--city", "miami", "--sort", "quality", "--format", "json", "--limit", "5"],
        scenescout_env,
    )
    scores = [event["quality_score"] for event in json.loads(best.stdout)]
    assert scores == sorted(scores, reverse=True)

    second = run_scenescout(crawl, scenescout_env)
    assert second.returncode == 0, second.stderr
    [(again,)] = _query(database_url, "SELECT stats FROM crawl_runs ORDER BY id DESC LIMIT 1")
    assert again["processing"]["images"] == 0


def test_doctor_probes_each_key_against_a_running_sandbox(
    scenescout_env: dict[str, str], tmp_path: Path
) -> None:
    """`doctor` makes one cheap call per key: exit 0 against the sandbox, 1 for a refused key."""
    server = subprocess.Popen(
        [scenescout_executable(), "sandbox", "serve", "--port", "0", "--city", "nyc"],
        env=scenescout_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        env = {**scenescout_env, **read_sandbox_environment(server.stdout)}
        assert "TICKETMASTER_API_KEY" in env
        healthy = run_scenescout(["doctor"], env)
        assert healthy.returncode == 0, healthy.stdout + healthy.stderr
        assert "source ticketmaster" in healthy.stdout
        assert "key accepted" in healthy.stdout
        refused = run_scenescout(["doctor"], {**env, "TICKETMASTER_API_KEY": "not-a-key"})
        assert refused.returncode == 1
        assert "FAIL" in refused.stdout
        assert "not-a-key" not in refused.stdout + refused.stderr
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            # Seen once in CI under load: not what this test checks (the benchmark's
            # smoke test stops sandboxes by SIGINT); never leak it into the next test.
            server.kill()
            server.communicate()


def test_metrics_file_and_rejects_after_a_crawl(
    database_url: str, scenescout_env: dict[str, str], tmp_path: Path
) -> None:
    """--metrics-file holds the run's figures; a locked crawl still writes its exit code;
    `rejects` lists what a hostile provider broke; `model train` retrains the classifier."""
    metrics = tmp_path / "textfile" / "scenescout.prom"
    # Three hostile sources for 15 s (as in test_faults): far too much to fetch in that
    # time, so the run ends partial, and with three sources at once pages arrive before
    # it ends. One source could not promise both: its world always spans 30 days (2,375
    # Ticketmaster events took 13 s to fetch once), and a larger world can take the
    # whole 15 s before its first page. Hung requests fail fast (after 3 s, not 30).
    sources = ("ticketmaster", "eventbrite", "yelp")
    config = tmp_path / "hostile.toml"
    config.write_text("".join(f"[sources.{name}]\nrequest_timeout = 3\n" for name in sources))
    crawl = run_scenescout(
        [
            "--config",
            str(config),
            "crawl",
            "--city",
            "nyc",
            "--sandbox",
            "--no-images",
            "--progress",
            "none",
            "--sandbox-faults",
            "hostile",
            "--max-duration",
            "15s",
            # a window of its own (never the resume of an earlier test's open plan)
            "--days",
            "90",
            *(option for name in sources for option in ("--source", name)),
            "--metrics-file",
            str(metrics),
        ],
        scenescout_env,
    )
    assert crawl.returncode == 1, crawl.stdout + crawl.stderr
    text = metrics.read_text()
    assert 'scenescout_last_run_exit_code{city="nyc"} 1' in text
    assert 'scenescout_last_run_status{city="nyc",status="partial"} 1' in text
    assert 'scenescout_source_requests{city="nyc",source="ticketmaster"}' in text

    listed = run_scenescout(["rejects", "--json", "--limit", "5"], scenescout_env)
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    # the newest five of what the run rejected, by the reasons it counted
    [(stats,)] = _query(database_url, "SELECT stats FROM crawl_runs")
    newest = _query(
        database_url,
        "SELECT id, source, reason FROM rejects ORDER BY rejected_at DESC, id DESC LIMIT 5",
    )
    assert newest
    assert [(row["id"], row["source"], row["reason"]) for row in rows] == newest
    assert {row["source"] for row in rows} <= set(sources)
    assert {row["reason"] for row in rows} <= set(stats["rejected"])
    table = run_scenescout(["rejects"], scenescout_env)
    assert all(row["reason"] in table.stdout for row in rows)

    with psycopg.connect(database_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(hashtext('scenescout:crawl:nyc'))")
        locked = run_scenescout(
            ["crawl", "--city", "nyc", "--sandbox", *ONE_SOURCE, "--metrics-file", str(metrics)],
            scenescout_env,
        )
    assert locked.returncode == 3
    assert 'scenescout_last_run_exit_code{city="nyc"} 3' in metrics.read_text()

    models = Path(scenescout_env["SCENESCOUT_DATA_DIR"]) / "models"
    models.mkdir(parents=True, exist_ok=True)
    (models / "classifier.joblib").write_bytes(b"an older version's model")
    trained = run_scenescout(["model", "train"], scenescout_env)
    assert trained.returncode == 0, trained.stderr
    assert str(models / "classifier.npz") in trained.stdout.replace("\n", "")
    assert [p.name for p in models.iterdir()] == ["classifier.npz"]  # the pickle is gone


def test_a_second_sigint_stops_at_once(database_url: str, scenescout_env: dict[str, str]) -> None:
    """A second SIGINT cancels everything: the crawl exits 130 without draining a large backlog."""
    proc = _start_large_crawl(scenescout_env)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    [(status,)] = _query(database_url, "SELECT status FROM crawl_runs")
    assert status == "interrupted"
