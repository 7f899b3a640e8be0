"""The ``scenescout`` console script and ``python -m scenescout_cli``.

It imports the command line only when it runs. Each process the crawl spawns (the
ingestion engine and the worker pool, through multiprocessing's "spawn") first
imports the parent's main module — the console script or this module — under the
name ``__mp_main__``, where ``main`` is not called. Importing ``cli`` there would load
typer and click in each of them for nothing: ~170 M instructions a process, at the
crawl's start, while every process starts at once on the same cores.

Imports run with the garbage collector off: they build tens of thousands of objects
and leave next to no garbage, and the collections they set off (~150 of a growing
heap) were ~15% of a crawl's import time.
"""

from __future__ import annotations

import gc


def main() -> None:
    """Run the command line (``cli.main``); exits the process with its code."""
    gc.disable()
    try:
        from .cli import main as run_command_line
    finally:
        gc.enable()
    run_command_line()


if __name__ == "__main__":
    main()
