"""The one small interface every provider adapter implements.

An adapter is pure: it builds requests and parses responses, it never does I/O.
``sources/http.py`` sends the requests; the discovery stage drives the paging.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar, Protocol

import attrs

from ..model import City, Event, Page, Query, Venue, Window


@attrs.frozen
class ApiRequest:
    """A request relative to the source's base URL.

    ``secret_params`` names the query parameters that carry credentials: they are
    sent, but redacted wherever the URL is logged, shown or stored.
    """

    method: str
    path: str
    params: dict[str, str] = attrs.field(factory=dict)
    headers: dict[str, str] = attrs.field(factory=dict, repr=False)
    json: Any = None
    secret_params: frozenset[str] = frozenset()


class SourceAdapter(Protocol):
    """What the pipeline needs from one provider.

    Errors: ``parse_page`` raises a ``SourceError`` subclass for provider error
    bodies; ``normalise`` raises ``RecordRejected`` for a record that cannot become
    an Event. Nothing else is raised on purpose.
    """

    name: ClassVar[str]
    #: The most records one query can reach by paging (the deep-paging cap).
    page_cap: ClassVar[int]
    #: Documented request rate (requests per second) used by the limiter.
    rate_per_second: ClassVar[float]
    #: How many requests may go at once before the rate applies (adapters may set it:
    #: a provider that limits per hour allows bursts a per-second limit does not).
    #: Read with ``getattr(adapter, "rate_burst", 1.0)``.

    def plan(self, city: City, window: Window) -> list[Query]:
        """The queries that cover ``city`` over ``window``."""
        ...

    def request(self, query: Query, cursor: Any | None) -> ApiRequest:
        """The request for one page of ``query``; ``cursor`` None means the first page."""
        ...

    def parse_page(self, query: Query, cursor: Any | None, status: int, body: Any) -> Page:
        """One response (status + decoded JSON body) → records and the next cursor."""
        ...

    def record_id(self, record: dict[str, Any]) -> str | None:
        """The provider's stable id of a raw record, or None when it has none."""
        ...

    def normalise(self, record: dict[str, Any], fetched_at: dt.datetime) -> Event | Venue:
        """One raw record → Event (or Venue, for venue directories), or RecordRejected."""
        ...
