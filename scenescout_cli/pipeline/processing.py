"""Processing: geocoding, category classification, quality scores and images.

Items arrive in micro-batches (up to ``BATCH`` items, or what is there when the
inbox goes quiet). For each canonical event of a batch, in order:

- **place**: an event without coordinates takes those of a known venue of the same
  name (Google Places), else the configured geocoder's answer for its address
  (cached in the database; Nominatim at 1 request/s);
- **category**: the provider's own taxonomy, else the text classifier — run for the
  whole batch at once in the subprocess pool;
- **quality**: a 0–100 score (enrich/quality.py);
- **image**: handed to the image workers, which download it (SSRF-guarded), render
  its variants in the pool and send the result on to storage. Storage is not kept
  waiting for images: an event is stored first and its images are linked when done.

Items leave in the order they came (storage relies on it for page progress).
A failing geocode, classification or image costs only that enrichment: the event is
stored without it and the failure is counted.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import attrs
import httpx
import trio

from ..enrich.classify import category_from_provider, classify_texts, resolve_category, text_of
from ..enrich.geocode import GeocodeResult, GeocodeService, address_of
from ..enrich.images import ImageError, process_image
from ..enrich.quality import quality_score
from ..errors import ScenescoutError
from ..model import Event, evolve_event
from ..workers import JobFailed, WorkerPool
from .channels import put
from .messages import ImageDone, Item, Linked
from .stats import RunStats

#: Items processed together (one classifier job for the batch's texts).
BATCH = 128
#: Image jobs waiting for a worker.
IMAGE_QUEUE = 64


@attrs.define
class Enricher:
    """What processing needs; every part optional (a test may pass none of them)."""

    pool: WorkerPool | None = None
    model_path: str | None = None
    geocoder: GeocodeService | None = None
    venues: dict[str, tuple[float, float]] = attrs.field(factory=dict)
    images: ImageSettings | None = None
    stats: EnrichStats = attrs.field(factory=lambda: EnrichStats())
    #: set when a worker has the classifier loaded: the first batch waits for it
    #: rather than start a second, cold worker
    classifier_ready: trio.Event | None = None


@attrs.define
class ImageSettings:
    http: httpx.AsyncClient
    media_dir: Path
    allow_private: bool
    known: set[str] = attrs.field(factory=set)
    workers: int = 2


@attrs.define
class EnrichStats:
    geocoded: int = 0
    geocode_failed: int = 0
    from_venue: int = 0
    classified: int = 0
    classify_failed: int = 0
    images: int = 0
    images_failed: int = 0
    images_skipped: int = 0


def venue_key(name: str | None) -> str:
    """A venue name folded for matching (case and punctuation blind)."""
    return re.sub(r"[^a-z0-9]+", "", (name or "").casefold())


async def process(
    inbox: trio.MemoryReceiveChannel[Item],
    out: trio.MemorySendChannel[Item],
    stats: RunStats,
    *,
    enricher: Enricher | None = None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Enrich every canonical event and pass every item on, in order.

    Closes ``out`` when ``inbox`` ends and the image workers are done.
    """
    stage = stats.stage("process")
    stage.watch(inbox)
    enricher = enricher or Enricher()
    stats.enrich = enricher.stats
    async with inbox, out, trio.open_nursery() as nursery:
        images_send: trio.MemorySendChannel[tuple[Any, str]] | None = None
        if enricher.images is not None and enricher.pool is not None:
            images_send, images_recv = trio.open_memory_channel[tuple[Any, str]](IMAGE_QUEUE)
            async with images_recv:
                for _ in range(enricher.images.workers):
                    nursery.start_soon(_image_worker, enricher, images_recv.clone(), out.clone())
        task_status.started()
        try:
            while True:
                batch = await _next_batch(inbox)
                if not batch:
                    break
                stage.received += len(batch)
                began = time.perf_counter()
                enriched = await _enrich(batch, enricher, stage)
                stage.busy_s += time.perf_counter() - began
                for item in enriched:
                    await put(out, item)
                    stage.sent += 1
                    if images_send is not None and isinstance(item, Linked):
                        await _queue_image(item, enricher, images_send)
        finally:
            if images_send is not None:
                await images_send.aclose()


