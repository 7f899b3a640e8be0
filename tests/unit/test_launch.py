"""How a crawl starts (pipeline/launch.py): the engine's process first, the pipeline's
imports and the embedded database beside it."""

from __future__ import annotations

import subprocess
import sys


def _modules_after(statement: str, names: tuple[str, ...]) -> list[str]:
    script = (
        "import sys\n"
        f"{statement}\n"
        f"print(' '.join(name for name in {names!r} if name in sys.modules) or 'none')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout.split()


def test_launching_imports_neither_the_pipeline_nor_the_engine() -> None:
    """What ``scenescout crawl`` imports before it starts the engine's process stays
    light, so that the pipeline's imports (database driver, HTTP, enrichment) and the
    engine's (de-duplication, adapters) are made while that process starts."""
    heavy = (
        "psycopg",
        "httpx",
        "PIL",
        "rapidfuzz",
        "scenescout_cli.store",
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
