"""The store needs trio_asyncio imported before psycopg (store/db.py)."""

from __future__ import annotations

import subprocess
import sys

_SCRIPT = """
import tempfile
{first}
import trio
from scenescout_cli.config import load_settings
from scenescout_cli.store.db import open_store

async def main():
    settings = load_settings(
        {{
            "SCENESCOUT_DATA_DIR": tempfile.mkdtemp(),
            "SCENESCOUT_DATABASE_URL": "postgresql://scenescout@127.0.0.1:9/none",
        }}
    )
    try:
        async with open_store(settings, migrate=False):
            pass
    except RuntimeError as exc:
        print("refused:", exc)

trio.run(main)
"""


def test_psycopg_imported_first_is_refused_with_a_reason() -> None:
    """Imported before the store, psycopg would not see trio_asyncio's loop ("no running
    event loop" at the first connection): open_store says why, before any connection.
    Imported by the store itself, it is not refused (the check is not always true)."""
    runs = {}
    for first in ("import psycopg", ""):
        done = subprocess.run(
            [sys.executable, "-c", _SCRIPT.format(first=first)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        runs[first] = done.stdout + done.stderr
    assert "refused: psycopg was imported before scenescout_cli.store.db" in runs["import psycopg"]
    assert "refused:" not in runs[""]
    assert "DatabaseUnavailable" in runs[""]  # it went on to connect (nothing listens)
