"""Building each source's runtime from its policy, and keeping the quota ledger.

``build_runtimes`` reads today's usage from the database so that a crawl plans
within the quota left; ``keep_ledger`` writes each run's requests back every few
seconds and once more at the end, so that quotas hold across cron runs (and a
killed run loses at most a few seconds of counts).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable

import httpx
import trio

from ..config import Settings
from ..sources.governor import AdaptiveRate, CircuitBreaker, QuotaBudget, TokenBucket
from ..sources.http import RetryPolicy, SourceClient
from ..sources.registry import ConfiguredSource
from ..store.db import Store
from . import capacities
from .discovery import SourceRuntime
from .stats import RunStats, SourceStats

#: Documented daily quotas where the adapter states none (apis.md): Ticketmaster's
#: default key allows 5,000 calls a day; Yelp's Starter plan 300 (configure yours).
DEFAULT_DAILY_QUOTA = {"ticketmaster": 5000, "yelp": 300}
#: Share of the daily quota never spent, so a stopped source leaves the key usable.
QUOTA_RESERVE = 0.01
#: Seconds between ledger writes during a run.
LEDGER_INTERVAL = 10.0
#: Pace this far under the documented rate: the provider's window and our clock differ
#: (at 5 requests/s in a sliding second, 95% leaves ~50 ms for arrival jitter; a 429
#: still halves the pace — sources/governor.py — and it climbs back).
RATE_MARGIN = 0.95

_KEY_FIELDS = {"google_places": "google"}


def key_fingerprint(settings: Settings, source: str) -> str:
    """A short, non-reversible id of the source's credential (quotas are per key)."""
    key = getattr(settings.keys, _KEY_FIELDS.get(source, source)) or ""
    return hashlib.sha256(f"{source}:{key}".encode()).hexdigest()[:16]


async def build_runtimes(
    settings: Settings,
    sources: dict[str, ConfiguredSource],
    http: httpx.AsyncClient,
    store: Store,
    stats: RunStats,
    *,
    rate_override: float | None = None,
) -> dict[str, SourceRuntime]:
    """One runtime per source: client, governor and figures, with today's quota loaded."""
    today = dt.datetime.now(dt.UTC).date()
    runtimes: dict[str, SourceRuntime] = {}
    for name, source in sources.items():
        adapter = source.adapter
        policy = settings.policy(name)
        rate = rate_override or policy.rate_per_second or adapter.rate_per_second * RATE_MARGIN
        burst = float(policy.rate_burst or getattr(adapter, "rate_burst", None) or 1.0)
        bucket = TokenBucket(rate, burst=burst)
        limit = (
            policy.daily_quota
            or getattr(adapter, "daily_quota", None)
            or DEFAULT_DAILY_QUOTA.get(name)
        )
        key_id = key_fingerprint(settings, name)
        quota = QuotaBudget(
            name,
            limit,
            used_before=await store.quota_used(name, key_id, today),
            reserve_share=QUOTA_RESERVE,
        )
        breaker = CircuitBreaker(
            name, threshold=policy.breaker_threshold, cooldown=policy.breaker_cooldown
        )
        client = SourceClient(
            adapter=adapter,
            base_url=source.base_url,
            http=http,
            bucket=bucket,
            concurrency=trio.CapacityLimiter(policy.concurrency or capacities.SOURCE_CONCURRENCY),
            request_timeout=policy.request_timeout,
            retry=RetryPolicy(
                max_retries=policy.max_retries,
                multiplier=policy.backoff_multiplier,
                max_backoff=policy.max_backoff,
            ),
            adaptive=AdaptiveRate(bucket, ceiling=rate),
            breaker=breaker,
            quota=quota,
        )
        source_stats = stats.source(name)
        client.on_request = _on_request(source_stats, client)
        client.on_retry = _on_retry(source_stats)
        source_stats.quota_left = quota.remaining()
        source_stats.rate = rate
        runtimes[name] = SourceRuntime(
            adapter, client, source_stats, key_id=key_id, query_timeout=policy.query_timeout
        )
    return runtimes


def _on_request(stats: SourceStats, client: SourceClient) -> Callable[[int | None], None]:
    def on_request(status: int | None) -> None:
        stats.requests += 1
        if status == 429:
            stats.rate_limited += 1
        if client.quota is not None:
            stats.quota_left = client.quota.remaining()
        stats.rate = client.bucket.rate
        if client.breaker is not None:
            stats.breaker = client.breaker.state

    return on_request


def _on_retry(stats: SourceStats) -> Callable[[Exception], None]:
    def on_retry(exc: Exception) -> None:
        stats.retries += 1
        stats.last_error = str(exc)

    return on_retry


async def flush_ledger(store: Store, runtimes: dict[str, SourceRuntime]) -> None:
    """Write every source's unrecorded requests to today's ledger."""
    today = dt.datetime.now(dt.UTC).date()
    for name, runtime in runtimes.items():
        quota = runtime.client.quota
        if quota is None:
            continue
        requests, errors = quota.unflushed()
        await store.add_quota_usage(name, runtime.key_id, today, requests, errors)


async def keep_ledger(
    store: Store,
    runtimes: dict[str, SourceRuntime],
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Flush the ledger every ``LEDGER_INTERVAL`` seconds until cancelled, then once more."""
    task_status.started()
    try:
        while True:
            await trio.sleep(LEDGER_INTERVAL)
            await flush_ledger(store, runtimes)
    finally:
        with trio.move_on_after(5.0, shield=True):
            await flush_ledger(store, runtimes)
