"""The command line: parse, then call one function. Exit codes live in ``exit_code_for``.

Exit codes: 0 success · 1 partial · 2 usage or configuration error · 3 lock held ·
4 database unavailable · 130 interrupted.
"""

from __future__ import annotations

import functools
import logging
import re
import sys
from collections.abc import Awaitable, Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from .errors import ConfigError, DatabaseUnavailable, LockHeld, ScenescoutError

T = TypeVar("T")

# rich_markup_mode=None: plain help. Typer's rich help imports rich.markdown and
# markdown-it on every --help (~0.2 s of 0.37 with typer 0.29; issue #7 wants < 0.3 s).
app = typer.Typer(
    name="scenescout",
    help="Find every public event in a city, from every source, into PostgreSQL.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True, rich_markup_mode=None)
sandbox_app = typer.Typer(
    help="The loopback provider emulator.", no_args_is_help=True, rich_markup_mode=None
)
model_app = typer.Typer(
    help="The category classifier.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(db_app, name="db")
app.add_typer(model_app, name="model")
app.add_typer(sandbox_app, name="sandbox")


class Progress(StrEnum):
    auto = "auto"
    live = "live"
    log = "log"
    none = "none"


class LogFormat(StrEnum):
    text = "text"
    json = "json"


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"
    ics = "ics"
    geojson = "geojson"


class EventOrder(StrEnum):
    start = "start"
    quality = "quality"


class Faults(StrEnum):
    none = "none"
    flaky = "flaky"
    hostile = "hostile"


_state: dict[str, Any] = {"debug": False, "config": None}

EXIT_CODES: list[tuple[type[ScenescoutError], int]] = [
    (ConfigError, 2),
    (LockHeld, 3),
    (DatabaseUnavailable, 4),
]


def exit_code_for(exc: BaseException) -> int:
    """The exit code of an error that ended a command (the one table)."""
    for kind, code in EXIT_CODES:
        if isinstance(exc, kind):
            return code
    if isinstance(exc, KeyboardInterrupt):
        return 130
    return 1


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in _leaves(sub)]
    return [exc]


def _fail(message: str, code: int) -> NoReturn:
    typer.echo(f"scenescout: {message}", err=True)
    raise typer.Exit(code)


def run(fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """``trio.run(fn, *args)``, with errors mapped to a one-line message and an exit code."""
    import trio

    try:
        return trio.run(fn, *args)
    except typer.Exit:
        raise
    except BaseException as exc:
        leaves = _leaves(exc)
        ours = [leaf for leaf in leaves if isinstance(leaf, ScenescoutError)]
        if isinstance(exc, KeyboardInterrupt) or any(
            isinstance(x, KeyboardInterrupt) for x in leaves
        ):
            _fail("interrupted", 130)
        if ours and len(ours) == len(leaves):
            if _state["debug"]:
                raise
            _fail(str(ours[0]), exit_code_for(ours[0]))
        if _state["debug"]:
            raise
        first = leaves[0]
        _fail(
            f"internal error: {type(first).__name__}: {first} (run with --debug for the traceback)",
            1,
        )


def _settings(**overrides: Any) -> Any:
    from .config import load_settings

    settings = load_settings(
        config_file=_state["config"],
        overrides={k: v for k, v in overrides.items() if v is not None},
    )
    for warning in settings.warnings:
        typer.echo(f"scenescout: warning: {warning}", err=True)
    return settings


def _settings_or_exit(**overrides: Any) -> Any:
    try:
        return _settings(**overrides)
    except ConfigError as exc:
        _fail(str(exc), 2)


def _city(city: str | None, near: str | None, radius: float | None) -> Any:
    from .cities import city_from_slug, city_near

    try:
        if near is not None:
            if city is not None:
                raise ConfigError("give either --city or --near, not both")
            return city_near(near, radius if radius is not None else 10.0)
        if city is None:
            raise ConfigError(
                "--city is required (or --near LAT,LON --radius KM); see `scenescout cities`"
            )
        if radius is not None:
            raise ConfigError("--radius goes with --near")
        return city_from_slug(city)
    except ConfigError as exc:
        _fail(str(exc), 2)


_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(text: str) -> float:
    """``25m``, ``1h30m``, ``90s`` or plain seconds → seconds; ConfigError otherwise."""
    text = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        value = float(text)
    else:
        match = _DURATION.match(text)
        if not text or not match:
            raise ConfigError(f"--max-duration must look like 25m, 1h30m or 90s, got {text!r}")
        hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
        value = hours * 3600 + minutes * 60 + seconds
    if value <= 0:
        raise ConfigError("--max-duration must be positive")
    return value


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
    config: Annotated[
        Path | None, typer.Option("--config", help="TOML config file (default ./scenescout.toml).")
    ] = None,
) -> None:
    """Find every public event in a city, from every source, into PostgreSQL."""
    _state["debug"] = debug
    _state["config"] = config
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its INFO lines print request URLs


@app.command()
def crawl(
    city: Annotated[str | None, typer.Option(help="City preset (see `scenescout cities`).")] = None,
    near: Annotated[str | None, typer.Option(help="LAT,LON centre instead of a preset.")] = None,
    radius: Annotated[float | None, typer.Option(help="Radius in km, with --near.")] = None,
    source: Annotated[
        list[str] | None, typer.Option("--source", help="Only this source (repeatable).")
    ] = None,
    days: Annotated[int, typer.Option(min=1, max=365, help="How many days ahead.")] = 30,
    sandbox: Annotated[bool, typer.Option(help="Crawl the built-in loopback emulator.")] = False,
    sandbox_faults: Annotated[
        Faults, typer.Option(help="With --sandbox: make the providers misbehave.")
    ] = Faults.none,
    max_duration: Annotated[
        str | None, typer.Option(help="Stop discovery after this long (25m, 1h).")
    ] = None,
    no_images: Annotated[bool, typer.Option("--no-images", help="Skip image processing.")] = False,
    progress: Annotated[
        Progress, typer.Option(help="Live view, log lines or nothing.")
    ] = Progress.auto,
    log_format: Annotated[
        LogFormat, typer.Option(help="Log lines as text or JSON.")
    ] = LogFormat.text,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors.")] = False,
    db: Annotated[
        str | None, typer.Option("--db", help="PostgreSQL URL (overrides the env).")
    ] = None,
    metrics_file: Annotated[
        Path | None,
        typer.Option(help="Write Prometheus metrics here at the end (atomically)."),
    ] = None,
    sandbox_events: Annotated[
        int | None, typer.Option(hidden=True, help="Sandbox size (tests, benchmarks).")
    ] = None,
    trace_file: Annotated[
        Path | None,
        typer.Option(hidden=True, help="Append the run's figures as JSON lines (benchmarks)."),
    ] = None,
) -> None:
    """Crawl one city: discover, normalise, store.

    Exit 0 ok, 1 partial, 2 bad usage, 3 locked, 4 no database, 130 interrupted.
    """
    from .pipeline.launch import CrawlOptions, launch_crawl  # not the pipeline: see launch
    from .sources.registry import KNOWN_SOURCES

    settings = _settings_or_exit(database_url=db)
    target = _city(city, near, radius)
    for name in source or ():
        if name not in KNOWN_SOURCES:
            _fail(f"unknown source {name!r}; known sources: {', '.join(KNOWN_SOURCES)}", 2)
    try:
        seconds = parse_duration(max_duration) if max_duration else None
    except ConfigError as exc:
        _fail(str(exc), 2)
    options = CrawlOptions(
        city=target,
        sources=tuple(source or ()),
        days=days,
        sandbox=sandbox,
        sandbox_events=sandbox_events,
        sandbox_faults=sandbox_faults.value,
        max_duration=seconds,
        images=not no_images,
        trace_file=trace_file,
    )
    from rich.console import Console

    from .ui import choose_sink, summary

    console = Console(stderr=False)
    sink = choose_sink(
        "none" if quiet else progress.value, console, json_logs=log_format is LogFormat.json
    )
    try:
        result = run(functools.partial(launch_crawl, settings, options, sink=sink))
    except typer.Exit as failed:
        if metrics_file is not None:
            _write_metrics(metrics_file, failure=(target.slug, failed.exit_code))
        raise
    if metrics_file is not None:
        _write_metrics(metrics_file, result=result)
    if not quiet:
        if log_format is LogFormat.json or (
            progress is Progress.log or (progress is Progress.auto and not console.is_terminal)
        ):
            from .ui import LogLines

            LogLines(sys.stdout, json_format=log_format is LogFormat.json).emit(
                result.stats, "summary"
            )
        else:
            console.print(summary(result.stats))
    elif result.exit_code:
        typer.echo(f"scenescout: crawl {target.slug} ended {result.status}", err=True)
    raise typer.Exit(result.exit_code)


def _write_metrics(
    path: Path, *, result: Any = None, failure: tuple[str, int] | None = None
) -> None:
    from .ui.metrics import failure_text, prometheus_text, write_metrics

    text = prometheus_text(result.stats, result.exit_code) if result else failure_text(*failure)  # type: ignore[misc]
    try:
        write_metrics(path, text)
    except OSError as exc:
        typer.echo(f"scenescout: cannot write metrics to {path}: {exc.strerror}", err=True)


@app.command()
def events(
    city: Annotated[str | None, typer.Option(help="Only this city (preset slug).")] = None,
    from_: Annotated[
        str | None, typer.Option("--from", help="Start date or time (default: now).")
    ] = None,
    to: Annotated[str | None, typer.Option(help="End date or time (exclusive).")] = None,
    category: Annotated[str | None, typer.Option(help="Only this category.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many events.")] = None,
    format_: Annotated[
        OutputFormat, typer.Option("--format", help="Output format.")
    ] = OutputFormat.table,
    sort: Annotated[
        EventOrder, typer.Option(help="By start time, or best quality first.")
    ] = EventOrder.start,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to FILE.")] = None,
    db: Annotated[str | None, typer.Option("--db", help="PostgreSQL URL.")] = None,
) -> None:
    """Print stored events as a table, or write JSON, JSONL, CSV, iCalendar or GeoJSON."""
    from . import commands
    from .model import CATEGORIES

    settings = _settings_or_exit(database_url=db)
    if category is not None and category not in CATEGORIES:
        _fail(f"unknown category {category!r}; categories: {', '.join(CATEGORIES)}", 2)
    try:
        start, end = commands.parse_range(from_, to, city)
    except ConfigError as exc:
        _fail(str(exc), 2)
    written = run(
        commands.export_events,
        settings,
        city,
        start,
        end,
        category,
        limit,
        format_.value,
        output,
        sort.value,
    )
    if output is not None:
        typer.echo(f"wrote {written} events to {output}", err=True)


@app.command()
def runs(
    limit: Annotated[int, typer.Option(min=1, help="How many runs.")] = 20,
    db: Annotated[str | None, typer.Option("--db", help="PostgreSQL URL.")] = None,
) -> None:
    """List past crawl runs with their status and figures."""
    from . import commands

    run(commands.show_runs, _settings_or_exit(database_url=db), limit)


@app.command()
def rejects(
    limit: Annotated[int, typer.Option(min=1, help="How many.")] = 50,
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    reason: Annotated[str | None, typer.Option(help="Only this reason.")] = None,
    json_lines: Annotated[
        bool, typer.Option("--json", help="JSON lines with the payloads.")
    ] = False,
    db: Annotated[str | None, typer.Option("--db", help="PostgreSQL URL.")] = None,
) -> None:
    """List recently rejected records with their reasons."""
    from . import commands

    run(
        commands.show_rejects, _settings_or_exit(database_url=db), limit, source, reason, json_lines
    )


@app.command()
def sources(
    db: Annotated[str | None, typer.Option("--db", help="PostgreSQL URL.")] = None,
) -> None:
    """Show each source adapter, whether it is configured, its limits and its last run."""
    from . import commands

    run(commands.show_sources, _settings_or_exit(database_url=db))


@app.command()
def cities() -> None:
    """List the city presets."""
    from . import commands

    commands.show_cities()


@app.command()
def doctor(
    db: Annotated[str | None, typer.Option("--db", help="PostgreSQL URL.")] = None,
) -> None:
    """Check configuration, keys, database and data dir."""
    from . import commands

    ok = run(commands.doctor, _settings_or_exit(database_url=db))
    raise typer.Exit(0 if ok else 1)


@app.command()
def bench(
    sizes: Annotated[
        str, typer.Option(help="Sandbox sizes in events, comma-separated (10k and 1M work too).")
    ] = "10000,100000,1000000",
    results: Annotated[
        Path, typer.Option(help="Directory for the JSON, the markdown and the traces.")
    ] = Path("bench/results"),
    images_size: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Events for the images-on crawl and its re-crawl "
            "(default: the smallest size, at most 2,000; 0 skips both).",
        ),
    ] = None,
    rate_limited_size: Annotated[
        int, typer.Option(min=1, help="Events for the crawl against the rate-limited sandbox.")
    ] = 5000,
    sigint_size: Annotated[
        int | None,
        typer.Option(min=1, help="Events for the SIGINT run (default: largest size ≤ 100k)."),
    ] = None,
    only: Annotated[
        str | None,
        typer.Option(help="Only these scenarios: throughput,images,recrawl,ratelimit,sigint,help."),
    ] = None,
    repeats: Annotated[
        int,
        typer.Option(
            min=1,
            help="Throughput runs, each with its floor, at sizes up to 10,000 events; "
            "the median ratio counts.",
        ),
    ] = 3,
) -> None:
    """Benchmark full crawls of the sandbox against the floor; JSON and markdown in --results."""
    from . import benchmark

    try:
        size_list = benchmark.parse_sizes(sizes)
        scenarios = benchmark.parse_scenarios(only)
    except ConfigError as exc:
        _fail(str(exc), 2)
    try:
        report = benchmark.run_suite(
            size_list,
            results,
            scenarios=scenarios,
            images_size=images_size,
            rate_limited_size=rate_limited_size,
            sigint_size=sigint_size,
            repeats=repeats,
        )
    except benchmark.BenchmarkError as exc:
        _fail(f"benchmark failed: {exc}", 1)
    typer.echo(f"wrote {report['files']['markdown']} and {report['files']['json']}")
    if report["errors"]:
        _fail(f"{len(report['errors'])} benchmark step(s) did not run; see the markdown", 1)


