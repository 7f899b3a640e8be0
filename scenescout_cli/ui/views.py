"""Rich renderables of a run: the live view's body and the final summary. Pure."""

from __future__ import annotations

import trio
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ..pipeline.stats import RunStats

_STATE_STYLE = {
    "waiting": "dim",
    "running": "cyan",
    "done": "green",
    "failed": "bold red",
    "skipped": "yellow",
}
_STATUS_STYLE = {
    "running": "cyan",
    "succeeded": "green",
    "partial": "yellow",
    "failed": "bold red",
    "interrupted": "magenta",
}


def _fmt_elapsed(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{seconds:.1f}s"


def header(stats: RunStats) -> Text:
    status = stats.status
    text = Text.assemble(
        ("scenescout ", "bold"),
        (f"crawl {stats.city}", "bold cyan"),
        "  ",
        (status, _STATUS_STYLE.get(status, "")),
        "  ",
        f"{_fmt_elapsed(stats.elapsed())}  ",
        (f"{stats.stored:,}", "bold"),
        " stored  ",
        (f"{stats.events_per_second():,.1f}", "bold"),
        " events/s  ",
        (f"{sum(stats.rejected.values()):,}", "yellow" if stats.rejected else ""),
        " rejected  ",
        (f"{stats.errors:,}", "red" if stats.errors else ""),
        " errors",
    )
    return text


def sources_table(stats: RunStats) -> Table:
    table = Table(title="sources", title_justify="left", expand=False, pad_edge=False)
    for column in (
        "source",
        "state",
        "rate/s",
        "quota left",
        "queries",
        "split",
        "pages",
        "records",
        "requests",
        "retries",
        "429s",
        "errors",
        "now",
    ):
        table.add_column(
            column,
            justify="left" if column in {"source", "state", "now"} else "right",
            no_wrap=True,
            overflow="ellipsis",
            max_width=44 if column == "now" else None,
            min_width=None if column == "now" else max(len(column), 5),
        )
    for s in stats.sources.values():
        now = s.activity if s.state == "running" else (s.last_error or "")
        state = s.state if s.breaker == "closed" else f"{s.state} ({s.breaker.replace('_', '-')})"
        table.add_row(
            s.name,
            Text(state, style=_STATE_STYLE.get(s.state, "")),
            f"{s.rate:.2g}",
            "—" if s.quota_left is None else f"{s.quota_left:,}",
            f"{s.queries_done}/{s.queries_planned}",
            str(s.queries_split),
            f"{s.pages:,}",
            f"{s.records:,}",
            f"{s.requests:,}",
            str(s.retries),
            str(s.rate_limited),
            Text(str(s.errors), style="red" if s.errors else ""),
            Text(now[:70], style="red" if s.state == "failed" else "dim"),
        )
    return table


def stages_table(stats: RunStats) -> Table:
    table = Table(title="stages", title_justify="left", expand=False, pad_edge=False)
    for column in ("stage", "in", "out", "queue", "errors"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    order = {name: i for i, name in enumerate(("ingest", "process", "store"))}
    for s in sorted(stats.stages.values(), key=lambda stage: order.get(stage.name, 99)):
        capacity = int(s.capacity) if s.capacity != float("inf") else 0
        table.add_row(
            s.name,
            f"{s.received:,}",
            f"{s.sent:,}",
            f"{s.depth}/{capacity}",
            Text(str(s.errors), style="yellow" if s.errors else ""),
        )
    return table


def workers_table(stats: RunStats) -> Table | None:
    """The subprocess pool: each worker's state, jobs, mean time, error rate, heartbeat."""
    if stats.pool is None:
        return None
    pool = stats.pool.stats
    enrich = stats.enrich
    caption = (
        f"{pool.running}/{pool.size} busy · {pool.queued} waiting · {pool.done} done"
        f" · {pool.retried} retried · {pool.quarantined} quarantined"
    )
    if enrich is not None:
        caption += (
            f"\nimages {enrich.images} ok, {enrich.images_failed} failed, "
            f"{enrich.images_skipped} known · classified {enrich.classified} · "
            f"geocoded {enrich.geocoded} · venue coords {enrich.from_venue}"
        )
    table = Table(
        title="workers",
        title_justify="left",
        caption=caption,
        caption_justify="left",
        expand=False,
        pad_edge=False,
    )
    for column in ("worker", "state", "jobs", "mean", "errors", "heartbeat"):
        table.add_column(column, justify="left" if column in {"worker", "state"} else "right")
    now = trio.current_time()
    for worker in pool.workers:
        beat = "—" if worker.last_heartbeat is None else f"{now - worker.last_heartbeat:.1f}s ago"
        table.add_row(
            f"#{worker.slot}",
            Text(worker.state, style={"busy": "cyan", "error": "red"}.get(worker.state, "dim")),
            str(worker.jobs),
            f"{worker.mean_seconds * 1000:.0f} ms",
            f"{worker.error_rate:.0%}",
            beat,
        )
    return table


def live_body(stats: RunStats) -> RenderableType:
    """What the live view shows on each refresh."""
    parts: list[RenderableType] = [header(stats), sources_table(stats), stages_table(stats)]
    workers = workers_table(stats)
    if workers is not None:
        parts.append(workers)
    for notice in stats.notices[-3:]:
        parts.append(Text(f"• {notice}", style="yellow"))
    return Group(*parts)


def summary(stats: RunStats) -> RenderableType:
    """The table that ends a run."""
    table = Table(
        title=f"crawl {stats.city}: {stats.status}", title_justify="left", show_header=False
    )
    table.add_column("figure")
    table.add_column("value", justify="right")
    rows: list[tuple[str, str | Text]] = [
        ("status", Text(stats.status, style=_STATUS_STYLE.get(stats.status, ""))),
        ("elapsed", _fmt_elapsed(stats.elapsed())),
        ("events stored", f"{stats.stored:,}"),
        ("  new", f"{stats.inserted:,}"),
        ("  seen again", f"{stats.updated:,}"),
        ("events per second", f"{stats.events_per_second():,.1f}"),
        ("rejected", ", ".join(f"{k} {v}" for k, v in stats.rejected.most_common()) or "0"),
        ("merged across sources", f"{stats.merged_across_sources:,}"),
        ("venues", f"{stats.venues:,}"),
    ]
    if stats.moved or stats.removed:
        rows.append(
            (
                "moved",
                f"{stats.moved:,} records to another event, {stats.removed:,} events left empty",
            )
        )
    if stats.enrich is not None:
        e = stats.enrich
        rows.append(
            (
                "images",
                f"{e.images:,} optimised, {e.images_failed} failed, {e.images_skipped:,} known",
            )
        )
        rows.append(("places", f"{e.from_venue} from venues, {e.geocoded} geocoded"))
    for s in stats.sources.values():
        rows.append(
            (
                f"{s.name}",
                f"{s.state}: {s.records:,} records, {s.pages:,} pages, "
                f"{s.requests:,} requests, {s.errors} errors",
            )
        )
    for label, value in rows:
        table.add_row(label, value)
    notices = [Text(f"• {n}", style="yellow") for n in stats.notices]
    return Group(table, *notices)


def log_line(stats: RunStats) -> str:
    """One plain progress line for cron logs."""
    sources = " ".join(
        f"{s.name}={s.state}:{s.pages}p/{s.records}r/{s.errors}e" for s in stats.sources.values()
    )
    depths = " ".join(f"{s.name}_q={s.depth}" for s in stats.stages.values())
    return (
        f"crawl {stats.city} {stats.status} elapsed={stats.elapsed():.1f}s stored={stats.stored} "
        f"rate={stats.events_per_second():.1f}/s rejected={sum(stats.rejected.values())} "
        f"errors={stats.errors} {sources} {depths}"
    ).rstrip()
