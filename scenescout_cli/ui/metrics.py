"""The run's figures in Prometheus text format, for node_exporter's textfile collector.

``write_metrics`` replaces the file atomically (write a temporary file beside it,
then rename), so the collector never reads half a file.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from ..pipeline.stats import RunStats

_STATUSES = ("succeeded", "partial", "failed", "interrupted")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: str) -> str:
    inner = ",".join(f'{key}="{_escape(value)}"' for key, value in labels.items())
    return f"{{{inner}}}"


def prometheus_text(stats: RunStats, exit_code: int, *, now: float | None = None) -> str:
    """The figures of one finished run as Prometheus exposition text."""
    city = stats.city
    lines: list[str] = []

    def metric(
        name: str, kind: str, help_text: str, samples: list[tuple[dict[str, str], float]]
    ) -> None:
        lines.append(f"# HELP scenescout_{name} {help_text}")
        lines.append(f"# TYPE scenescout_{name} {kind}")
        for labels, value in samples:
            lines.append(f"scenescout_{name}{_labels(**labels)} {value:g}")

    base = {"city": city}
    metric(
        "last_run_timestamp_seconds",
        "gauge",
        "When the last crawl ended (Unix time).",
        [(base, now if now is not None else time.time())],
    )
    metric(
        "last_run_duration_seconds",
        "gauge",
        "How long the last crawl took.",
        [(base, round(stats.elapsed(), 3))],
    )
    metric("last_run_exit_code", "gauge", "Exit code of the last crawl.", [(base, exit_code)])
    metric(
        "last_run_status",
        "gauge",
        "1 for the last crawl's status, 0 for the others.",
        [({**base, "status": s}, 1 if stats.status == s else 0) for s in _STATUSES],
    )
    metric(
        "last_run_events_stored",
        "gauge",
        "Events stored (new and seen again).",
        [(base, stats.stored)],
    )
    metric(
        "last_run_events_new", "gauge", "Events seen for the first time.", [(base, stats.inserted)]
    )
    metric(
        "last_run_rejected",
        "gauge",
        "Records rejected, by reason.",
        [({**base, "reason": reason}, count) for reason, count in sorted(stats.rejected.items())]
        or [({**base, "reason": "none"}, 0)],
    )
    sources = sorted(stats.sources.values(), key=lambda s: s.name)
    for name, help_text, attr in (
        ("source_requests", "Requests sent by the last crawl.", "requests"),
        ("source_records", "Records fetched by the last crawl.", "records"),
        ("source_errors", "Errors of the last crawl.", "errors"),
        ("source_rate_limited", "429 answers in the last crawl.", "rate_limited"),
        ("source_retries", "Retries in the last crawl.", "retries"),
    ):
        metric(
            name,
            "gauge",
            help_text,
            [({**base, "source": s.name}, getattr(s, attr)) for s in sources],
        )
    metric(
        "source_up",
        "gauge",
        "1 if the source finished its crawl, 0 if it failed.",
        [({**base, "source": s.name}, 0 if s.state == "failed" else 1) for s in sources],
    )
    quota = [
        ({**base, "source": s.name}, s.quota_left) for s in sources if s.quota_left is not None
    ]
    if quota:
        metric("source_quota_left", "gauge", "Requests left in the day's quota.", quota)  # type: ignore[arg-type]
    return "\n".join(lines) + "\n"


def failure_text(city: str, exit_code: int, *, now: float | None = None) -> str:
    """Metrics for a crawl that could not run (lock held, no database, bad configuration)."""
    base = _labels(city=city)
    stamp = now if now is not None else time.time()
    name = "scenescout_last_run"
    lines = [
        f"# HELP {name}_timestamp_seconds When the last crawl ended (Unix time).",
        f"# TYPE {name}_timestamp_seconds gauge",
        f"{name}_timestamp_seconds{base} {stamp:g}",
        f"# HELP {name}_exit_code Exit code of the last crawl.",
        f"# TYPE {name}_exit_code gauge",
        f"{name}_exit_code{base} {exit_code}",
    ]
    return "\n".join(lines) + "\n"


def write_metrics(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically. Blocking: call through ``trio.to_thread``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
