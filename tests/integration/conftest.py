"""Real PostgreSQL for integration tests: one embedded server per test session,
a fresh database per test."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from scenescout_cli.store.server import start_embedded

_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """(data dir, admin URL) of an embedded server started for this session."""
    data_dir = tmp_path_factory.mktemp("scenescout-data")
    url = start_embedded(data_dir / "pgdata")
    return data_dir, url


def _psql(url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture
def database_url(pg_server: tuple[Path, str]) -> Iterator[str]:
    """A URL of a new, empty database on the session's server."""
    _, admin = pg_server
    name = f"scenescout_test_{next(_counter)}"
    _psql(admin, f"CREATE DATABASE {name}")
    yield admin.replace("/postgres?", f"/{name}?")
    _psql(admin, f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
def scenescout_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    """Environment for a scenescout subprocess using the test database."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("SCENESCOUT_")}
    env.update(
        {"SCENESCOUT_DATABASE_URL": database_url, "SCENESCOUT_DATA_DIR": str(tmp_path / "data")}
    )
    for key in (
        "TICKETMASTER_API_KEY",
        "EVENTBRITE_TOKEN",
        "YELP_API_KEY",
        "MEETUP_TOKEN",
        "GOOGLE_MAPS_API_KEY",
    ):
        env.pop(key, None)
    return env
