"""Opening what processing needs for one crawl: the worker pool, the classifier model,
the geocoder (with its database cache), the known venues and the image settings.

``open_enricher`` is an async context manager: the pool's worker processes and the
geocoder's HTTP client live exactly as long as the block.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import platformdirs
import trio

from ..config import APP_NAME, Settings
from ..enrich.classify import default_model_path
from ..enrich.geocode import (
    MISSING,
    GeocodeResult,
    GeocodeService,
    geocoder_client,
    make_geocoder,
)
from ..errors import ConfigError
from ..store import Store
from ..workers import open_worker_pool
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


@asynccontextmanager
async def open_enricher(
    settings: Settings,
    store: Store,
    http: httpx.AsyncClient,
    city: str,
    stats: RunStats,
    *,
    images: bool,
) -> AsyncIterator[Enricher]:
    """Everything processing uses, for the block's lifetime.

    Errors: ConfigError for a geocoder that cannot be configured.
    """
    trained = settings.data_dir / "models" / "classifier.joblib"
    if trained.exists():
        model_path = str(trained)
    else:
        # trains once per machine on first use (seconds): keep it off the Trio thread
        model_path = str(await trio.to_thread.run_sync(default_model_path, model_dir(settings)))
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
    async with open_worker_pool(job_timeout=120.0) as pool:
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
            model_path=model_path,
            geocoder=geocoder,
            venues=venues,
            images=image_settings,
        )
