"""Progress sinks: the live view (a terminal), log lines (cron), or nothing.

Each sink's ``run`` is a Trio task that samples the run's figures on its own tick
and returns only when cancelled; it never makes a stage wait. The live view uses
``auto_refresh=False`` and refreshes from this task: no refresh thread.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import TextIO

import trio
from rich.console import Console
from rich.live import Live

from ..pipeline.stats import RunStats
from . import views


class LiveView:
    """A rich live view, refreshed ``fps`` times a second."""

    def __init__(self, console: Console, fps: float = 4.0) -> None:
        self.console = console
        self.interval = 1.0 / fps

    async def run(self, stats: RunStats) -> None:
        with Live(console=self.console, auto_refresh=False, transient=True) as live:
            try:
                while True:
                    live.update(views.live_body(stats), refresh=True)
                    await trio.sleep(self.interval)
            finally:
                live.update(views.live_body(stats), refresh=True)


class LogLines:
    """A plain (or JSON) progress line every ``interval`` seconds."""

    def __init__(
        self, stream: TextIO | None = None, *, json_format: bool = False, interval: float = 5.0
    ) -> None:
        self.stream = stream or sys.stderr
        self.json_format = json_format
        self.interval = interval

    def emit(self, stats: RunStats, event: str = "progress") -> None:
        if self.json_format:
            record = {
                "ts": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "event": event,
                **stats.snapshot(),
            }
            line = json.dumps(record, separators=(",", ":"))
        else:
            stamp = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S")
            line = f"{stamp} {event:<8} {views.log_line(stats)}"
        print(line, file=self.stream, flush=True)

    async def run(self, stats: RunStats) -> None:
        self.emit(stats, "started")
        while True:
            await trio.sleep(self.interval)
            self.emit(stats)


class NoProgress:
    """Shows nothing while the run goes."""

    async def run(self, stats: RunStats) -> None:
        await trio.sleep_forever()


def choose_sink(
    progress: str, console: Console, *, json_logs: bool = False
) -> LiveView | LogLines | NoProgress:
    """``auto`` → the live view on a terminal, log lines otherwise."""
    if progress == "auto":
        progress = "live" if console.is_terminal else "log"
    if progress == "live":
        return LiveView(console)
    if progress == "log":
        return LogLines(json_format=json_logs)
    return NoProgress()
