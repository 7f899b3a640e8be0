"""Plain models shared by every stage. No provider field names, no JSON here.

Each provider module owns the converter from its payloads to these classes; the
store owns the mapping to rows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import operator
import re
import uuid
from collections.abc import Sequence
from typing import Any

import attrs

CATEGORIES = (
    "music",
    "comedy",
    "theater",
    "arts",
    "film",
    "sports",
    "food_drink",
    "nightlife",
    "family",
    "learning",
    "community",
    "wellness",
    "other",
)
STATUSES = ("scheduled", "cancelled", "postponed", "rescheduled")
SOURCES = ("ticketmaster", "eventbrite", "yelp", "meetup")

_EVENT_NAMESPACE = uuid.UUID("6f1c3f52-4f0e-4b5c-9a51-2f1f5f2d7a10")
_NAMESPACE_BYTES = _EVENT_NAMESPACE.bytes
#: RFC 9562 name-based (SHA-1) UUID: version 5 in bits 76–79, variant 0b10 in bits 62–63
_UUID5_CLEAR = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_UUID5_SET = (5 << 76) | (0x8000 << 48)


def event_id_for(source: str, source_id: str) -> uuid.UUID:
    """The stable id of the canonical event first created from one provider record:
    ``uuid.uuid5(_EVENT_NAMESPACE, f"{source}:{source_id}")``, built in half the time
    (one a new record)."""
    digest = hashlib.sha1(_NAMESPACE_BYTES + f"{source}:{source_id}".encode()).digest()
    return uuid.UUID(int=int.from_bytes(digest[:16]) & _UUID5_CLEAR | _UUID5_SET)


@attrs.frozen
class Area:
    """A circle on the map: the whole city, or one tile of it."""

    lat: float
    lon: float
    radius_km: float


@attrs.frozen
class Window:
    """A half-open UTC time window [start, end)."""

    start: dt.datetime
    end: dt.datetime


@attrs.frozen
class City:
    """A city preset or an ad-hoc ``--near`` area."""

    slug: str
    name: str
    area: Area
    timezone: str
    country: str


@attrs.frozen
class Query:
    """One unit of discovery work: (source, area tile, time window).

    ``target`` names what a source lists when it cannot search an area — an
    Eventbrite organizer or venue (``"organizer:123"``), a search phrase — and is
    None for plain area searches.
    """

    source: str
    area: Area
    window: Window
    target: str | None = None

    @property
    def key(self) -> str:
        """A stable text key, used for checkpoints and logs."""
        a, w = self.area, self.window
        key = (
            f"{self.source}:{a.lat:.5f},{a.lon:.5f},{a.radius_km:g}km:"
            f"{w.start.isoformat()}/{w.end.isoformat()}"
        )
        return f"{key}:{self.target}" if self.target else key

    @classmethod
    def from_key(cls, key: str) -> Query:
        """The query a ``key`` was made from (its area to the key's rounding: 5 decimal
        places of a degree, 6 significant digits of the radius). Errors: ValueError."""
        match = _QUERY_KEY.fullmatch(key)
        if match is None:
            raise ValueError(f"not a query key: {key[:120]!r}")
        area = Area(float(match["lat"]), float(match["lon"]), float(match["radius"]))
        start = dt.datetime.fromisoformat(match["start"])
        end = dt.datetime.fromisoformat(match["end"])
        return cls(match["source"], area, Window(start, end), match["target"])


_ISO_AWARE = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?[+-]\d\d:\d\d"
#: ``Query.key``'s format: the window's ends are aware ISO times, whose colons come
#: before the target's
_QUERY_KEY = re.compile(
    r"(?P<source>[^:]+):(?P<lat>[-+\d.e]+),(?P<lon>[-+\d.e]+),(?P<radius>[-+\d.e]+)km:"
    rf"(?P<start>{_ISO_AWARE})/(?P<end>{_ISO_AWARE})(?::(?P<target>.+))?",
    re.DOTALL,
)


@attrs.frozen
class RawRecord:
    """One provider record as fetched, secrets already removed."""

    source: str
    source_id: str
    payload: dict[str, Any] = attrs.field(repr=False)
    fetched_at: dt.datetime


@attrs.frozen
class Page:
    """One fetched page: its records, the cursor of the next page (None at the end).

    ``records`` is a list as the adapter parsed it, or packed (``jsonio.PackedRecords``)
    when the crawl asked for pages ready to cross to ingestion."""

    records: Sequence[dict[str, Any]]
    next_cursor: Any | None
    total: int | None = None


@attrs.frozen
class Event:
    """One event as a provider describes it, normalised.

    ``starts_at``/``ends_at`` are timezone-aware UTC instants; ``timezone`` is IANA.
    ``starts_at`` is None only when the provider marks the date TBA/TBD (``date_tba``).
    """

    source: str
    source_id: str
    title: str
    starts_at: dt.datetime | None
    timezone: str | None
    ends_at: dt.datetime | None = None
    date_tba: bool = False
    description: str | None = None
    #: allow-listed safe HTML of the description, when the provider sent HTML
    description_html: str | None = None
    #: the event runs all day (or days): starts_at is the local midnight
    all_day: bool = False
    venue_name: str | None = None
    address: str | None = None
    locality: str | None = None
    postal_code: str | None = None
    country: str | None = None
    lat: float | None = None
    lon: float | None = None
    category: str | None = None
    tags: tuple[str, ...] = ()
    price_min: float | None = None
    price_max: float | None = None
    currency: str | None = None
    is_free: bool | None = None
    url: str | None = None
    image_url: str | None = None
    status: str = "scheduled"
    #: 0–100, set by processing (enrich/quality.py)
    quality_score: float | None = None
    fetched_at: dt.datetime | None = None
    #: hash of the provider record this event was normalised from (incremental crawls)
    content_hash: str | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    @property
    def event_id(self) -> uuid.UUID:
        return event_id_for(self.source, self.source_id)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Pickled as its constructor and field values: several times cheaper than
        # attrs' state dict, and events cross processes by the thousand (ingestion).
        return Event, _event_values(self)


_event_values = operator.attrgetter(*(field.name for field in attrs.fields(Event)))
_EVENT_FIELD_INDEX = {name: i for i, name in enumerate(attrs.fields_dict(Event))}


def evolve_event(event: Event, **changes: Any) -> Event:
    """``attrs.evolve(event, **changes)`` for Event, about twice as fast: ingestion
    copies each record several times (zone, sanitising, stamping, merging).

    TypeError for a name that is not one of Event's fields, as ``attrs.evolve``.
    """
    values = list(_event_values(event))
    for name, value in changes.items():
        try:
            values[_EVENT_FIELD_INDEX[name]] = value
        except KeyError:
            raise TypeError(f"Event has no field {name!r}") from None
    return Event(*values)


@attrs.frozen
class Venue:
    """A place where events happen, as a venue directory (Google Places) describes it."""

    source: str
    source_id: str
    name: str
    lat: float | None = None
    lon: float | None = None
    address: str | None = None
    locality: str | None = None
    postal_code: str | None = None
    country: str | None = None
    timezone: str | None = None
    types: tuple[str, ...] = ()
    website: str | None = None
    rating: float | None = None
    rating_count: int | None = None
    fetched_at: dt.datetime | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


@attrs.frozen
class Reject:
    """A record that failed validation, kept with its reason."""

    source: str
    source_id: str | None
    reason: str
    detail: str
    raw: dict[str, Any] = attrs.field(repr=False)
