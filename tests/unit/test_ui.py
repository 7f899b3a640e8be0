"""The progress sinks: live view and log lines tick on Trio's clock and show the figures."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import trio
import trio.testing
from rich.console import Console

from scenescout_cli.pipeline.stats import RunStats
from scenescout_cli.ui import LiveView, LogLines, NoProgress, choose_sink, summary
from scenescout_cli.ui.metrics import failure_text, prometheus_text, write_metrics
from scenescout_cli.ui.views import live_body, log_line


def _stats() -> RunStats:
    stats = RunStats(city="nyc")
    source = stats.source("ticketmaster")
    source.state, source.pages, source.records, source.requests = "running", 3, 600, 4
    source.queries_planned, source.queries_done = 3, 1
    source.activity = "Dec 01 00:00→Dec 08 00:00 · page 2/4"
    stats.stage("ingest").received = 600
    stats.inserted = 550
    stats.rejected["missing_title"] = 2
    return stats


def _render(renderable: object) -> str:
    console = Console(file=io.StringIO(), width=160, color_system=None)
    console.print(renderable)
    return console.file.getvalue()  # type: ignore[attr-defined]


async def test_the_live_body_shows_sources_stages_and_rates() -> None:
    """The live view names each source's progress, each stage's counts and the totals."""
    text = _render(live_body(_stats()))
    assert "ticketmaster" in text
    assert "page 2/4" in text
    assert "1/3" in text
    assert "ingest" in text
    assert "550 stored" in text
    assert "2 rejected" in text


async def test_the_summary_lists_rejects_by_reason() -> None:
    """The closing summary shows the stored count and rejects by reason."""
    stats = _stats()
    stats.status = "succeeded"
    text = _render(summary(stats))
    assert "succeeded" in text
    assert "missing_title 2" in text


async def test_the_summary_says_what_moved_only_when_something_did() -> None:
    """Records that left their event (a show postponed) and the events they left
    empty get a line of the summary, and the run's figures, when there are any."""
    stats = _stats()
    assert "moved" not in _render(summary(stats))
    stats.moved, stats.removed = 3, 2
    assert "3 records to another event, 2 events left empty" in _render(summary(stats))
    assert (stats.snapshot()["records_moved"], stats.snapshot()["events_removed"]) == (3, 2)


def test_auto_progress_is_log_lines_without_a_terminal() -> None:
    """`--progress auto` picks the live view on a terminal and log lines otherwise."""
    not_tty = Console(file=io.StringIO(), force_terminal=False)
    tty = Console(file=io.StringIO(), force_terminal=True)
    assert isinstance(choose_sink("auto", not_tty), LogLines)
    assert isinstance(choose_sink("auto", tty), LiveView)
    assert isinstance(choose_sink("none", tty), NoProgress)
    assert isinstance(choose_sink("log", tty), LogLines)


async def test_log_lines_come_every_interval(autojump_clock: trio.testing.MockClock) -> None:
    """Log lines: one at the start, then one per interval of Trio time, JSON on request."""
    stream = io.StringIO()
    stats = _stats()
    with trio.move_on_after(12.5):
        await LogLines(stream, json_format=True, interval=5.0).run(stats)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["event"] for line in lines] == ["started", "progress", "progress"]
    assert lines[-1]["events_stored"] == 550
    assert lines[-1]["sources"]["ticketmaster"]["records"] == 600


async def test_the_live_view_refreshes_from_a_trio_task(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The live view redraws on its own tick (4 per second) and stops when cancelled."""
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=True, width=160)
    view = LiveView(console, fps=4.0)
    stats = _stats()
    with trio.move_on_after(1.0):
        await view.run(stats)
    output = stream.getvalue()
    assert "ticketmaster" in output
    # 4 ticks in one second plus the final redraw; each redraw moves the cursor back up
    assert output.count("\x1b[2K") >= 4


async def test_a_plain_log_line_is_one_line() -> None:
    """The text log line is a single line with the key figures."""
    line = log_line(_stats())
    assert "\n" not in line
    assert "stored=550" in line
    assert "ticketmaster=running:3p/600r/0e" in line


async def test_metrics_are_prometheus_text(tmp_path: Path) -> None:
    """The metrics file holds one sample per figure, labelled, and is replaced atomically."""
    stats = _stats()
    stats.status = "partial"
    text = prometheus_text(stats, 1, now=1_800_000_000.0)
    assert 'scenescout_last_run_exit_code{city="nyc"} 1' in text
    assert 'scenescout_last_run_status{city="nyc",status="partial"} 1' in text
    assert 'scenescout_last_run_status{city="nyc",status="succeeded"} 0' in text
    assert 'scenescout_last_run_rejected{city="nyc",reason="missing_title"} 2' in text
    assert 'scenescout_source_records{city="nyc",source="ticketmaster"} 600' in text
    assert "scenescout_last_run_timestamp_seconds" in text
    for line in text.splitlines():
        assert line.startswith("#") or re.fullmatch(r"scenescout_\w+\{[^}]*\} -?[\d.e+]+", line), (
            line
        )
    path = tmp_path / "textfile" / "scenescout.prom"
    write_metrics(path, text)
    write_metrics(path, failure_text("nyc", 4, now=1.0))
    assert path.read_text() == failure_text("nyc", 4, now=1.0)
    assert [p.name for p in path.parent.iterdir()] == ["scenescout.prom"]
