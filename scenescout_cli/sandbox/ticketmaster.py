"""Ticketmaster Discovery API v2, emulated from its documented and observed behaviour.

Written from the reference notes (``/work/shared/reference/apis.md`` §1) alone, never from
the adapter, so that the adapter's mistakes show up against it.

Served under ``/tm/discovery/v2`` (and under the real path ``/discovery/v2``, so the
relative ``_links`` hrefs resolve against the sandbox as they do against the real host):

- ``GET /events.json`` and ``/events``: search. ``apikey`` auth; filters ``geoPoint``
  (geohash; the cell's centre) or the deprecated ``latlong``, ``radius`` (default 50),
  ``unit`` (``miles`` default, ``km``), ``startDateTime``/``endDateTime`` (exactly
  ``YYYY-MM-DDTHH:mm:ssZ``, else 400 ``DIS1015``; inclusive bounds on the event start,
  date-only events count from local midnight), ``includeTBA``/``includeTBD`` (``yes``,
  ``no``, ``only``; the documented default: no when a date parameter is sent, yes
  otherwise), ``includeFamily``, ``keyword``, ``classificationName`` (``-`` negates),
  ``countryCode``, ``city``, ``venueId``, ``id``; ``size`` (default 20, > 200 → 400
  ``DIS1036``), ``page`` (0-based), ``sort`` (``relevance,desc`` default, ``date``,
  ``name``, ``id``, ``venueName``, ``distance``, ``onSaleStartDate``, ``random``; an
  unknown value falls back to relevance). Paging caps as observed: offset
  ``page*size`` ≥ 9,980 → 400 ``DIS1024``, offset > 1,000 → 400 ``DIS1035`` (offset 1,000
  itself is served); ``totalElements`` is capped at 10,000. HAL envelope with
  ``_embedded.events`` (absent when empty), ``page`` and relative, templated
  ``_links`` that never echo the key. Geo queries add ``distance`` and ``units``.
- ``GET /events/{id}.json`` and ``/events/{id}``: one event, or 404 ``DIS1004``.

Gateway behaviour: a missing or wrong key → 401 Apigee fault; more than 5 requests in
any second per key → 429 spike arrest (no ``Retry-After``); 5,000 calls per key per day
→ 429 quota violation. Successful responses carry ``Rate-Limit``,
``Rate-Limit-Available``, ``Rate-Limit-Over`` and ``Rate-Limit-Reset`` (epoch ms); 4xx
responses carry none but still count against the quota. Error codes other than
``DIS1004/1015/1024/1035/1036`` (``DIS1001`` for any other malformed parameter) are the
sandbox's own.

Payload quirks, in realistic proportions: coordinates as strings, ~20% of events without
``dates.timezone``, ``cancelled`` and ``canceled`` spellings, postponed TBA events without
dates, ``noSpecificTime`` and ``timeTBA`` events, multi-day events with ``dates.end``,
``priceRanges`` on a minority, 4-10 image renditions or only ``fallback`` placeholders,
an occasional stray leading space in a venue's city name, ~1% of venues without
``location``, ``Undefined`` classification placeholders, ids of 13-21 characters.
"""

from __future__ import annotations

import base64
import bisect
import datetime as dt
import functools
import hashlib
import json
import math
import random
import re
import time
import urllib.parse
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import attrs
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .data import UTC, SandboxEvent, Venue, World, distance_km
from .limits import DailyQuota, SpikeArrest

__all__ = [
    "ALIASES",
    "API_KEY",
    "DAILY_QUOTA",
    "NAME",
    "PREFIX",
    "SPIKE_RATE",
    "TicketmasterApi",
    "decode_geohash",
    "event_id",
    "render_event",
    "venue_id",
]

NAME = "ticketmaster"
PREFIX = "/tm/discovery/v2"
ALIASES = ("/discovery/v2",)
API_KEY = "sandbox-ticketmaster-key"
DAILY_QUOTA = 5000
SPIKE_RATE = 5
MAX_SIZE = 200
MAX_DEPTH = 1000  # offsets above this fail (observed; the docs say "below 1,000")
RESULTS_CAP = 10_000
RESULTS_OFFSET_CAP = 9_980

_LINK_PATH = "/discovery/v2/events.json"
_JSON = "application/json;charset=utf-8"
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
_GEOHASH = "0123456789bcdefghjkmnpqrstuvwxyz"
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_KM_PER_MILE = 1.609344