@model_app.command("train")
def model_train(
    db: Annotated[str | None, typer.Option("--db", help="PostgreSQL URL.")] = None,
) -> None:
    """Retrain the category classifier on your own provider-labelled events."""
    from . import commands

    run(commands.train_model, _settings_or_exit(database_url=db))


@db_app.command("migrate")
def db_migrate(
    db: Annotated[str | None, typer.Option("--db", help="PostgreSQL URL.")] = None,
) -> None:
    """Apply pending schema migrations."""
    from . import commands

    run(commands.migrate, _settings_or_exit(database_url=db))


@db_app.command("info")
def db_info(
    db: Annotated[str | None, typer.Option("--db", help="PostgreSQL URL.")] = None,
) -> None:
    """Show the database, its schema version and row counts."""
    from . import commands

    run(commands.db_info, _settings_or_exit(database_url=db))


@sandbox_app.command("serve")
def sandbox_serve(
    city: Annotated[str, typer.Option(help="City whose events the sandbox serves.")] = "nyc",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port on 127.0.0.1 (0: any).")] = 8765,
    events: Annotated[
        int | None, typer.Option(min=1, help="How many events (default per city).")
    ] = None,
    faults: Annotated[Faults, typer.Option(help="Fault profile.")] = Faults.none,
    rate_limit: Annotated[bool, typer.Option(help="Answer 429 past the providers' rates.")] = True,
) -> None:
    """Serve the provider emulator on 127.0.0.1 until interrupted."""
    from . import commands

    target = _city(city, None, None)
    run(commands.serve_sandbox, target, port, events, rate_limit, faults.value)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: usage errors become one line and exit code 2."""
    try:
        code = app(args=argv, standalone_mode=False)
    except typer.Abort:
        typer.echo("scenescout: interrupted", err=True)
        code = 130
    except typer.TyperException as exc:  # click's UsageError and friends
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        context = getattr(exc, "ctx", None)
        hint = f" (see `{context.command_path} --help`)" if context is not None else ""
        if message.strip():
            typer.echo(f"scenescout: {message}{hint}", err=True)
        code = getattr(exc, "exit_code", 2)
    sys.exit(code if isinstance(code, int) else 0)
