"""Throughput of the classification job: events per second through ``classify_texts``.

    python bench/classify_speed.py [--texts 10000] [--batch 256]

Trains the default model once into a temporary directory (timed separately), then
classifies ``--texts`` texts — the labelled set's texts, cycled and varied so no two
are equal — in batches of ``--batch``, the way the processing stage sends them to one
worker process. The first batch includes loading the model file (the per-worker
cost); the figure to read is the steady-state events/s. One process, one core: the
pool multiplies it by its worker count.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from scenescout_cli.enrich import classify
from scenescout_cli.enrich.classify import classify_texts, default_model_path, load_labelled


def corpus(count: int) -> list[str]:
    """``count`` distinct, realistic texts built from the labelled set."""
    texts, _ = load_labelled()
    return [f"{texts[i % len(texts)]} (#{i})" for i in range(count)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()
    texts = corpus(args.texts)
    with tempfile.TemporaryDirectory() as cache:
        started = time.perf_counter()
        path = str(default_model_path(Path(cache)))
        trained = time.perf_counter() - started

        classify._MODELS.clear()
        started = time.perf_counter()
        first = classify_texts(texts[: args.batch], path)
        first_batch = time.perf_counter() - started

        started = time.perf_counter()
        done = len(first)
        for start in range(args.batch, len(texts), args.batch):
            done += len(classify_texts(texts[start : start + args.batch], path))
        steady = time.perf_counter() - started

        started = time.perf_counter()
        classify_texts(texts, path)
        one_call = time.perf_counter() - started

    rest = done - len(first)
    print(f"train default model: {trained:.2f} s")
    print(f"first batch of {len(first)} (loads the model): {first_batch * 1000:.0f} ms")
    print(f"{rest} texts in batches of {args.batch}: {steady:.2f} s, {rest / steady:,.0f} events/s")
    print(
        f"{len(texts)} texts in one call: {one_call:.2f} s, {len(texts) / one_call:,.0f} events/s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