async def _next_batch(inbox: trio.MemoryReceiveChannel[Item]) -> list[Item]:
    """One item (waiting for it), then whatever else is already buffered, up to BATCH."""
    try:
        batch = [await inbox.receive()]
    except trio.EndOfChannel:
        return []
    while len(batch) < BATCH:
        try:
            batch.append(inbox.receive_nowait())
        except (trio.WouldBlock, trio.EndOfChannel):
            break
    return batch


async def _enrich(batch: list[Item], enricher: Enricher, stage: Any) -> list[Item]:
    linked = [item for item in batch if isinstance(item, Linked)]
    if not linked:
        return batch
    placed = {id(item): await _place(item.merged, enricher) for item in linked}
    unknown = [item for item in linked if category_from_provider(placed[id(item)]) is None]
    predictions: dict[int, tuple[str, float]] = {}
    if unknown and enricher.pool is not None:
        texts = [text_of(placed[id(item)]) for item in unknown]
        if enricher.classifier_ready is not None:
            await enricher.classifier_ready.wait()
        try:
            results = await enricher.pool.run(classify_texts, texts, enricher.model_path)
        except JobFailed:
            enricher.stats.classify_failed += len(unknown)
            stage.errors += 1
        else:
            enricher.stats.classified += len(unknown)
            predictions = {id(item): result for item, result in zip(unknown, results, strict=True)}
    out: list[Item] = []
    for item in batch:
        if not isinstance(item, Linked):
            out.append(item)
            continue
        event = placed[id(item)]
        category = resolve_category(event, predictions.get(id(item)))
        score = quality_score(
            event, sources=item.sources, has_image=event.image_url is not None, category=category
        )
        merged = evolve_event(event, category=category, quality_score=score)
        out.append(attrs.evolve(item, merged=merged))
    return out


async def _place(event: Event, enricher: Enricher) -> Event:
    """Coordinates for an event without them: a known venue's, else the geocoder's."""
    if event.lat is not None and event.lon is not None:
        return event
    known = enricher.venues.get(venue_key(event.venue_name))
    if known is not None:
        enricher.stats.from_venue += 1
        return evolve_event(event, lat=known[0], lon=known[1])
    address = address_of(event)
    if enricher.geocoder is None or address is None:
        return event
    try:
        result: GeocodeResult | None = await enricher.geocoder.geocode(address)
    except ScenescoutError:
        enricher.stats.geocode_failed += 1
        return event
    if result is None:
        return event
    enricher.stats.geocoded += 1
    return evolve_event(event, lat=result.lat, lon=result.lon)


async def _queue_image(
    item: Linked, enricher: Enricher, images: trio.MemorySendChannel[tuple[Any, str]]
) -> None:
    url = item.merged.image_url
    settings = enricher.images
    if not url or settings is None:
        return
    if url in settings.known:
        enricher.stats.images_skipped += 1
        return
    settings.known.add(url)
    await images.send((item.event_id, url))


async def _image_worker(
    enricher: Enricher,
    jobs: trio.MemoryReceiveChannel[tuple[Any, str]],
    out: trio.MemorySendChannel[Item],
) -> None:
    settings, pool = enricher.images, enricher.pool
    if settings is None or pool is None:
        raise RuntimeError("image workers need image settings and a worker pool")
    async with jobs, out:
        async for event_id, url in jobs:
            try:
                result = await process_image(
                    url,
                    http=settings.http,
                    pool=pool,
                    media_dir=settings.media_dir,
                    allow_private=settings.allow_private,
                )
            except (ImageError, JobFailed) as exc:
                enricher.stats.images_failed += 1
                reason = getattr(exc, "reason", type(exc).__name__)
                await out.send(ImageDone(event_id, url, None, str(reason)[:80]))
                continue
            enricher.stats.images += 1
            await out.send(ImageDone(event_id, url, _image_json(result), None))


def _image_json(result: Any) -> dict[str, Any]:
    return {
        "content_hash": result.content_hash,
        "width": result.width,
        "height": result.height,
        "blurhash": result.blurhash,
        "phash": result.phash,
        "variants": [
            {"width": v.width, "height": v.height, "path": v.path, "bytes": v.bytes}
            for v in result.variants
        ],
    }
