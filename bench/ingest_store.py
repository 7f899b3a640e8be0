"""Benchmark: Ticketmaster normalisation and batched upserts into the embedded PostgreSQL.

    python bench/ingest_store.py --events 20000

Takes the records of fixtures/ticketmaster/page_nyc_0.json, varies their ids to make
``--events`` distinct records, and measures (one run, same machine):
  1. normalisation alone (records per second, on this thread),
  2. first write: COPY + INSERT … ON CONFLICT into an empty database (events per second),
  3. re-write of the same events (the idempotent path a re-crawl takes).
Prints a small table and the ratio of each write rate to normalisation.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime as dt
import json
import tempfile
import time
from pathlib import Path

import trio

from scenescout_cli.config import load_settings
from scenescout_cli.errors import RecordRejected
from scenescout_cli.pipeline.capacities import STORE_BATCH_SIZE
from scenescout_cli.sources.ticketmaster import TicketmasterSource
from scenescout_cli.store.db import Batch, Link, open_store

FIXTURE = Path(__file__).parents[1] / "fixtures" / "ticketmaster" / "page_nyc_0.json"


def records(count: int) -> list[dict]:
    base = json.loads(FIXTURE.read_text())["_embedded"]["events"]
    out = []
    for i in range(count):
        record = copy.deepcopy(base[i % len(base)])
        record["id"] = f"{record['id']}x{i}"
        out.append(record)
    return out


async def main(count: int) -> None:
    adapter = TicketmasterSource("bench-key")
    raw = records(count)
    now = dt.datetime.now(dt.UTC)
    t = time.perf_counter()
    events = []
    for record in raw:
        with contextlib.suppress(RecordRejected):
            events.append(adapter.normalise(record, now))
    normalise_s = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as data_dir:
        settings = load_settings({"SCENESCOUT_DATA_DIR": data_dir})
        async with open_store(settings) as store:
            timings = []
            for _ in range(2):
                t = time.perf_counter()
                for i in range(0, len(events), STORE_BATCH_SIZE):
                    await store.write_batch(
                        None,
                        "nyc",
                        Batch(events=[Link.alone(e) for e in events[i : i + STORE_BATCH_SIZE]]),
                    )
                timings.append(time.perf_counter() - t)
    rate = len(events) / normalise_s
    print(f"{'step':<22}{'events':>10}{'seconds':>10}{'events/s':>12}{'vs normalise':>13}")
    print(f"{'normalise':<22}{len(events):>10}{normalise_s:>10.2f}{rate:>12,.0f}{1:>13.2f}")
    for label, seconds in zip(("store (first write)", "store (re-write)"), timings, strict=True):
        r = len(events) / seconds
        print(f"{label:<22}{len(events):>10}{seconds:>10.2f}{r:>12,.0f}{r / rate:>13.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    trio.run(main, parser.parse_args().events)
