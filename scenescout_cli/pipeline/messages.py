"""What flows between stages."""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs

from ..model import Event, Query, Reject


@attrs.frozen
class RawPage:
    """One page of raw provider records, as discovery hands it to ingestion."""

    source: str
    query: Query
    page_number: int
    records: list[dict[str, Any]] = attrs.field(repr=False)
    fetched_at: dt.datetime


#: ingestion → processing → storage
Item = Event | Reject
