"""Opening what processing needs for one crawl: the worker pool, the classifier model,
the geocoder (with its database cache), the known venues and the image settings.

``open_workers`` opens the pool first thing in a crawl (a worker warms up with the
model meanwhile); ``open_enricher`` adds the rest once the store is open. Both are
async context managers: the pool's worker processes live exactly as long as the block.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import httpx
import platformdirs
import trio

from ..config import APP_NAME, Settings
from ..enrich.classify import (
    default_model_file,
    preload_model,
    train_default_model,
    trained_model,
)
from ..enrich.geocode import (
    MISSING,
    GeocodeResult,
    GeocodeService,
    geocoder_client,
    make_geocoder,
)
from ..errors import ConfigError
from ..store.db import Store
from ..workers import JobFailed, WorkerPool, open_worker_pool
from .processing import Enricher, ImageSettings, venue_key
from .stats import RunStats


class StoreGeocodeCache:
    """The geocode cache in the database (``geocode_cache``), found and not-found alike."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def get(self, normalised: str) -> Any:
        cached, result = await self.store.geocode_get(normalised)
        if not cached:
            return MISSING
        return None if result is None else GeocodeResult.from_record(result)

    async def put(self, normalised: str, result: GeocodeResult | None) -> None:
        await self.store.geocode_put(normalised, None if result is None else result.as_record())


def model_dir(settings: Settings) -> Any:
    """Where trained classifier models live: the user's cache dir (shared by crawls)."""
    return platformdirs.user_cache_path(APP_NAME) / "models"


@attrs.frozen
class Workers:
    """The crawl's worker pool and the classifier model its jobs load."""

    pool: WorkerPool
    model_path: str
    #: set once a worker holds the model (or failed to load it): classify after it
    classifier_ready: trio.Event


@asynccontextmanager
async def open_workers(settings: Settings) -> AsyncIterator[Workers]:
    """The worker pool, for the block's lifetime, with one worker started and the
    classifier loaded into it in the background (a worker's start, numpy's import, the model) while
    the database starts and discovery begins. Started on first use instead, it held up
    the whole pipeline at the start of a crawl: the first batch to classify waited for
    it while ingestion and discovery waited on processing. One worker: processing
    classifies a batch at a time; the others start when images need them.

    Without a model of the user's, the default model is used, trained on a machine's
    first crawl (and after an update that changes the labelled set or scikit-learn) by a
    worker in the same background (``train_default_model``): seconds of CPU and ~250 MiB
    that neither hold up the crawl's start nor stay in its process. A failed training
    fails only the classifier's jobs, which count and report it, like a failed load.

    Errors: OSError when the labelled set cannot be read (a broken installation).
    """
    model_path, train_in = await trio.to_thread.run_sync(_classifier_model, settings)
    async with open_worker_pool(job_timeout=120.0) as pool, trio.open_nursery() as warming:
        ready = trio.Event()
        warming.start_soon(_warm_up, pool, model_path, ready, train_in, name="workers:warm-up")
        try:
            yield Workers(pool, model_path, ready)
        finally:
            warming.cancel_scope.cancel()  # a crawl shorter than the warm-up


def _classifier_model(settings: Settings) -> tuple[str, str | None]:
    """(the model the crawl classifies with, the cache dir to train the default model
    into first when it is not there yet). Blocking: file checks."""
    trained = trained_model(settings.data_dir)
    if trained is not None:
        return str(trained), None
    cache_dir = model_dir(settings)
    default = default_model_file(cache_dir)
    return str(default), None if default.exists() else str(cache_dir)


async def _warm_up(
    pool: WorkerPool, model_path: str, ready: trio.Event, train_in: str | None = None
) -> None:
    """Train the default model into the cache dir ``train_in`` first, if given, then
    load the classifier into a worker; ``ready`` is set however that ends. A failure is
    left to the classifier's own jobs, which count and report it."""
    try:
        with contextlib.suppress(JobFailed):
            if train_in is not None:
                await pool.run(train_default_model, train_in)
            await pool.run(preload_model, model_path)
    finally:
        ready.set()


@asynccontextmanager
async def open_enricher(
    settings: Settings,
    store: Store,
    http: httpx.AsyncClient,
    city: str,
    stats: RunStats,
    workers: Workers,
    *,
    images: bool,
) -> AsyncIterator[Enricher]:
    """Everything processing uses, for the block's lifetime (``workers`` outlives it).

    Errors: ConfigError for a geocoder that cannot be configured.
    """
    pool = workers.pool
    try:
        adapter = make_geocoder(settings.geocoder, api_key=settings.keys.google)
    except ConfigError as exc:
        stats.notice(f"geocoding off: {exc}")
        geocoder = None
    else:
        client = geocoder_client(adapter, settings.urls.geocoder, http)
        geocoder = GeocodeService(client, StoreGeocodeCache(store))
    venues = {
        venue_key(name): (lat, lon)
        for name, lat, lon in await store.fetch_all(
            "SELECT name, lat, lon FROM venues WHERE city = %s AND lat IS NOT NULL", (city,)
        )
    }
    stats.pool = pool
    image_settings = None
    if images:
        image_settings = ImageSettings(
            http=http,
            media_dir=settings.media_dir,
            allow_private=settings.allow_private_network,
            known=await store.processed_images(),
            workers=max(2, int(pool.limiter.total_tokens) * 2),
        )
    yield Enricher(
        pool=pool,
        model_path=workers.model_path,
        geocoder=geocoder,
        venues=venues,
        images=image_settings,
        classifier_ready=workers.classifier_ready,
    )