_SEGMENTS = {
    "Music": "KZFzniwnSyZfZ7v7nJ",
    "Sports": "KZFzniwnSyZfZ7v7nE",
    "Arts & Theatre": "KZFzniwnSyZfZ7v7na",
    "Film": "KZFzniwnSyZfZ7v7nn",
    "Miscellaneous": "KZFzniwnSyZfZ7v7n1",
    "Undefined": "KZFzniwnSyZfZ7v7nl",
}
_TYPE = {"id": "KZAyXgnZfZ7v7nI", "name": "Undefined"}
_SUBTYPE = {"id": "KZFzBErXgnZfZ7v7lJ", "name": "Undefined"}
_DOMAINS = {
    "GB": "www.ticketmaster.co.uk",
    "DE": "www.ticketmaster.de",
    "FR": "www.ticketmaster.fr",
    "CA": "www.ticketmaster.ca",
}
# (ratio, width, height) of the renditions Ticketmaster publishes for an event.
_RENDITIONS = (
    ("16_9", 2048, 1152),
    ("16_9", 1136, 639),
    ("16_9", 1024, 576),
    ("16_9", 640, 360),
    ("16_9", 205, 115),
    ("16_9", 100, 56),
    ("3_2", 1024, 683),
    ("3_2", 640, 427),
    ("3_2", 305, 203),
    ("4_3", 305, 225),
)
_EVENT_ID_PREFIXES = ("vvG1", "Z7r9jZ1A", "G5v", "1A", "k7vGF", "Z698xZ", "rZ7HnEZ1A")
_SPIKE_BODY = json.dumps(
    {
        "fault": {
            "faultstring": "Spike arrest violation. Allowed rate : MessageRate{"
            "messagesPerPeriod=5, periodInMicroseconds=1000000, maxBurstMessageRate=5.0}",
            "detail": {"errorcode": "policies.ratelimit.SpikeArrestViolation"},
        }
    }
).encode()
_AUTH_BODY = json.dumps(
    {
        "fault": {
            "faultstring": "Invalid ApiKey",
            "detail": {"errorcode": "oauth.v2.InvalidApiKey"},
        }
    }
).encode()


# ---------------------------------------------------------------------------
# Identifiers


def _digest(*parts: object, size: int = 16) -> bytes:
    return hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=size).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def event_id(event: SandboxEvent) -> str:
    """The event's Ticketmaster id: 13-21 characters of ``[A-Za-z0-9_-]``, stable per key."""
    raw = _digest("tm-event", event.key)
    prefix = _EVENT_ID_PREFIXES[raw[1] % len(_EVENT_ID_PREFIXES)]
    # at least 8 random characters (48 bits) after the prefix: unique in a 1M world
    length = max(13 + raw[0] % 9, len(prefix) + 8)
    return (prefix + _b64(raw[2:]))[:length]


def _b62(raw: bytes, length: int) -> str:
    number = int.from_bytes(raw, "big")
    out = []
    for _ in range(length):
        number, digit = divmod(number, 62)
        out.append(_B62[digit])
    return "".join(out)


def venue_id(venue: Venue) -> str:
    """The venue's Ticketmaster id: 10 or 12 letters and digits."""
    raw = _digest("tm-venue", venue.key)
    return ("KovZpZ" + _b62(raw[1:], 6)) if raw[0] % 3 else ("Z6r9jZ" + _b62(raw[1:], 4))


@functools.lru_cache(maxsize=8192)
def _attraction_id(name: str) -> str:
    return "K8vZ917" + _b62(_digest("tm-attraction", name), 5)


def _artist_number(name: str) -> int:
    return int.from_bytes(_digest("tm-artist", name)[:3], "big")


@functools.lru_cache(maxsize=1024)
def _class_id(level: str, name: str) -> str:
    prefix = "KnvZfZ7v" if level == "genre" else "KZazBEonSMnZfZ7v"
    return prefix + _b62(_digest("tm-class", level, name), 3)


@functools.lru_cache(maxsize=8192)
def _slug(text: str) -> str:
    out = "".join(c.lower() if c.isascii() and c.isalnum() else "-" for c in text)
    return "-".join(filter(None, out.split("-")))


# ---------------------------------------------------------------------------
# Geohash


def decode_geohash(text: str) -> tuple[float, float]:
    """The (lat, lon) centre of a geohash cell; ValueError if ``text`` is not a geohash."""
    if not 1 <= len(text) <= 12:
        raise ValueError("a geohash has 1 to 12 characters")
    lat_lo, lat_hi, lon_lo, lon_hi = -90.0, 90.0, -180.0, 180.0
    even = True
    for char in text.lower():
        value = _GEOHASH.find(char)
        if value < 0:
            raise ValueError(f"{char!r} is not a geohash character")
        for shift in range(4, -1, -1):
            bit = (value >> shift) & 1
            if even:
                mid = (lon_lo + lon_hi) / 2
                lon_lo, lon_hi = (mid, lon_hi) if bit else (lon_lo, mid)
            else:
                mid = (lat_lo + lat_hi) / 2
                lat_lo, lat_hi = (mid, lat_hi) if bit else (lat_lo, mid)
            even = not even
    return (lat_lo + lat_hi) / 2, (lon_lo + lon_hi) / 2


