"""The ``scenescout`` console script and ``python -m scenescout_cli``.

It imports the command line only when it runs. Each process the crawl spawns (the
ingestion engine and the worker pool, through multiprocessing's "spawn") first
imports the parent's main module — the console script or this module — under the
name ``__mp_main__``, where ``main`` is not called. Importing ``cli`` there would load
typer and click in each of them for nothing: ~170 M instructions a process, at the
crawl's start, while every process starts at once on the same cores.
"""

from __future__ import annotations


def main() -> None:
    """Run the command line (``cli.main``); exits the process with its code."""
    from .cli import main as run_command_line

    run_command_line()


if __name__ == "__main__":
    main()
