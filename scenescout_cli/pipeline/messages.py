"""What flows between stages.

    discovery ──RawPage | QuerySplit──► ingestion ──Item──► processing ──Item──► storage

Records of a page travel before the page's ``PageDone`` marker, in order (one
ingestion task, one processing task), so storage commits a page's progress in the
same transaction as the last of its records: a crash never records progress for
records that were not stored.
"""

from __future__ import annotations

import datetime as dt
import operator
import uuid
from collections.abc import Sequence
from typing import Any

import attrs

from ..model import Event, Query, Reject, Venue


@attrs.frozen
class RawPage:
    """One page of raw provider records, as discovery hands it to ingestion (packed:
    ``jsonio.PackedRecords``, so the Trio thread never holds a page as objects)."""

    source: str
    query: Query
    page_number: int
    records: Sequence[dict[str, Any]] = attrs.field(repr=False)
    fetched_at: dt.datetime
    #: the cursor of the page after this one; None when this page ends the query
    next_cursor: Any = None


@attrs.frozen
class QuerySplit:
    """Discovery split this query into parts (their progress is their own)."""

    query_key: str


@attrs.frozen
class PageDone:
    """Every record of one page has been handed on; commit the query's progress."""

    query_key: str
    pages: int
    next_cursor: Any
    done: bool


@attrs.frozen
class Linked:
    """A provider record, the canonical event it belongs to, and that event merged."""

    record: Event = attrs.field(repr=False)
    event_id: uuid.UUID
    merged: Event = attrs.field(repr=False)
    #: how many provider records the canonical event has
    sources: int = 1
    #: the provider's raw record as JSON text when ``record`` travels without it
    #: (ingestion's worker process sends text: it crosses processes cheaply)
    raw_json: str | None = None
    #: only the event changed: another record left it (pipeline/linking.py), and
    #: ``record`` is one of those it still holds, as stored — storage rewrites the
    #: event's row and leaves the records' rows alone
    event_only: bool = False

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # constructor and values: cheaper than attrs' state dict (see Event.__reduce__)
        return Linked, _linked_values(self)


_linked_values = operator.attrgetter(*(field.name for field in attrs.fields(Linked)))


@attrs.frozen
class ImageDone:
    """An event's image, optimised (``result``) or failed (``error``, a reason slug)."""

    event_id: uuid.UUID
    source_url: str
    result: dict[str, Any] | None
    error: str | None


@attrs.frozen
class Unchanged:
    """A provider record identical to the one stored: only ``last_seen_at`` moves."""

    source: str
    source_id: str


#: ingestion → processing → storage
Item = Linked | Event | Venue | Reject | Unchanged | PageDone | QuerySplit | ImageDone