# ---------------------------------------------------------------------------
# Rendering (pure): sandbox events → Ticketmaster JSON


def _z(moment: dt.datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _classification(event: SandboxEvent, rng: random.Random) -> dict[str, Any]:
    category, genre, sub = event.category, event.genre, event.subgenre
    if category in ("music", "nightlife"):
        segment = "Music"
    elif category in ("comedy", "theater", "arts"):
        segment = "Arts & Theatre"
    elif category == "film":
        segment, sub = "Film", None
    elif category == "sports":
        segment = "Sports"
    elif category in ("family", "learning"):
        segment = "Miscellaneous"
    else:
        segment = "Undefined" if rng.random() < 0.5 else "Miscellaneous"
        genre = "Undefined"
    sub_name = sub or "Undefined"
    if genre == "Undefined" or segment == "Undefined":
        sub_name = "Undefined"
    return {
        "primary": True,
        "segment": {"id": _SEGMENTS[segment], "name": segment},
        "genre": {"id": _class_id("genre", genre), "name": genre},
        "subGenre": {"id": _class_id("subGenre", sub_name), "name": sub_name},
        "type": dict(_TYPE),
        "subType": dict(_SUBTYPE),
        "family": event.family,
    }


def _images(
    event: SandboxEvent, ident: str, segment: str, base_url: str, rng: random.Random
) -> list[dict[str, Any]]:
    if rng.random() < 0.06:
        # Only the generic placeholder of the segment.
        chosen = rng.sample(_RENDITIONS, rng.randint(1, 3))
        stem, fallback = f"generic-{_slug(segment)}", True
    else:
        chosen = rng.sample(_RENDITIONS, rng.randint(4, 10))
        stem, fallback = ident, False
    chosen.sort(key=_RENDITIONS.index)
    return [
        {
            "ratio": ratio,
            "url": f"{base_url}/img/tm/{stem}_{ratio}_{w}x{h}.jpg",
            "width": w,
            "height": h,
            "fallback": fallback,
        }
        for ratio, w, h in chosen
    ]


def _start(event: SandboxEvent) -> dict[str, Any]:
    if event.start is None:
        tba = event.undated == "tba"
        return {"dateTBD": not tba, "dateTBA": tba, "timeTBA": True, "noSpecificTime": False}
    out: dict[str, Any] = {"localDate": event.start.date().isoformat()}
    if not (event.date_only or event.time_tba):
        out["localTime"] = event.start.strftime("%H:%M:%S")
        out["dateTime"] = _z(event.start)
    out.update(dateTBD=False, dateTBA=False, timeTBA=event.time_tba, noSpecificTime=event.date_only)
    return out


def _status(event: SandboxEvent, anchor: dt.datetime, rng: random.Random) -> str:
    if event.status == "cancelled":
        return "cancelled" if rng.random() < 0.75 else "canceled"
    if event.status in ("postponed", "rescheduled"):
        return event.status
    if event.onsale_at is not None and event.onsale_at > anchor:
        return "offsale"
    return "offsale" if rng.random() < 0.03 else "onsale"


def _venue_json(venue: Venue, upcoming: int) -> dict[str, Any]:
    quirk = _digest("tm-venue-quirk", venue.key)
    domain = _DOMAINS.get(venue.country_code, "www.ticketmaster.com")
    number = int.from_bytes(quirk[:3], "big")
    out: dict[str, Any] = {
        "name": venue.name,
        "type": "venue",
        "id": venue_id(venue),
        "test": False,
        "url": f"https://{domain}/{_slug(venue.name)}-tickets-{_slug(venue.locality)}/venue/{number}",
        "locale": "en-us",
        "postalCode": venue.postal_code,
        "timezone": venue.timezone,
        # A stray leading space, as observed (" Long Beach"), on about one venue in twelve.
        "city": {"name": (" " if quirk[3] % 12 == 0 else "") + venue.locality},
    }
    if venue.region:
        out["state"] = {"name": venue.region, "stateCode": venue.region_code}
    out["country"] = {"name": venue.country, "countryCode": venue.country_code}
    out["address"] = {"line1": venue.address}
    out["location"] = {
        "longitude": f"{venue.lon:.6f}".rstrip("0"),
        "latitude": f"{venue.lat:.6f}".rstrip("0"),
    }
    out["upcomingEvents"] = {"_total": upcoming, "ticketmaster": upcoming, "_filtered": 0}
    out["_links"] = {"self": {"href": f"/discovery/v2/venues/{out['id']}?locale=en-us"}}
    return out


def _venues_without_location(venues: Sequence[Venue]) -> frozenset[str]:
    """About 1% of venues lack ``location``: in a city of 30 or more, one small venue."""
    small = [v for v in venues if v.capacity < 1000]
    if len(venues) < 30 or not small:
        return frozenset()
    return frozenset({min(small, key=lambda v: _digest("tm-no-location", v.key)).key})


def render_event(
    event: SandboxEvent,
    *,
    base_url: str,
    anchor: dt.datetime,
    venue: dict[str, Any] | None = None,
    upcoming: Counter[str] | None = None,
) -> dict[str, Any]:
    """The Discovery v2 JSON object of one event (without search-only ``distance``).

    ``venue`` is the pre-rendered venue object (rendered here when None); ``upcoming``
    counts events per attraction name for ``upcomingEvents``. Pure and deterministic.
    """
    rng = random.Random(int.from_bytes(_digest("tm-render", event.key, size=8), "big"))
    ident = event_id(event)
    classification = _classification(event, rng)
    segment = classification["segment"]["name"]
    domain = _DOMAINS.get(event.venue.country_code, "www.ticketmaster.com")
    code = _digest("tm-url", event.key).hex()[:16].upper()
    if event.start is not None:
        where = "-".join(
            filter(None, (_slug(event.venue.locality), _slug(event.venue.region_code or "")))
        )
        url = f"https://{domain}/{_slug(event.title)[:60]}-{where}-{event.start.strftime('%m-%d-%Y')}/event/{code}"
    else:
        url = f"https://{domain}/event/{code}"
    out: dict[str, Any] = {
        "name": event.title,
        "type": "event",
        "id": ident,
        "test": False,
        "url": url,
        "locale": "en-us",
        "images": _images(event, ident, segment, base_url, rng),
    }
    if event.onsale_at is not None:
        public: dict[str, Any] = {
            "startDateTime": _z(event.onsale_at),
            "startTBD": False,
            "startTBA": False,
        }
        if event.start is not None:
            public["endDateTime"] = _z(event.start)
        out["sales"] = {"public": public}
    dates: dict[str, Any] = {"start": _start(event)}
    if event.end is not None:
        end: dict[str, Any] = {"localDate": event.end.date().isoformat()}
        if not event.date_only:
            end["localTime"] = event.end.strftime("%H:%M:%S")
            end["dateTime"] = _z(event.end)
        end.update(approximate=False, noSpecificTime=event.date_only)
        dates["end"] = end
    if rng.random() >= 0.2:  # ~20% of events omit the timezone; the venue always has it
        dates["timezone"] = event.venue.timezone
    dates["status"] = {"code": _status(event, anchor, rng)}
    dates["spanMultipleDays"] = event.end is not None and event.end.date() != event.start.date()  # type: ignore[union-attr]
    if event.initial_start is not None:
        dates["initialStartDate"] = {
            "localDate": event.initial_start.date().isoformat(),
            "localTime": event.initial_start.strftime("%H:%M:%S"),
            "dateTime": _z(event.initial_start),
        }
    out["dates"] = dates
    out["classifications"] = [classification]
    if event.description and rng.random() < 0.7:
        out["description"] = event.description
    if rng.random() < 0.1:
        out["info"] = rng.choice(
            (
                "Ticket limit of 8 per household.",
                "All ages. Bag policy in effect; see venue website.",
                "Doors open 60 minutes before showtime.",
            )
        )
    if rng.random() < 0.1:
        out["pleaseNote"] = "Please note: all sales are final. No refunds or exchanges."
    if event.price_min is not None and event.price_max is not None and rng.random() < 0.25:
        out["priceRanges"] = [
            {
                "type": "standard",
                "currency": event.currency,
                "min": event.price_min,
                "max": event.price_max,
            }
        ]
    out["_links"] = {
        "self": {"href": f"/discovery/v2/events/{ident}?locale=en-us"},
        "venues": [{"href": f"/discovery/v2/venues/{venue_id(event.venue)}?locale=en-us"}],
    }
    embedded: dict[str, Any] = {
        "venues": [venue if venue is not None else _venue_json(event.venue, 0)]
    }
    attractions: list[dict[str, Any]] = [
        {
            "name": p.name,
            "type": "attraction",
            "id": _attraction_id(p.name),
            "test": False,
            "url": f"https://{domain}/{_slug(p.name)}-tickets/artist/{_artist_number(p.name)}",
            "locale": "en-us",
            "classifications": [classification],
            "upcomingEvents": {"_total": upcoming[p.name] if upcoming else 1},
            "_links": {
                "self": {"href": f"/discovery/v2/attractions/{_attraction_id(p.name)}?locale=en-us"}
            },
        }
        for p in event.performers
        if event.category in ("music", "nightlife", "comedy", "sports")
    ]
    if attractions:
        out["_links"]["attractions"] = [a["_links"]["self"] for a in attractions]
        embedded["attractions"] = attractions
    out["_embedded"] = embedded
    return out


# ---------------------------------------------------------------------------
# The index: pre-rendered events, orders and filters


class _BadRequest(Exception):
    def __init__(self, code: str, detail: str, status: int = 400) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.status = status


@attrs.frozen
class _Query:
    """The normalised filters of a search (its cache key)."""

    start: float | None
    end: float | None
    tba: str
    tbd: str
    family: str
    geo: tuple[float, float, float, str] | None  # lat, lon, radius in km, unit
    keyword: tuple[str, ...]
    classes: tuple[str, ...]
    country: str | None
    cities: tuple[str, ...]
    venue_ids: tuple[str, ...]
    ids: tuple[str, ...]
    sort: str


class _Index:
    """Every event of a world, rendered once to JSON bytes, with precomputed orders."""

    def __init__(self, world: World, base_url: str) -> None:
        events = world.events
        self.venues = list(world.venues)
        venue_pos = {v.key: i for i, v in enumerate(self.venues)}
        per_venue = Counter(e.venue.key for e in events)
        per_act = Counter(p.name for e in events for p in e.performers)
        no_location = _venues_without_location(self.venues)
        venue_json = {}
        for v in self.venues:
            rendered = _venue_json(v, per_venue[v.key])
            if v.key in no_location:
                del rendered["location"]
            venue_json[v.key] = rendered
        self.bodies: list[bytes] = []  # each event's JSON without its closing brace
        self.ids: list[str] = []
        self.names: list[str] = []
        self.venue_of: list[int] = []
        self.family: list[bool] = []
        self.words: list[frozenset[str]] = []
        self.classes: list[frozenset[str]] = []
        self.instants: list[float] = []  # of the dated events, which come first, in order
        self.onsale: list[float] = []
        self.undated: list[int] = []
        self.tbd: set[int] = set()
        popularity = []
        for i, event in enumerate(events):
            payload = render_event(
                event,
                base_url=base_url,
                anchor=world.anchor,
                venue=venue_json[event.venue.key],
                upcoming=per_act,
            )
            body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
            self.bodies.append(body[:-1])
            self.ids.append(payload["id"])
            self.names.append(event.title.lower())
            self.venue_of.append(venue_pos[event.venue.key])
            self.family.append(event.family)
            text = " ".join([event.title, *(p.name for p in event.performers)]).lower()
            self.words.append(frozenset(re.findall(r"\w+", text)))
            c = payload["classifications"][0]
            self.classes.append(
                frozenset(
                    c[level]["name"].lower()
                    for level in ("segment", "genre", "subGenre", "type", "subType")
                )
            )
            popularity.append(event.popularity)
            self.onsale.append(event.onsale_at.timestamp() if event.onsale_at else 0.0)
            if event.instant is not None:
                self.instants.append(event.instant.timestamp())
            else:
                self.undated.append(i)
                if event.undated == "tbd":
                    self.tbd.add(i)
        if len(set(self.ids)) != len(self.ids):  # 48+ random bits: never expected
            raise RuntimeError("duplicate Ticketmaster event ids in the sandbox world")
        self.by_id = {ident: i for i, ident in enumerate(self.ids)}
        n = len(events)
        self.dated = len(self.instants)
        # Ranks: position of each event in each documented order.
        self.rank_relevance = _ranks(n, key=lambda i: (-popularity[i], self.ids[i]))
        self.rank_id = _ranks(n, key=lambda i: self.ids[i])
        self.rank_name = _ranks(n, key=lambda i: (self.names[i], self.ids[i]))
        self.rank_date = _ranks(
            n,
            key=lambda i: (
                i >= self.dated,
                self.instants[i] if i < self.dated else 0.0,
                self.ids[i],
            ),
        )
        self.rank_venue = _ranks(
            n, key=lambda i: (self.venues[self.venue_of[i]].name.lower(), self.rank_date[i])
        )
        self.rank_onsale = _ranks(n, key=lambda i: (self.onsale[i], self.ids[i]))
        self._cache: OrderedDict[_Query, tuple[list[int], dict[int, float] | None]] = OrderedDict()

    def match(self, q: _Query) -> tuple[list[int], dict[int, float] | None]:
        """The ordered event positions a query selects, and their distances (geo queries)."""
        cached = self._cache.get(q)
        if cached is not None:
            self._cache.move_to_end(q)
            return cached
        result = self._match(q)
        self._cache[q] = result
        if len(self._cache) > 256:
            self._cache.popitem(last=False)
        return result

    def _match(self, q: _Query) -> tuple[list[int], dict[int, float] | None]:
        picked: list[int] = []
        if q.tba != "only" and q.tbd != "only":
            lo = 0 if q.start is None else bisect.bisect_left(self.instants, q.start)
            hi = self.dated if q.end is None else bisect.bisect_right(self.instants, q.end)
            picked.extend(range(lo, hi))
        for i in self.undated:
            kind = q.tbd if i in self.tbd else q.tba
            other = q.tba if i in self.tbd else q.tbd
            if kind in ("yes", "only") and other != "only":
                picked.append(i)

        distances: dict[int, float] | None = None
        if q.geo is not None:
            lat, lon, radius_km, unit = q.geo
            per_venue = [distance_km(lat, lon, v.lat, v.lon) for v in self.venues]
            divisor = 1.0 if unit == "km" else _KM_PER_MILE
            distances = {}
            kept = []
            for i in picked:
                d = per_venue[self.venue_of[i]]
                if d <= radius_km:
                    kept.append(i)
                    distances[i] = round(d / divisor, 2)
            picked = kept
        if q.family != "yes":
            want = q.family == "only"
            picked = [i for i in picked if self.family[i] == want]
        if q.keyword:
            words = set(q.keyword)
            picked = [i for i in picked if words <= self.words[i]]
        if q.classes:
            positive = {c for c in q.classes if not c.startswith("-")}
            negative = {c[1:] for c in q.classes if c.startswith("-")}
            picked = [
                i
                for i in picked
                if (not positive or positive & self.classes[i]) and not negative & self.classes[i]
            ]
        if q.country is not None:
            picked = [
                i for i in picked if self.venues[self.venue_of[i]].country_code.lower() == q.country
            ]
        if q.cities:
            picked = [
                i for i in picked if self.venues[self.venue_of[i]].locality.lower() in q.cities
            ]
        if q.venue_ids:
            wanted = set(q.venue_ids)
            picked = [i for i in picked if venue_id(self.venues[self.venue_of[i]]) in wanted]
        if q.ids:
            wanted = set(q.ids)
            picked = [i for i in picked if self.ids[i] in wanted]
        return self._order(picked, q.sort, distances), distances

    def _order(self, picked: list[int], sort: str, distances: dict[int, float] | None) -> list[int]:
        field, _, direction = sort.rpartition(",")
        reverse = direction == "desc"
        ranks = {
            "relevance": self.rank_relevance,
            "id": self.rank_id,
            "name": self.rank_name,
            "date": self.rank_date,
            "venueName": self.rank_venue,
            "onSaleStartDate": self.rank_onsale,
            "name,date": self.rank_name,
            "date,name": self.rank_date,
        }
        if sort == "random":
            shuffled = list(picked)
            random.shuffle(shuffled)
            return shuffled
        if field in ("distance", "distance,date") and distances is not None:
            rank_date = self.rank_date
            return sorted(picked, key=lambda i: (distances[i], rank_date[i]))
        rank = ranks.get(field)
        if rank is None:  # unknown sorts fall back to relevance
            rank, reverse = self.rank_relevance, False
        return sorted(picked, key=rank.__getitem__, reverse=reverse)


def _ranks(n: int, *, key: Callable[[int], Any]) -> list[int]:
    order = sorted(range(n), key=key)
    ranks = [0] * n
    for position, i in enumerate(order):
        ranks[i] = position
    return ranks


# ---------------------------------------------------------------------------
# Request parsing


def _param_date(params: dict[str, str], name: str) -> float | None:
    value = params.get(name)
    if value is None:
        return None
    try:
        if not _DATE_RE.match(value):
            raise ValueError(value)
        moment = dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise _BadRequest(
            "DIS1015",
            f'Query param "{name}" must be a valid date in the format of YYYY-MM-DDTHH:mm:ssZ',
        ) from None
    return moment.timestamp()


def _param_int(params: dict[str, str], name: str, default: int) -> int:
    value = params.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise _BadRequest("DIS1001", f'Query param "{name}" must be a number') from None
    return number


def _param_choice(params: dict[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = params.get(name, default).lower()
    if value not in choices:
        raise _BadRequest("DIS1001", f'Query param "{name}" must be one of {", ".join(choices)}')
    return value


def _values(items: list[tuple[str, str]], name: str) -> tuple[str, ...]:
    """All values of a repeated or comma-separated parameter, lower-cased and stripped."""
    out: list[str] = []
    for key, value in items:
        if key == name:
            out.extend(part.strip().lower() for part in value.split(",") if part.strip())
    return tuple(out)


def _parse(items: list[tuple[str, str]]) -> tuple[_Query, int, int]:
    """Validate a search's parameters: (query, page, size); raises _BadRequest."""
    params = dict(items)
    start = _param_date(params, "startDateTime")
    end = _param_date(params, "endDateTime")
    dated = start is not None or end is not None
    default_tb = "no" if dated else "yes"
    tba = _param_choice(params, "includeTBA", default_tb, ("yes", "no", "only"))
    tbd = _param_choice(params, "includeTBD", default_tb, ("yes", "no", "only"))
    family = _param_choice(params, "includeFamily", "yes", ("yes", "no", "only"))

    geo = None
    point = params.get("geoPoint")
    latlong = params.get("latlong")
    if point or latlong:
        try:
            if point:
                lat, lon = decode_geohash(point)
            else:
                lat_s, lon_s = latlong.split(",")  # type: ignore[union-attr]
                lat, lon = float(lat_s), float(lon_s)
                if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                    raise ValueError(latlong)
        except ValueError:
            name = "geoPoint" if point else "latlong"
            raise _BadRequest("DIS1001", f'Query param "{name}" is not a valid location') from None
        unit = _param_choice(params, "unit", "miles", ("miles", "km"))
        try:
            radius = float(params.get("radius") or 50)
            if not (radius > 0 and math.isfinite(radius)):
                raise ValueError(radius)
        except ValueError:
            raise _BadRequest("DIS1001", 'Query param "radius" must be a positive number') from None
        geo = (lat, lon, radius * (1.0 if unit == "km" else _KM_PER_MILE), unit)

    size = _param_int(params, "size", 20)
    page = _param_int(params, "page", 0)
    if size > MAX_SIZE:
        raise _BadRequest("DIS1036", 'Query param "size" must be less than 200')
    if size < 1 or page < 0:
        raise _BadRequest("DIS1001", 'Query params "page" and "size" must not be negative')
    offset = page * size
    if offset >= RESULTS_OFFSET_CAP:
        raise _BadRequest("DIS1024", "Results limit exceeded. Please refine your search criteria.")
    if offset > MAX_DEPTH:
        raise _BadRequest(
            "DIS1035",
            "API Limits Exceeded: Max paging depth exceeded. (page * size) must be less than 1,000",
        )
    keyword = tuple(re.findall(r"\w+", params.get("keyword", "").lower()))
    country = params.get("countryCode")
    query = _Query(
        start=start,
        end=end,
        tba=tba,
        tbd=tbd,
        family=family,
        geo=geo,
        keyword=keyword,
        classes=_values(items, "classificationName"),
        country=country.lower() if country else None,
        cities=_values(items, "city"),
        venue_ids=tuple(v.strip() for k, v in items if k == "venueId" for v in v.split(",")),
        ids=tuple(v.strip() for k, v in items if k == "id" for v in v.split(",")),
        sort=params.get("sort", "relevance,desc").replace(" ", ""),
    )
    return query, page, size


def _links(items: list[tuple[str, str]], page: int, size: int, total_pages: int) -> dict[str, Any]:
    """HAL links: relative, templated, and never carrying the key."""
    kept = [(k, v) for k, v in items if k not in ("apikey", "page", "size")]
    prefix = urllib.parse.urlencode(kept, safe=",:")
    template = "" if any(k == "sort" for k, _ in kept) else "{&sort}"

    def href(number: int) -> dict[str, Any]:
        query = f"{prefix}&" if prefix else ""
        link: dict[str, Any] = {"href": f"{_LINK_PATH}?{query}page={number}&size={size}{template}"}
        if template:
            link["templated"] = True
        return link

    links = {"first": href(0), "self": href(page)}
    if page > 0:
        links["prev"] = href(page - 1)
    if page + 1 < total_pages:
        links["next"] = href(page + 1)
    if total_pages > 0:
        links["last"] = href(total_pages - 1)
    return links


def _error(code: str, detail: str, status: int = 400) -> Response:
    body = {
        "errors": [
            {
                "code": code,
                "detail": detail,
                "status": f"{status} {'BAD_REQUEST' if status == 400 else 'NOT_FOUND'}",
                "_links": {"about": {"href": f"/discovery/v2/errors.html#{code}"}},
            }
        ]
    }
    return Response(json.dumps(body).encode(), status_code=status, media_type=_JSON)


# ---------------------------------------------------------------------------
# The API


class TicketmasterApi:
    """The emulated Discovery API for one world.

    Construct it, mount ``routes()`` under ``PREFIX`` (and ``ALIASES``), then call
    ``publish(base_url)`` once the server's address is known (image URLs point at the
    server); until then every request gets 503. ``publish`` is CPU-bound (renders every
    event once): run it off the Trio thread. Limits are in-memory, per key.
    """

    name = NAME
    prefix = PREFIX
    aliases: Sequence[str] = ALIASES
    key = API_KEY

    def __init__(
        self,
        world: World,
        *,
        rate_limit: bool = True,
        daily_quota: int = DAILY_QUOTA,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.world = world
        self.spike = SpikeArrest(SPIKE_RATE, 1.0, clock=monotonic) if rate_limit else None
        self.quota = DailyQuota(daily_quota, clock=wall)
        self._index: _Index | None = None

    @property
    def event_count(self) -> int:
        return len(self.world.events)

    def publish(self, base_url: str) -> None:
        """Render and index every event with images under ``base_url``; then serve."""
        self._index = _Index(self.world, base_url.rstrip("/"))

    def routes(self) -> list[BaseRoute]:
        """The API's routes, relative to its prefix."""
        return [
            Route("/events.json", self.search, methods=["GET"]),
            Route("/events", self.search, methods=["GET"]),
            Route("/events/{event_id}.json", self.detail, methods=["GET"]),
            Route("/events/{event_id}", self.detail, methods=["GET"]),
        ]

    # -- gateway ----------------------------------------------------------

    def _gate(self, request: Request) -> tuple[Response | None, dict[str, str]]:
        """Auth, spike arrest and quota: (error response or None, rate-limit headers)."""
        key = request.query_params.get("apikey")
        if key != API_KEY:
            return Response(_AUTH_BODY, status_code=401, media_type=_JSON), {}
        if self.spike is not None and not self.spike.allow(key):
            return Response(_SPIKE_BODY, status_code=429, media_type=_JSON), {}
        state = self.quota.take(key)
        if state is None:
            body = {
                "fault": {
                    "faultstring": "Rate limit quota violation. Quota limit  exceeded. "
                    f"Identifier : {key}",
                    "detail": {"errorcode": "policies.ratelimit.QuotaViolation"},
                }
            }
            return Response(json.dumps(body).encode(), status_code=429, media_type=_JSON), {}
        return None, {
            "Rate-Limit": str(state.limit),
            "Rate-Limit-Available": str(state.available),
            "Rate-Limit-Over": str(state.over),
            "Rate-Limit-Reset": str(state.reset_ms),
        }

    # -- handlers ---------------------------------------------------------

    async def search(self, request: Request) -> Response:
        """``GET /events.json``: one page of a search."""
        index = self._index
        if index is None:
            return Response(b"sandbox starting", status_code=503, media_type="text/plain")
        refused, headers = self._gate(request)
        if refused is not None:
            return refused
        items = request.query_params.multi_items()
        try:
            query, page, size = _parse(items)
        except _BadRequest as bad:
            return _error(bad.code, bad.detail, bad.status)
        picked, distances = index.match(query)
        total = min(len(picked), RESULTS_CAP)
        total_pages = -(-total // size)
        offset = page * size
        chunk = picked[offset : min(offset + size, total)]
        parts = []
        if distances is None:
            parts = [index.bodies[i] + b"}" for i in chunk]
        else:
            units = b"KILOMETERS" if query.geo is not None and query.geo[3] == "km" else b"MILES"
            parts = [
                index.bodies[i]
                + b',"distance":'
                + repr(distances[i]).encode()
                + b',"units":"'
                + units
                + b'"}'
                for i in chunk
            ]
        tail = json.dumps(
            {
                "_links": _links(items, page, size, total_pages),
                "page": {
                    "size": size,
                    "totalElements": total,
                    "totalPages": total_pages,
                    "number": page,
                },
            },
            separators=(",", ":"),
        ).encode()
        # The envelope is assembled from pre-rendered bytes; "_embedded" is absent when empty.
        events = b'{"_embedded":{"events":[' + b",".join(parts) + b"]}," if parts else b"{"
        body = events + tail[1:]
        return Response(body, media_type=_JSON, headers=headers)

    async def detail(self, request: Request) -> Response:
        """``GET /events/{id}.json``: one event."""
        index = self._index
        if index is None:
            return Response(b"sandbox starting", status_code=503, media_type="text/plain")
        refused, headers = self._gate(request)
        if refused is not None:
            return refused
        ident = request.path_params["event_id"]
        position = index.by_id.get(ident)
        if position is None:
            return _error(
                "DIS1004",
                f"Resource not found with provided criteria (locale=en-us, id={ident})",
                404,
            )
        return Response(index.bodies[position] + b"}", media_type=_JSON, headers=headers)
