"""The benchmark suite: crawl a sandbox served by a separate process, against a floor.

For each size, ``scenescout sandbox serve --no-rate-limit`` runs in its own process
(so the emulator's CPU is not charged to the pipeline) with that many Ticketmaster
events, and two things are timed against it, each on a fresh embedded PostgreSQL:

- **scenescout**: ``scenescout crawl --source ticketmaster --no-images`` with the rate
  limits lifted (rate 1,000/s, burst 50, 4 concurrent requests) — the whole pipeline;
- **floor**: the least a crawler could do — fetch the same pages (day windows, pages
  of 200), parse them, and COPY the raw records into a table of the same PostgreSQL.

It reports events per second for both and their ratio (one run: read ratios, not
seconds, on a shared machine), peak RSS of the crawl, and writes JSON and a markdown
table under ``bench/results/``. Blocking (subprocesses): a plain script, not Trio.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

TM_PAGE = 200


def _executable() -> str:
    return shutil.which("scenescout", path=str(Path(sys.executable).parent)) or "scenescout"


def _serve(events: int, env: dict[str, str]) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """Start the sandbox; return it and the variables that point a crawl at it."""
    proc = subprocess.Popen(
        [
            _executable(),
            "sandbox",
            "serve",
            "--port",
            "0",
            "--events",
            str(events),
            "--no-rate-limit",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    variables: dict[str, str] = {}
    for line in proc.stdout:
        if line.strip().startswith("export "):
            name, _, value = line.strip().removeprefix("export ").partition("=")
            variables[name] = value
        if line.startswith("Ctrl-C"):
            break
    if "SCENESCOUT_TICKETMASTER_URL" not in variables:
        proc.kill()
        _, err = proc.communicate()
        raise RuntimeError(f"the sandbox did not start: {err.strip()[-500:]}")
    return proc, variables


def _peak_rss(proc: subprocess.Popen[str]) -> tuple[int, float]:
    """Wait for ``proc``; return its exit code and peak RSS (MiB) of it and its children."""
    peak = 0
    ps = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            rss = ps.memory_info().rss + sum(
                c.memory_info().rss for c in ps.children(recursive=True)
            )
        except psutil.Error:
            rss = 0
        peak = max(peak, rss)
        time.sleep(0.05)
    return proc.returncode, peak / 2**20


def _crawl(env: dict[str, str], data_dir: Path) -> dict[str, Any]:
    config = data_dir / "bench.toml"
    config.write_text(
        "[sources.ticketmaster]\nrate_per_second = 1000\nrate_burst = 50\nconcurrency = 4\n"
        "daily_quota = 1000000\n"
    )
    crawl_env = {**env, "SCENESCOUT_DATA_DIR": str(data_dir)}
    started = time.perf_counter()
    proc = subprocess.Popen(
        [
            _executable(),
            "--config",
            str(config),
            "crawl",
            "--city",
            "nyc",
            "--source",
            "ticketmaster",
            "--no-images",
            "--progress",
            "none",
            "--log-format",
            "json",
        ],
        env=crawl_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    code, peak = _peak_rss(proc)
    took = time.perf_counter() - started
    out, err = proc.communicate()
    if code != 0:
        raise RuntimeError(f"crawl exited {code}: {err.strip()[-500:]}")
    summary = json.loads(out.strip().splitlines()[-1])
    return {
        "seconds": took,
        "events": summary["events_stored"],
        "peak_rss_mib": peak,
        "stages": summary["stages"],
    }


def _floor(env: dict[str, str], data_dir: Path) -> dict[str, Any]:
    """Fetch the same pages, parse them and COPY the raw records into PostgreSQL."""
    import psycopg  # only the floor needs a synchronous client

    from .store.server import start_embedded

    url = start_embedded(data_dir / "pgdata")
    base = env["SCENESCOUT_TICKETMASTER_URL"]
    key = env["TICKETMASTER_API_KEY"]
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    started = time.perf_counter()
    rows = 0
    with psycopg.connect(url) as conn, httpx.Client(timeout=60) as http:
        conn.execute("CREATE TABLE IF NOT EXISTS floor_raw (id text, raw jsonb)")
        for day in range(31):
            start = now + dt.timedelta(days=day)
            end = start + dt.timedelta(days=1) - dt.timedelta(seconds=1)
            page = 0
            while True:
                response = http.get(
                    f"{base}/events.json",
                    params={
                        "apikey": key,
                        "latlong": "40.7306,-73.9866",
                        "radius": "26",
                        "unit": "km",
                        "startDateTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "endDateTime": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "size": str(TM_PAGE),
                        "page": str(page),
                        "sort": "id,asc",
                    },
                )
                body = response.json()
                events = body.get("_embedded", {}).get("events", [])
                with conn.cursor() as cur, cur.copy("COPY floor_raw (id, raw) FROM STDIN") as copy:
                    for event in events:
                        copy.write_row((event["id"], json.dumps(event)))
                conn.commit()
                rows += len(events)
                total = body["page"]["totalElements"]
                page += 1
                if page * TM_PAGE >= min(total, 1000):
                    break
    return {"seconds": time.perf_counter() - started, "events": rows}


def run_suite(sizes: list[int], results_dir: Path) -> dict[str, Any]:
    """Run every size; write ``results_dir/bench-<stamp>.json`` and ``.md``; return the figures."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCENESCOUT_")}
    rows = []
    for size in sizes:
        server, variables = _serve(size, env)
        try:
            sandbox_env = {**env, **variables}
            with (
                tempfile.TemporaryDirectory() as crawl_dir,
                tempfile.TemporaryDirectory() as floor_dir,
            ):
                crawl = _crawl(sandbox_env, Path(crawl_dir))
                floor = _floor(sandbox_env, Path(floor_dir))
        finally:
            server.send_signal(signal.SIGINT)
            server.communicate(timeout=60)
        crawl_rate = crawl["events"] / crawl["seconds"]
        floor_rate = floor["events"] / floor["seconds"]
        rows.append(
            {
                "size": size,
                "events": crawl["events"],
                "crawl_seconds": round(crawl["seconds"], 2),
                "crawl_events_per_s": round(crawl_rate, 1),
                "floor_events": floor["events"],
                "floor_seconds": round(floor["seconds"], 2),
                "floor_events_per_s": round(floor_rate, 1),
                "ratio_to_floor": round(crawl_rate / floor_rate, 3) if floor_rate else None,
                "peak_rss_mib": round(crawl["peak_rss_mib"], 1),
                "stages": crawl["stages"],
            }
        )
        print(
            f"{size:>9,} events: crawl {crawl_rate:,.0f}/s, floor {floor_rate:,.0f}/s, "
            f"ratio {rows[-1]['ratio_to_floor']}, peak RSS {crawl['peak_rss_mib']:.0f} MiB",
            flush=True,
        )
    results = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "runs": rows,
    }
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    (results_dir / f"bench-{stamp}.json").write_text(json.dumps(results, indent=2))
    lines = [
        "| events | crawl events/s | floor events/s | ratio to floor | peak RSS MiB |",
        "|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['size']:,} | {row['crawl_events_per_s']:,} | "
            f"{row['floor_events_per_s']:,} | {row['ratio_to_floor']} | "
            f"{row['peak_rss_mib']} |"
        )
    (results_dir / f"bench-{stamp}.md").write_text("\n".join(lines) + "\n")
    return results
