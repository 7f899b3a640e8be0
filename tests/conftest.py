"""Shared fixtures: a clean environment for every test."""

from __future__ import annotations

import os

import pytest

from scenescout_cli.config import KEY_VARIABLES, URL_VARIABLES

# The store imports trio_asyncio before psycopg (it patches what psycopg binds at
# import); test modules that import psycopg themselves are collected after this.
import scenescout_cli.store.db  # noqa: F401  # isort: skip


@pytest.fixture(autouse=True)
def _clean_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No test sees the developer's keys, URLs or config; each gets its own config dir."""
    for name in list(os.environ):
        if name.startswith("SCENESCOUT_"):
            monkeypatch.delenv(name)
    for name in (*KEY_VARIABLES.values(), *URL_VARIABLES.values()):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg-config")))
