"""Pure record enrichment: validation, sanitisation, zones, money and de-duplication.

Plain functions on attrs objects, no I/O and no Trio: the ingestion stage calls them
per record inside its isolation boundary (``RecordRejected`` → rejects table).
"""

from __future__ import annotations

from .dedup import DedupIndex, merge, normalise_title, same_event
from .money import currency_code, normalise_price
from .sanitize import sanitize
from .timezones import all_day_span, local_midnight, local_to_utc, resolve_zone, zone_for
from .validate import validate

__all__ = [
    "DedupIndex",
    "all_day_span",
    "currency_code",
    "local_midnight",
    "local_to_utc",
    "merge",
    "normalise_price",
    "normalise_title",
    "resolve_zone",
    "same_event",
    "sanitize",
    "validate",
    "zone_for",
]
