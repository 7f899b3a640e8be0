"""Benchmark: ingestion's engine alone, on the pages of a real sandbox crawl.

    python bench/engine_replay.py record pages.pkl [--events 100000] [--seconds 420]
    python bench/engine_replay.py replay pages.pkl [--pages N] [--decisions out.json]

``record`` serves the sandbox with ``--events`` Ticketmaster events, crawls it with
our rate limits lifted (as ``scenescout bench`` does) and writes every page the crawl
hands its engine to ``pages.pkl``; ``--seconds`` interrupts the crawl (SIGINT) after
that long, for a partial recording of a large city.

``replay`` runs those pages through a fresh ``IngestEngine`` on this thread, as the
engine's process would on a first crawl (nothing stored before), and prints the CPU
seconds per record, de-duplication's comparisons per record and the RSS. Without the
rest of the crawl beside it, a change to normalising or de-duplication can be timed
to a few per cent (run old and new in turns: the machine is noisy).
``--decisions`` writes every linked record's canonical event id: two versions that
write the same file made the same decisions.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from scenescout_cli import benchmark
from scenescout_cli.pipeline import engine_host, ingest_worker
from scenescout_cli.pipeline.ingest_stage import LocalEngine
from scenescout_cli.pipeline.ingestion import IngestEngine, NeedRows, PageJob
from scenescout_cli.pipeline.linking import Linker
from scenescout_cli.pipeline.messages import Linked
from scenescout_cli.sources.ticketmaster import TicketmasterSource


def record(out: Path, *, events: int, seconds: float | None) -> int:
    """Crawl a sandbox of ``events`` and record its pages to ``out``; the crawl's exit code."""
    with tempfile.TemporaryDirectory(prefix="engine-replay-") as work:
        work_dir = Path(work)
        with benchmark.serve_sandbox(
            events, dict(os.environ), work_dir, rate_limit=False
        ) as sandbox:
            config = work_dir / "bench.toml"
            config.write_text(benchmark.LIFTED_LIMITS)
            env = {**sandbox.env, "SCENESCOUT_DATA_DIR": str(work_dir / "data")}
            subprocess.run(
                [benchmark.scenescout_executable(), "db", "migrate"], env=env, check=True
            )
            args = [sys.executable, __file__, "_crawl", str(out), "--config", str(config)]
            args += ["crawl", "--city", benchmark.CITY, "--source", "ticketmaster"]
            args += ["--progress", "none", "--no-images"]
            crawl = subprocess.Popen(args, env=env)
            try:
                return crawl.wait(timeout=seconds)
            except subprocess.TimeoutExpired:
                crawl.send_signal(signal.SIGINT)
                return crawl.wait()


def _crawl_recording(out: Path, cli_args: list[str]) -> None:
    """In the crawl's process: the CLI, with every packed page job also written to ``out``."""
    from scenescout_cli.cli import main

    sink = out.open("wb")
    process_pack = ingest_worker.ProcessEngine.pack
    local_pack = LocalEngine.pack

    def recording(self: ingest_worker.ProcessEngine, job: PageJob) -> bytes:
        packed = process_pack(self, job)
        sink.write(packed)  # one pickle after another: read back with pickle.load
        return packed

    def recording_locally(self: LocalEngine, job: PageJob) -> PageJob:
        pickle.dump(job, sink, pickle.HIGHEST_PROTOCOL)  # one CPU: the engine is here
        return local_pack(self, job)

    ingest_worker.ProcessEngine.pack = recording  # type: ignore[method-assign]
    LocalEngine.pack = recording_locally  # type: ignore[method-assign]
    sys.argv = ["scenescout", *cli_args]
    try:
        main()
    finally:
        sink.close()


def jobs(path: Path) -> Iterator[PageJob]:
    """The recorded page jobs, in the order the crawl sent them."""
    with path.open("rb") as file:
        while True:
            try:
                yield pickle.load(file)
            except EOFError:
                return


def replay(path: Path, *, pages: int | None, decisions: Path | None) -> dict[str, Any]:
    """The recorded pages through a fresh engine; its figures."""
    engine_host.tune_gc()  # the collector as the engine's process sets it
    engine = IngestEngine(
        {"ticketmaster": TicketmasterSource("replay")},
        Linker(lazy=True, fresh=True),
        raw_as_json=True,
    )
    linked: dict[str, str] = {}
    records = done = 0
    cpu = 0.0
    for job in jobs(path):
        if pages is not None and done >= pages:
            break
        records += len(job.records)
        began = time.process_time()
        finished = engine.start([job])
        while isinstance(finished, NeedRows):  # a first crawl: nothing stored to load
            finished = engine.resume([(load, []) for load in finished.loads])
        cpu += time.process_time() - began
        done += 1
        for result in finished:
            for item in result.items:
                if isinstance(item, Linked):
                    linked[f"{item.record.source}:{item.record.source_id}"] = str(item.event_id)
    if decisions is not None:
        decisions.write_text(json.dumps(linked, sort_keys=True))
    comparisons = engine.linker.index.comparisons
    return {
        "pages": done,
        "records": records,
        "linked": len(linked),
        "canonical_events": len(set(linked.values())),
        "cpu_s": round(cpu, 2),
        "us_per_record": round(cpu / max(records, 1) * 1e6, 1),
        "comparisons_per_record": round(comparisons / max(records, 1), 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "_crawl":
        _crawl_recording(Path(sys.argv[2]), sys.argv[3:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    rec = commands.add_parser("record", help="crawl a sandbox and record its pages")
    rec.add_argument("out", type=Path)
    rec.add_argument("--events", type=int, default=100_000)
    rec.add_argument("--seconds", type=float, default=None)
    rep = commands.add_parser("replay", help="time the engine on recorded pages")
    rep.add_argument("pages", type=Path)
    rep.add_argument("--pages", dest="limit", type=int, default=None)
    rep.add_argument("--decisions", type=Path, default=None)
    args = parser.parse_args()
    if args.command == "record":
        code = record(args.out, events=args.events, seconds=args.seconds)
        count = sum(1 for _ in jobs(args.out))
        print(f"recorded {count:,} pages to {args.out} (crawl exit {code})")
    else:
        print(json.dumps(replay(args.pages, pages=args.limit, decisions=args.decisions)))


if __name__ == "__main__":
    main()
