"""Benchmark: image rendering through the worker pool against plain Pillow in one process.

    python bench/images_pool.py --images 48

Generates photo-like JPEGs (about 2000×1300: gradients, shapes and sensor noise, so they
compress and decode like real photos), then measures (one run, same machine):
  1. serial: ``render_variants`` on each image in this process (images per second),
  2. pool: the same images through ``WorkerPool.run`` with one worker per CPU, all
     submitted at once (the pool's limiter is the queue), workers started beforehand.
Prints both rates and ``ratio = pool / (serial × workers)``; the target is ≥ 0.85
(``--repeat N`` alternates the passes and keeps the best of each, against noisy hosts). The
ratio is what to read: it is the share of ideal scaling the pool delivers, after
pickling the bytes both ways and supervising every job.
"""

from __future__ import annotations

import argparse
import io
import time

import numpy as np
import trio
from PIL import Image, ImageDraw, ImageFilter

from scenescout_cli.enrich.images import DEFAULT_WIDTHS, render_variants
from scenescout_cli.workers import default_size, open_worker_pool

SIZE = (2000, 1300)


def photo(seed: int) -> bytes:
    """A JPEG that decodes like a photo: smooth light, soft shapes, per-pixel noise."""
    rng = np.random.default_rng(seed)
    w, h = SIZE
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    channels = []
    for _ in range(3):
        a, b, c = rng.uniform(-1, 1, 3)
        plane = 128 + 60 * np.sin(x / (150 + 200 * abs(a)) + b) * np.cos(y / (120 + 150 * abs(c)))
        channels.append(plane)
    base = np.stack(channels, axis=-1)
    im = Image.fromarray(base.clip(0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(im)
    for _ in range(25):
        x0, y0 = int(rng.integers(0, w - 200)), int(rng.integers(0, h - 200))
        r = int(rng.integers(40, 400))
        colour = tuple(int(v) for v in rng.integers(0, 255, 3))
        draw.ellipse((x0, y0, x0 + r, y0 + r), fill=colour)
    im = im.filter(ImageFilter.GaussianBlur(3))
    noisy = np.asarray(im, dtype=np.int16) + rng.normal(0, 8, (h, w, 3)).astype(np.int16)
    out = io.BytesIO()
    Image.fromarray(noisy.clip(0, 255).astype(np.uint8), "RGB").save(out, "JPEG", quality=88)
    return out.getvalue()


def serial(images: list[bytes]) -> float:
    start = time.perf_counter()
    for data in images:
        render_variants(data, DEFAULT_WIDTHS)
    return time.perf_counter() - start


async def pooled(images: list[bytes], workers: int) -> tuple[float, float]:
    """Wall time of the timed pass, and this (parent) process's CPU time during it."""
    async with open_worker_pool(workers) as pool:
        await pool.warm_up()
        # First render per worker imports Pillow and blurhash: not steady state.
        async with trio.open_nursery() as nursery:
            for data in images[:workers]:
                nursery.start_soon(pool.run, render_variants, data, DEFAULT_WIDTHS)
        done_before = pool.stats.done
        cpu_start = time.process_time()
        start = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for data in images:
                nursery.start_soon(pool.run, render_variants, data, DEFAULT_WIDTHS)
        elapsed = time.perf_counter() - start
        parent_cpu = time.process_time() - cpu_start
        stats = pool.stats
    assert stats.done - done_before == len(images), stats
    return elapsed, parent_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--workers", type=int, default=default_size())
    parser.add_argument(
        "--repeat", type=int, default=1, help="alternate both passes N times; keep each best"
    )
    args = parser.parse_args()
    distinct = [photo(seed) for seed in range(8)]
    images = [distinct[i % len(distinct)] for i in range(args.images)]
    mean_kb = sum(map(len, distinct)) / len(distinct) / 1024
    print(f"{args.images} JPEGs {SIZE[0]}×{SIZE[1]} (~{mean_kb:.0f} KiB), widths {DEFAULT_WIDTHS}")
    render_variants(distinct[0])  # warm this process too
    serial_s = pool_s = parent_cpu = float("inf")
    for _ in range(max(1, args.repeat)):
        serial_s = min(serial_s, serial(images))
        elapsed, cpu = trio.run(pooled, images, args.workers)
        if elapsed < pool_s:
            pool_s, parent_cpu = elapsed, cpu
    serial_rate = args.images / serial_s
    pool_rate = args.images / pool_s
    ideal = serial_rate * args.workers
    print(f"{'serial (1 process)':<24}{serial_rate:8.2f} images/s")
    print(f"{'ideal (× ' + str(args.workers) + ' CPUs)':<24}{ideal:8.2f} images/s")
    print(f"{'pool (' + str(args.workers) + ' workers)':<24}{pool_rate:8.2f} images/s")
    print(f"parent process CPU during the pool pass: {parent_cpu / pool_s:.0%} of one CPU")
    print(f"ratio pool / ideal: {pool_rate / ideal:.2f}  (target ≥ 0.85)")


if __name__ == "__main__":
    main()
