"""Eventbrite API v3, emulated from its documented and observed behaviour.

Written from the reference notes (``/work/shared/reference/apis.md`` §2) alone, never from
the adapter, so that the adapter's mistakes show up against it.

Eventbrite has no search: a crawler lists the events of organizations, organizers and
venues it knows. The sandbox carries about a third of the world's events (comedy, smaller
music, nightlife, talks, gallery programmes, family days), plus small local events that
Ticketmaster does not list (food & drink, community, classes: ``local_events``) and a
few online events, organised under a handful of venue houses and promoters.

Served under ``/eb/v3`` (all paths end with ``/``):

- ``GET /organizations/{id}/events/``: an organization's events. ``status`` (comma list
  of ``live,started,ended,completed,canceled,all``; default every public status;
  ``draft`` → 403 ``NOT_AUTHORIZED``, drafts are the owner's), ``order_by``
  (``start_asc`` default, ``start_desc``, ``created_*``, ``name_*``; other → 400
  ``ARGUMENTS_ERROR``), ``time_filter`` (``all`` default, ``past``, ``current_future``;
  past means ended before the sandbox published). Only the organizations of listed
  organizers answer; any other id → 404 ``NOT_FOUND`` (as reported for organizations
  other than the caller's own).
- ``GET /organizers/{id}/events/``: the legacy per-organizer listing, same parameters.
- ``GET /venues/{id}/events/``: a venue's events from every organizer. ``status``,
  ``order_by``, ``start_date.range_start``/``range_end`` (``YYYY-MM-DDThh:mm:ss``, with
  ``Z`` for UTC or without for the venue's local time; inclusive bounds on the start;
  other → 400 ``ARGUMENTS_ERROR``). Its pagination omits ``object_count`` and
  ``page_count``, as the docs allow.
- ``GET /events/{id}/`` and ``GET /venues/{id}/``: one event or venue, or 404.

Every listing pages the same way: ``page_size`` (default 50, silently capped at
``MAX_PAGE_SIZE`` = 200: "roughly honoured"), an opaque ``continuation`` token (present on
every non-empty page, the last one included; following the last page's token gives an
empty page; a token that is malformed or minted for other filters → 400
``BAD_CONTINUATION_TOKEN``) and the older 1-based ``page`` (past the last page → 400
``BAD_PAGE``). ``expand=venue,ticket_availability,organizer`` adds those objects
(unexpanded: ``venue_id``/``organizer_id`` only); ``logo`` is in every event whether or not
it is expanded (as observed). Online events have ``online_event: true``, ``venue_id:
null`` and ``venue: null`` when expanded; they are listed by their organizers only.

Auth: ``Authorization: Bearer <token>`` or ``?token=``; none → 401 ``NO_AUTH``, wrong →
401 ``INVALID_AUTH``. More than ``HOURLY_LIMIT`` (2,000) calls per token in any rolling
hour → 429 ``HIT_RATE_LIMIT`` (``rate_limit=False`` disables it). No rate-limit headers
(none are documented). Error bodies are ``{"status_code", "error", "error_description"}``.

The listed ids (``eventbrite_organizers``): the organization ids of the venue houses and
promoters, plus the organizer id of one promoter whose organization is not readable (404
on ``/organizations/``, served by ``/organizers/``); ``deleted_organizer`` is an id that is
404 on both (not listed, so that a sandbox crawl succeeds). One promoter is not listed
at all: its events are reachable only through the listed venues (``eventbrite_venues``),
whose listings also hold events of listed organizers, so a crawl sees some events twice.

Payload quirks: ids are numeric strings; coordinates are strings; ``start``/``end`` carry
the naive local time, its zone and UTC; ``description`` only repeats the summary; about a
quarter of cancelled events still say ``live`` (the reported lag); events under way or
over when the sandbox published say ``started``/``ended``; prices are Currency objects in
minor units; about 10% of events have ``logo: null``; titles of the events Ticketmaster
also lists often differ a little (``"Late Show at the Comedy Cellar"`` for ``"Comedy
Cellar: Late Show"``, a ``" \u2013 Live"`` or ``" | New York"`` suffix).
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import hmac
import json
import math
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import attrs
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .data import UTC, SandboxEvent, Venue, World
from .limits import SpikeArrest

__all__ = [
    "API_KEY",
    "HOURLY_LIMIT",
    "MAX_PAGE_SIZE",
    "NAME",
    "PREFIX",
    "EventbriteApi",
    "local_events",
]

NAME = "eventbrite"
PREFIX = "/eb/v3"
API_KEY = "sandbox-eventbrite-token"
HOURLY_LIMIT = 2000
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200

_JSON = "application/json"
_PUBLIC = frozenset({"live", "started", "ended", "completed", "canceled"})
_STATUSES = _PUBLIC | {"draft", "all"}
_ORDERS = ("start_asc", "start_desc", "created_asc", "created_desc", "name_asc", "name_desc")
_TIME_FILTERS = ("all", "past", "current_future")
_EXPANSIONS = frozenset({"venue", "ticket_availability", "organizer"})
_DATE_RE = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(Z?)$")
_DOMAINS = {
    "GB": "www.eventbrite.co.uk",
    "DE": "www.eventbrite.de",
    "FR": "www.eventbrite.fr",
    "CA": "www.eventbrite.ca",
}
_CURRENCY = {"US": "USD", "GB": "GBP", "DE": "EUR", "FR": "EUR", "CA": "CAD"}
_LOCALE = {"US": "en_US", "GB": "en_GB", "DE": "de_DE", "FR": "fr_FR", "CA": "en_CA"}

# Eventbrite's top-level category ids, and the format ids ("Concert or Performance", ...).
_CATEGORY = {
    "music": "103",
    "film": "104",
    "comedy": "105",
    "theater": "105",
    "arts": "105",
    "sports": "108",
    "food": "110",
    "community": "113",
    "family": "115",
    "learning": "102",
    "nightlife": "110",
    "other": "113",
}
_SUBCATEGORY = {  # the sandbox's own subcategory ids, on some categories only
    "Jazz": "3003",
    "Comedy": "5010",
    "Theatre": "5001",
    "Dance": "5004",
    "Opera": "5005",
    "Fine Art": "5008",
}
_FORMAT = {
    "music": "6",
    "comedy": "6",
    "theater": "6",
    "arts": "2",
    "film": "7",
    "nightlife": "11",
    "family": "17",
    "learning": "2",
    "food": "8",
    "community": "10",
    "sports": "14",
    "other": "100",
}
_DURATION_MIN = {
    "music": 180,
    "comedy": 90,
    "theater": 150,
    "arts": 90,
    "film": 130,
    "nightlife": 240,
    "family": 90,
    "learning": 90,
    "food": 150,
    "community": 120,
    "sports": 180,
    "other": 120,
}
_LOGO_SIZES = ((2160, 1080), (1920, 960), (1600, 800), (1200, 600), (1080, 1080), (940, 470))
_SUMMARIES = {
    "music": "Live music at {venue}. Doors open an hour before the show.",
    "comedy": "Stand-up comedy at {venue}. Two-drink minimum; 21+ with valid ID.",
    "theater": "A night of theatre at {venue}.",
    "arts": "Join us at {venue} for an evening of art and conversation.",
    "film": "A screening at {venue}, with an introduction.",
    "nightlife": "Dance until late at {venue}. 21+.",
    "family": "A morning of hands-on fun for the whole family at {venue}.",
    "learning": "An engaging talk followed by an audience Q&A at {venue}.",
    "food": "Taste, sip and meet your neighbours at {venue}. Limited spots.",
    "community": "Free and open to everyone: come along to {venue} and say hello.",
    "other": "Join us at {venue}.",
}

# Local events (Eventbrite and Yelp carry them; Ticketmaster does not).
_LOCAL_KINDS = frozenset(
    {"museum", "science_museum", "club", "jazz_club", "comedy_club", "cinema", "dance_club"}
)
_LOCAL_TIMES = ("10:15", "12:30", "17:30", "18:15")
_LOCAL_SHARE = 0.05  # chance of a local event per eligible venue and day
_FOOD = (
    "Natural Wine Tasting",
    "Mezcal & Tacos Pop-Up",
    "Supper Club: {cuisine} Tasting Menu",
    "Cocktail Masterclass",
    "Craft Beer Social",
    "Cheese & Wine Pairing",
    "Sunday Brunch Social",
    "Whiskey Flight Night",
)
_CUISINES = ("Oaxacan", "Sichuan", "Ethiopian", "Neapolitan", "Levantine", "Basque", "Korean")
_COMMUNITY = (
    "Neighborhood Book Swap",
    "Community Open Mic",
    "Volunteer Orientation",
    "Board Game Social",
    "Language Exchange Meetup",
    "Run Club & Coffee",
    "Plant Swap",
)
_CLASSES = (
    "Intro to Film Photography",
    "Sketching in the Galleries",
    "Beginner Salsa Class",
    "Pottery Taster Session",
    "Creative Writing Workshop",
    "Candle Making Workshop",
)
_ONLINE = (
    ("learning", "Webinar: Growing Your Small Business Online"),
    ("learning", "Intro to Python for Beginners (Online)"),
    ("learning", "Virtual Career Fair: Creative Industries"),
    ("comedy", "Virtual Comedy Hour"),
    ("music", "Live Stream: Jazz from the Living Room"),
    ("community", "Online Mindfulness Session"),
    ("learning", "Photography Masterclass (Zoom)"),
)

# Promoters: (role, name pattern, categories they take).
_PROMOTERS = (
    ("comedy", "{city} Comedy Collective", frozenset({"comedy"})),
    ("music", "Night Shift Presents", frozenset({"music"})),
    ("nightlife", "After Dark {city}", frozenset({"nightlife"})),
    ("talks", "{city} Talks & Tours", frozenset({"learning", "arts", "other"})),
    ("family", "Little Explorers {city}", frozenset({"family"})),
    ("film", "{city} Film Society", frozenset({"film", "theater", "sports"})),
    ("food", "{city} Supper Club", frozenset({"food"})),
    ("community", "Neighbors of {city}", frozenset({"community"})),
)
_LEGACY_ROLE = "film"  # its organization is not readable: list it by its organizer id
_UNLISTED_ROLE = "community"  # not in eventbrite_organizers: reachable through venues only
_HOUSES = 5  # the venues with the most Eventbrite events are their own organizers
_HOUSE_SHARE = 0.75  # of a house venue's events, the share the house itself sells

_ERRORS = {
    "NO_AUTH": (401, "An OAuth token is required for this request."),
    "INVALID_AUTH": (401, "The OAuth token you provided was invalid."),
    "NOT_AUTHORIZED": (403, "You do not have permission to access the resource you requested."),
    "HIT_RATE_LIMIT": (
        429,
        "Hourly rate limit has been reached for this token. "
        "Default rate limits are 2,000 calls per hour.",
    ),
    "BAD_PAGE": (400, "The page number you provided is invalid."),
    "BAD_CONTINUATION_TOKEN": (400, "The continuation token you provided is invalid."),
}


# ---------------------------------------------------------------------------
# Hashing and identifiers


def _digest(*parts: object, size: int = 16) -> bytes:
    return hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=size).digest()


def _number(*parts: object) -> int:
    return int.from_bytes(_digest(*parts, size=8), "big")


def _rng(*parts: object) -> random.Random:
    return random.Random(_number(*parts))


def _digits(count: int, *parts: object) -> str:
    """A numeric id of exactly ``count`` digits (no leading zero)."""
    low = 10 ** (count - 1)
    return str(low + _number(*parts) % (9 * low))


@functools.lru_cache(maxsize=8192)
def _slug(text: str) -> str:
    out = "".join(c.lower() if c.isascii() and c.isalnum() else "-" for c in text)
    return "-".join(filter(None, out.split("-")))


def _html(text: str) -> str:
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#39;")
    )


def _z(moment: dt.datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# ---------------------------------------------------------------------------
# Local events: provider-neutral extras the world does not hold


def local_events(world: World) -> tuple[SandboxEvent, ...]:
    """Small food & drink, community and class events at the world's smaller venues.

    Ticketmaster does not carry events like these; Eventbrite lists them and Yelp lists
    some of them too, so cross-source de-duplication also meets pairs without a
    Ticketmaster twin. Deterministic per (seed, venue, local date); never at the same
    venue and start as a world event; in start order, each starting inside the world's
    window. Pure.
    """
    taken = {(e.venue.key, e.start) for e in world.events if e.start is not None}
    out: list[SandboxEvent] = []
    for venue in world.venues:
        if venue.kind not in _LOCAL_KINDS:
            continue
        zone = ZoneInfo(venue.timezone)
        day = world.anchor.astimezone(zone).date()
        last = (world.end - dt.timedelta(microseconds=1)).astimezone(zone).date()
        while day <= last:
            key = f"{world.seed}:local:{venue.key}:{day.isoformat()}"
            rng = _rng(key)
            if rng.random() < _LOCAL_SHARE:
                hour, minute = map(int, rng.choice(_LOCAL_TIMES).split(":"))
                start = dt.datetime.combine(day, dt.time(hour, minute), tzinfo=zone)
                if world.anchor <= start < world.end and (venue.key, start) not in taken:
                    out.append(_local_event(key, rng, venue, start))
            day += dt.timedelta(days=1)
    out.sort(key=lambda e: (e.instant, e.key))
    return tuple(out)


def _local_event(key: str, rng: random.Random, venue: Venue, start: dt.datetime) -> SandboxEvent:
    r = rng.random()
    if r < 0.4:
        category, genre = "food", "Food & Drink"
        title = rng.choice(_FOOD).format(cuisine=rng.choice(_CUISINES))
        low, high = (0.0, 0.0) if rng.random() < 0.05 else (25.0, 95.0)
    elif r < 0.7:
        category, genre = "community", "Community"
        title = rng.choice(_COMMUNITY)
        low, high = (0.0, 0.0) if rng.random() < 0.6 else (5.0, 20.0)
    else:
        category, genre = "learning", "Class"
        title = rng.choice(_CLASSES)
        low, high = (20.0, 75.0)
    if high:
        low = float(round(rng.uniform(low, (low + high) / 2)))
        high = float(max(low, round(rng.uniform(low, high))))
    return SandboxEvent(
        key=key,
        title=title,
        category=category,
        genre=genre,
        subgenre=None,
        venue=venue,
        start=start,
        price_min=low,
        price_max=high,
        currency=_CURRENCY.get(venue.country_code, "USD"),
        description=f"{title} at {venue.name}.",
        popularity=round(0.1 + 0.4 * rng.random(), 4),
        onsale_at=(start - dt.timedelta(days=rng.randrange(7, 40))).astimezone(UTC),
    )


# ---------------------------------------------------------------------------
# The catalogue: which events Eventbrite carries, and who organises them


def _share(event: SandboxEvent) -> float:
    """How likely Eventbrite lists a world event (the kinds of events it carries)."""
    kind, category = event.venue.kind, event.category
    if category == "comedy":
        return 0.5 if kind == "comedy_club" else 0.2
    if category == "music":
        return {"jazz_club": 0.35, "club": 0.3}.get(kind, 0.03)
    if category == "arts":
        return 0.55 if kind in ("museum", "science_museum") else 0.1
    if category == "film":
        return 0.15
    if category == "theater":
        return 0.2 if kind == "playhouse" else 0.02
    return {"nightlife": 0.6, "learning": 0.9, "family": 0.5, "other": 0.8}.get(category, 0.0)


def _variant_title(event: SandboxEvent, rng: random.Random) -> str:
    """Eventbrite's title for a world event: often the organizer's own wording."""
    title, venue = event.title, event.venue
    r = rng.random()
    head = f"{venue.name}: "
    if title.startswith(head) and r < 0.7:
        article = "" if venue.name.startswith("The ") else "the "
        return f"{title[len(head) :]} at {article}{venue.name}"
    if r < 0.5:
        return title
    if r < 0.62:
        return f"{title} \u2013 Live" if event.category in ("music", "comedy") else title
    if r < 0.75:
        return f"{title} | {venue.locality}"
    if venue.name not in title:
        return f"{title} at {venue.name}"
    return title


@attrs.frozen
class _Organizer:
    organizer_id: str
    organization_id: str
    name: str
    role: str  # "house" or a promoter role
    venue_key: str | None = None  # the house's venue


@attrs.frozen
class _Item:
    """One event Eventbrite carries, before rendering."""

    key: str
    title: str
    category: str
    genre: str
    start: dt.datetime  # aware, local
    end: dt.datetime
    timezone: str
    venue: Venue | None  # None: online
    price_min: float
    price_max: float
    currency: str
    summary: str
    organizer: int  # index into the plan's organizers
    cancelled: bool
    onsale_at: dt.datetime


@attrs.frozen
class _Plan:
    items: tuple[_Item, ...]
    organizers: tuple[_Organizer, ...]
    listed_organizers: tuple[str, ...]
    listed_venues: tuple[str, ...]


def _item_times(event: SandboxEvent) -> tuple[dt.datetime, dt.datetime]:
    start = event.start
    assert start is not None
    if event.date_only:
        # Eventbrite needs times: an exhibition or day pass runs 10:00-17:00.
        start = start.replace(hour=10, minute=0)
        last = (event.end or start).replace(hour=17, minute=0)
        return start, max(last, start + dt.timedelta(hours=7))
    if event.end is not None:
        return start, event.end
    return start, start + dt.timedelta(minutes=_DURATION_MIN.get(event.category, 120))


def _online_items(world: World, organizer_of: Callable[[str], int]) -> list[_Item]:
    """About one online event every other day, in the city's zone."""
    zone = ZoneInfo(world.city.timezone)
    currency = _CURRENCY.get(world.city.country, "USD")
    out = []
    for offset in range(world.days):
        key = f"{world.seed}:online:{world.city.slug}:{offset}"
        rng = _rng(key)
        if rng.random() >= 0.5:
            continue
        day = (world.anchor + dt.timedelta(days=offset)).astimezone(zone).date()
        start = dt.datetime.combine(day, dt.time(rng.choice((12, 13, 18, 19)), 0), tzinfo=zone)
        if not world.anchor <= start < world.end:
            continue
        category, title = rng.choice(_ONLINE)
        free = rng.random() < 0.6
        price = 0.0 if free else float(rng.choice((10, 15, 25)))
        out.append(
            _Item(
                key=key,
                title=title,
                category=category,
                genre="Online",
                start=start,
                end=start + dt.timedelta(minutes=60 if category != "learning" else 90),
                timezone=world.city.timezone,
                venue=None,
                price_min=price,
                price_max=price,
                currency=currency,
                summary=f"{title}. Join from anywhere: the link arrives with your ticket.",
                organizer=organizer_of(category),
                cancelled=rng.random() < 0.03,
                onsale_at=(start - dt.timedelta(days=rng.randrange(7, 30))).astimezone(UTC),
            )
        )
    return out


def _plan(world: World) -> _Plan:
    """Choose Eventbrite's events and organise them (pure, deterministic, CPU-bound)."""
    chosen: list[tuple[SandboxEvent, random.Random]] = []
    for event in world.events:
        if event.start is None or event.time_tba:
            continue
        rng = _rng("eb-pick", event.key)
        if rng.random() < _share(event):
            chosen.append((event, rng))
    locals_ = [(e, _rng("eb-pick", e.key)) for e in local_events(world)]

    city = world.city.name
    promoters = [
        _Organizer(
            organizer_id=_digits(11, "eb-organizer", world.city.slug, role),
            organization_id=_digits(12, "eb-organization", world.city.slug, role),
            name=pattern.format(city=city),
            role=role,
        )
        for role, pattern, _ in _PROMOTERS
    ]
    per_venue = Counter(e.venue.key for e, _ in chosen)
    venues = {v.key: v for v in world.venues}
    houses = [
        _Organizer(
            organizer_id=_digits(11, "eb-organizer", key),
            organization_id=_digits(12, "eb-organization", key),
            name=venues[key].name,
            role="house",
            venue_key=key,
        )
        for key, _ in sorted(per_venue.items(), key=lambda kv: (-kv[1], kv[0]))[:_HOUSES]
    ]
    organizers = (*houses, *promoters)
    house_of = {o.venue_key: i for i, o in enumerate(organizers) if o.venue_key}
    by_category = {
        category: len(houses) + k
        for k, (_, _, categories) in enumerate(_PROMOTERS)
        for category in categories
    }

    def promoter(category: str) -> int:
        return by_category.get(category, by_category["other"])

    items: list[_Item] = []
    for event, rng in chosen + locals_:
        house = house_of.get(event.venue.key)
        own = house if house is not None and rng.random() < _HOUSE_SHARE else None
        start, end = _item_times(event)
        items.append(
            _Item(
                key=event.key,
                title=_variant_title(event, rng),
                category=event.category,
                genre=event.genre,
                start=start,
                end=end,
                timezone=event.venue.timezone,
                venue=event.venue,
                price_min=event.price_min or 0.0,
                price_max=max(event.price_min or 0.0, event.price_max or 0.0),
                currency=event.currency,
                summary=event.description
                or _SUMMARIES.get(event.category, _SUMMARIES["other"]).format(
                    venue=event.venue.name
                ),
                organizer=own if own is not None else promoter(event.category),
                cancelled=event.status == "cancelled",
                onsale_at=event.onsale_at or start - dt.timedelta(days=30),
            )
        )
    items.extend(_online_items(world, promoter))
    items.sort(key=lambda i: (i.start.astimezone(UTC), i.key))

    roles = {o.role: i for i, o in enumerate(organizers)}
    listed = [
        o.organizer_id if o.role == _LEGACY_ROLE else o.organization_id
        for o in organizers
        if o.role != _UNLISTED_ROLE
    ]
    listed.append(_digits(11, "eb-deleted-organizer", world.city.slug))

    def top_venue(organizer: int, exclude: Iterable[str] = ()) -> str | None:
        counts = Counter(
            i.venue.key for i in items if i.organizer == organizer and i.venue is not None
        )
        for key in exclude:
            counts.pop(key, None)
        return min(counts, key=lambda k: (-counts[k], k)) if counts else None

    house_venues = [o.venue_key for o in houses if o.venue_key]
    wanted = [
        house_venues[0] if house_venues else None,
        top_venue(roles[_UNLISTED_ROLE]),
        top_venue(roles[_LEGACY_ROLE], house_venues),
        top_venue(roles["talks"], house_venues),
    ]
    listed_venues = tuple(dict.fromkeys(_venue_id(venues[k]) for k in wanted if k))
    return _Plan(tuple(items), organizers, tuple(listed), listed_venues)


def _venue_id(venue: Venue) -> str:
    return _digits(9 if _number("eb-venue-len", venue.key) % 3 else 8, "eb-venue", venue.key)


# ---------------------------------------------------------------------------
# Rendering (pure): plan items → Eventbrite JSON


def _when(moment: dt.datetime, timezone: str) -> dict[str, str]:
    return {
        "timezone": timezone,
        "local": moment.strftime("%Y-%m-%dT%H:%M:%S"),
        "utc": _z(moment),
    }


def _money(amount: float, currency: str) -> dict[str, Any]:
    value = round(amount * 100)
    major = f"{value // 100}.{value % 100:02d}"
    return {
        "currency": currency,
        "value": value,
        "major_value": major,
        "display": f"{major} {currency}",
    }


def _venue_json(venue: Venue, base_url: str) -> dict[str, Any]:
    ident = _venue_id(venue)
    lat, lon = f"{venue.lat:.7f}", f"{venue.lon:.7f}"
    area = ", ".join(filter(None, (venue.locality, venue.region_code)))
    second = f"{area} {venue.postal_code}".strip()
    address: dict[str, Any] = {
        "address_1": venue.address,
        "address_2": None,
        "city": venue.locality,
    }
    if venue.region_code:
        address["region"] = venue.region_code
    if venue.postal_code:
        address["postal_code"] = venue.postal_code
    address.update(
        country=venue.country_code,
        latitude=lat,
        longitude=lon,
        localized_address_display=f"{venue.address}, {second}",
        localized_area_display=area,
        localized_multi_line_address_display=[venue.address, second],
    )
    return {
        "id": ident,
        "name": venue.name,
        "age_restriction": None,
        "capacity": None,
        "latitude": lat,
        "longitude": lon,
        "address": address,
        "resource_uri": f"{base_url}{PREFIX}/venues/{ident}/",
    }


def _logo(item: _Item, ident: str, base_url: str, rng: random.Random) -> dict[str, Any] | None:
    if rng.random() < 0.1:
        return None
    logo_id = _digits(9, "eb-logo", item.key)
    width, height = rng.choice(_LOGO_SIZES)
    crop_h = min(height, width // 2)
    signature = _digest("eb-logo-sig", logo_id).hex()[:32]
    return {
        "crop_mask": {
            "top_left": {"x": 0, "y": (height - crop_h) // 2},
            "width": width,
            "height": crop_h,
        },
        "original": {
            "url": f"{base_url}/img/eb/{logo_id}-original_{width}x{height}.jpg",
            "width": width,
            "height": height,
        },
        "id": logo_id,
        "url": f"{base_url}/img/eb/{logo_id}_450x225.jpg?h=200&w=450&auto=format%2Ccompress"
        f"&q=75&sharp=10&rect=0%2C{(height - crop_h) // 2}%2C{width}%2C{crop_h}&s={signature}",
        "aspect_ratio": "2",
        "edge_color": f"#{_digest('eb-edge', logo_id).hex()[:6]}",
        "edge_color_set": True,
    }


@attrs.frozen
class _Rendered:
    """One event's JSON in parts, so expansions are joined without re-encoding."""

    core: bytes  # the object without its closing brace
    created: str
    venue: bytes  # ',"venue":{...}' or ',"venue":null'
    tickets: bytes
    organizer: bytes


def _dump(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _render(
    item: _Item,
    ident: str,
    status: str,
    organizer: _Organizer,
    *,
    base_url: str,
    anchor: dt.datetime,
    venue_json: dict[str, Any] | None,
    organizer_json: dict[str, Any],
) -> _Rendered:
    rng = _rng("eb-render", item.key)
    country = item.venue.country_code if item.venue else ""
    domain = _DOMAINS.get(country, "www.eventbrite.com")
    free = item.price_max == 0
    created = min(item.onsale_at, anchor) - dt.timedelta(days=rng.randrange(1, 21))
    published = created + dt.timedelta(hours=rng.randrange(1, 48))
    changed = min(anchor, published + dt.timedelta(days=rng.randrange(0, 10), hours=3))
    logo = _logo(item, ident, base_url, rng)
    summary_html = f"<p>{_html(item.summary)}</p>"
    out: dict[str, Any] = {
        "name": {"text": item.title, "html": _html(item.title)},
        "description": {"text": item.summary, "html": summary_html},
        "summary": item.summary,
        "id": ident,
        "url": f"https://{domain}/e/{_slug(item.title)[:80]}-tickets-{ident}?aff=ebapi",
        "start": _when(item.start, item.timezone),
        "end": _when(item.end, item.timezone),
        "organization_id": organizer.organization_id,
        "created": _z(created),
        "changed": _z(changed),
        "published": _z(published),
        "capacity": None,
        "capacity_is_custom": None,
        "status": status,
        "currency": item.currency,
        "listed": True,
        "shareable": True,
        "invite_only": False,
        "online_event": item.venue is None,
        "hide_start_date": False,
        "hide_end_date": False,
        "locale": _LOCALE.get(country, "en_US"),
        "is_locked": False,
        "privacy_setting": "unlocked",
        "is_series": False,
        "is_series_parent": False,
        "inventory_type": "limited",
        "is_reserved_seating": False,
        "show_pick_a_seat": False,
        "show_seatmap_thumbnail": False,
        "show_colors_in_seatmap_thumbnail": False,
        "source": "coyote",
        "is_free": free,
        "version": None,
        "summary_html": None,
        "logo_id": logo["id"] if logo else None,
        "organizer_id": organizer.organizer_id,
        "venue_id": venue_json["id"] if venue_json else None,
        "category_id": _CATEGORY.get(item.category),
        "subcategory_id": _SUBCATEGORY.get(item.genre),
        "format_id": _FORMAT.get(item.category),
        "resource_uri": f"{base_url}{PREFIX}/events/{ident}/",
        "is_externally_ticketed": False,
        "logo": logo,
    }
    del out["summary_html"]
    sold_out = not free and status == "live" and rng.random() < 0.04
    tickets = {
        "has_available_tickets": status in ("live", "started") and not sold_out,
        "minimum_ticket_price": _money(item.price_min, item.currency),
        "maximum_ticket_price": _money(item.price_max, item.currency),
        "is_sold_out": sold_out,
        "start_sales_date": _when(
            item.onsale_at.astimezone(ZoneInfo(item.timezone)), item.timezone
        ),
        "waitlist_available": sold_out and rng.random() < 0.5,
    }
    return _Rendered(
        core=_dump(out)[:-1],
        created=out["created"],
        venue=b',"venue":' + _dump(venue_json),
        tickets=b',"ticket_availability":' + _dump(tickets),
        organizer=b',"organizer":' + _dump(organizer_json),
    )


def _organizer_json(organizer: _Organizer, base_url: str) -> dict[str, Any]:
    return {
        "description": {"text": None, "html": None},
        "long_description": {"text": None, "html": None},
        "resource_uri": f"{base_url}{PREFIX}/organizers/{organizer.organizer_id}/",
        "id": organizer.organizer_id,
        "name": organizer.name,
        "url": f"https://www.eventbrite.com/o/{_slug(organizer.name)}-{organizer.organizer_id}",
        "num_past_events": _number("eb-past", organizer.organizer_id) % 400,
        "num_future_events": None,
        "twitter": None,
        "facebook": None,
        "logo_id": None,
        "disable_marketing_opt_in": False,
    }


# ---------------------------------------------------------------------------
# The index: rendered events and per-resource lists


class _ApiError(Exception):
    def __init__(self, code: str, description: str | None = None, status: int = 400) -> None:
        known = _ERRORS.get(code)
        if known is not None:
            status, default = known
        else:
            default = ""
        super().__init__(description or default)
        self.code = code
        self.status = status
        self.description = description or default


def _error(code: str, description: str | None = None, status: int = 400) -> Response:
    err = _ApiError(code, description, status)
    body = {"status_code": err.status, "error": err.code, "error_description": err.description}
    return Response(json.dumps(body).encode(), status_code=err.status, media_type=_JSON)


class _Index:
    """Every Eventbrite event rendered once, with the lists each endpoint serves."""

    def __init__(self, world: World, plan: _Plan, base_url: str, now: float) -> None:
        self.secret = _digest("eb-continuation", world.seed, world.city.slug, world.anchor)
        venue_json = {
            i.venue.key: _venue_json(i.venue, base_url) for i in plan.items if i.venue is not None
        }
        organizer_json = [_organizer_json(o, base_url) for o in plan.organizers]
        self.rendered: list[_Rendered] = []
        self.ids: list[str] = []
        self.starts: list[float] = []
        self.ends: list[float] = []
        self.statuses: list[str] = []
        self.by_id: dict[str, int] = {}
        self.venue_by_id: dict[str, dict[str, Any]] = {v["id"]: v for v in venue_json.values()}
        self.venue_zone: dict[str, ZoneInfo] = {}
        self.organizations: dict[str, list[int]] = {}
        self.organizers: dict[str, list[int]] = {}
        self.venues: dict[str, list[int]] = {}
        readable = {o.organization_id for o in plan.organizers if o.role != _LEGACY_ROLE}
        for organizer in plan.organizers:
            if organizer.organization_id in readable:
                self.organizations[organizer.organization_id] = []
            self.organizers[organizer.organizer_id] = []
        created: list[str] = []  # "...Z" stamps sort in time order
        names: list[str] = []
        for position, item in enumerate(plan.items):
            length = 13 if _number("eb-id-len", item.key) % 10 < 3 else 12
            salt = 0
            ident = _digits(length, "eb-event", item.key)
            while ident in self.by_id:  # astronomically rare; keep ids unique anyway
                salt += 1
                ident = _digits(length, "eb-event", item.key, salt)
            status = _status(item, now)
            organizer = plan.organizers[item.organizer]
            place = item.venue
            vj = venue_json[place.key] if place is not None else None
            rendered = _render(
                item,
                ident,
                status,
                organizer,
                base_url=base_url,
                anchor=world.anchor,
                venue_json=vj,
                organizer_json=organizer_json[item.organizer],
            )
            self.rendered.append(rendered)
            self.ids.append(ident)
            self.by_id[ident] = position
            self.starts.append(item.start.timestamp())
            self.ends.append(item.end.timestamp())
            self.statuses.append(status)
            created.append(rendered.created)
            names.append(item.title.lower())
            if organizer.organization_id in self.organizations:
                self.organizations[organizer.organization_id].append(position)
            self.organizers[organizer.organizer_id].append(position)
            if place is not None and vj is not None:
                self.venues.setdefault(vj["id"], []).append(position)
                self.venue_zone[vj["id"]] = ZoneInfo(place.timezone)
        for venue in world.venues:  # venues without Eventbrite events still exist
            self.venues.setdefault(_venue_id(venue), [])
            self.venue_by_id.setdefault(_venue_id(venue), _venue_json(venue, base_url))
            self.venue_zone.setdefault(_venue_id(venue), ZoneInfo(venue.timezone))
        n = len(plan.items)
        by_start = sorted(range(n), key=lambda i: (self.starts[i], self.ids[i]))
        by_created = sorted(range(n), key=lambda i: (created[i], self.ids[i]))
        by_name = sorted(range(n), key=lambda i: (names[i], self.ids[i]))
        self.ranks: dict[str, list[int]] = {}
        for order, sequence in (
            ("start", by_start),
            ("created", by_created),
            ("name", by_name),
        ):
            rank = [0] * n
            for spot, i in enumerate(sequence):
                rank[i] = spot
            self.ranks[order] = rank

    def select(
        self,
        positions: Sequence[int],
        *,
        statuses: frozenset[str],
        order: str,
        past: bool | None,
        now: float,
        start_range: tuple[float | None, float | None],
    ) -> list[int]:
        lo, hi = start_range
        picked = [
            i
            for i in positions
            if self.statuses[i] in statuses
            and (past is None or (self.ends[i] <= now) == past)
            and (lo is None or self.starts[i] >= lo)
            and (hi is None or self.starts[i] <= hi)
        ]
        field, _, direction = order.partition("_")
        rank = self.ranks[field]
        picked.sort(key=rank.__getitem__, reverse=direction == "desc")
        return picked

    def body(self, position: int, expand: frozenset[str]) -> bytes:
        r = self.rendered[position]
        parts = [r.core]
        if "venue" in expand:
            parts.append(r.venue)
        if "ticket_availability" in expand:
            parts.append(r.tickets)
        if "organizer" in expand:
            parts.append(r.organizer)
        parts.append(b"}")
        return b"".join(parts)


def _status(item: _Item, now: float) -> str:
    if item.cancelled and _number("eb-cancel-lag", item.key) % 4:
        return "canceled"  # about one in four cancellations still says "live" (reported lag)
    if item.start.timestamp() <= now < item.end.timestamp():
        return "started"
    if item.end.timestamp() <= now:
        return "ended"
    return "live"


# ---------------------------------------------------------------------------
# Request parsing


@attrs.frozen
class _Listing:
    statuses: frozenset[str]
    order: str
    past: bool | None
    start_range: tuple[float | None, float | None]
    page_size: int
    expand: frozenset[str]

    def scope(self, resource: str) -> str:
        """What a continuation token is bound to: the resource and the filters."""
        return "|".join(
            (
                resource,
                ",".join(sorted(self.statuses)),
                self.order,
                repr(self.past),
                repr(self.start_range),
            )
        )


def _values(items: Sequence[tuple[str, str]], name: str) -> list[str]:
    return [p.strip() for k, v in items if k == name for p in v.split(",") if p.strip()]


def _arguments_error(name: str) -> _ApiError:
    return _ApiError(
        "ARGUMENTS_ERROR", f"There are errors with your arguments: {name} - INVALID", 400
    )


def _local_date(text: str, name: str, zone: ZoneInfo) -> float:
    match = _DATE_RE.match(text)
    try:
        if match is None:
            raise ValueError(text)
        moment = dt.datetime.strptime(match[1], "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        raise _arguments_error(name) from None
    return moment.replace(tzinfo=UTC if match[2] else zone).timestamp()


def _parse(
    items: Sequence[tuple[str, str]], *, venue_zone: ZoneInfo | None, organizer: bool
) -> _Listing:
    params = dict(items)
    wanted = set(_values(items, "status")) or {"all"}
    if not wanted <= _STATUSES:
        raise _arguments_error("status")
    if "draft" in wanted:
        raise _ApiError("NOT_AUTHORIZED")
    statuses = _PUBLIC if "all" in wanted else frozenset(wanted)
    order = params.get("order_by", "start_asc")
    if order not in _ORDERS:
        raise _arguments_error("order_by")
    past = None
    if organizer:
        time_filter = params.get("time_filter", "all")
        if time_filter not in _TIME_FILTERS:
            raise _arguments_error("time_filter")
        past = {"all": None, "past": True, "current_future": False}[time_filter]
    start_range: tuple[float | None, float | None] = (None, None)
    if venue_zone is not None:
        lo, hi = (params.get(f"start_date.range_{end}") for end in ("start", "end"))
        start_range = (
            None if not lo else _local_date(lo, "start_date.range_start", venue_zone),
            None if not hi else _local_date(hi, "start_date.range_end", venue_zone),
        )
    raw_size = params.get("page_size") or str(DEFAULT_PAGE_SIZE)
    if not raw_size.isdigit() or int(raw_size) < 1:
        raise _arguments_error("page_size")
    return _Listing(
        statuses=statuses,
        order=order,
        past=past,
        start_range=start_range,
        page_size=min(int(raw_size), MAX_PAGE_SIZE),
        expand=frozenset(_values(items, "expand")) & _EXPANSIONS,
    )


# ---------------------------------------------------------------------------
# The API


class EventbriteApi:
    """The emulated Eventbrite API v3 for one world.

    Construct it, mount ``routes()`` under ``PREFIX``, then call ``publish(base_url)``
    once the server's address is known (logo and resource URLs point at the server);
    until then every request gets 503. ``publish`` is CPU-bound: run it off the Trio
    thread. ``eventbrite_organizers``/``eventbrite_venues`` are the ids a crawl lists
    (computed on first use). ``statuses`` (started/ended) are as of ``publish``.
    """

    name = NAME
    prefix = PREFIX
    aliases: Sequence[str] = ()
    key = API_KEY

    def __init__(
        self,
        world: World,
        *,
        rate_limit: bool = True,
        hourly_limit: int = HOURLY_LIMIT,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.world = world
        self.limiter = SpikeArrest(hourly_limit, 3600.0, clock=monotonic) if rate_limit else None
        self._wall = wall
        self._index: _Index | None = None
        self._now = 0.0

    @functools.cached_property
    def _plan(self) -> _Plan:
        return _plan(self.world)

    @property
    def eventbrite_organizers(self) -> tuple[str, ...]:
        """Organization ids (and one legacy organizer id) a crawl lists."""
        return tuple(i for i in self._plan.listed_organizers if i != self.deleted_organizer)

    @property
    def deleted_organizer(self) -> str:
        """An organizer id that is 404 on both endpoints (not listed: a crawl of the
        sandbox should succeed; tests list it on purpose)."""
        return self._plan.listed_organizers[-1]

    @property
    def eventbrite_venues(self) -> tuple[str, ...]:
        """Venue ids to list; their events overlap the organizers' listings."""
        return self._plan.listed_venues

    @property
    def event_count(self) -> int:
        return len(self._plan.items)

    def publish(self, base_url: str) -> None:
        """Render and index every event with URLs under ``base_url``; then serve."""
        self._now = self._wall()
        self._index = _Index(self.world, self._plan, base_url.rstrip("/"), self._now)

    def routes(self) -> list[BaseRoute]:
        """The API's routes, relative to its prefix."""
        return [
            Route("/organizations/{ident}/events/", self.organization_events, methods=["GET"]),
            Route("/organizers/{ident}/events/", self.organizer_events, methods=["GET"]),
            Route("/venues/{ident}/events/", self.venue_events, methods=["GET"]),
            Route("/venues/{ident}/", self.venue, methods=["GET"]),
            Route("/events/{ident}/", self.event, methods=["GET"]),
        ]

    # -- gateway ----------------------------------------------------------

    def _gate(self, request: Request) -> Response | None:
        """Auth and the hourly limit: an error response, or None to go on."""
        header = request.headers.get("authorization", "")
        scheme, _, credential = header.partition(" ")
        token = credential.strip() if scheme.lower() == "bearer" else None
        if not token:
            token = request.query_params.get("token")
        if not token:
            return _error("NO_AUTH")
        if not hmac.compare_digest(token, API_KEY):
            return _error("INVALID_AUTH")
        if self.limiter is not None and not self.limiter.allow(token):
            return _error("HIT_RATE_LIMIT")
        return None

    def _admit(self, request: Request) -> _Index | Response:
        """The index to answer from, or the response refusing the request."""
        if self._index is None:
            return Response(b"sandbox starting", status_code=503, media_type="text/plain")
        refused = self._gate(request)
        return self._index if refused is None else refused

    # -- handlers ---------------------------------------------------------

    async def organization_events(self, request: Request) -> Response:
        """``GET /organizations/{id}/events/``."""
        index = self._admit(request)
        if isinstance(index, Response):
            return index
        ident = request.path_params["ident"]
        positions = index.organizations.get(ident)
        if positions is None:
            return _error("NOT_FOUND", "The organization you requested does not exist.", 404)
        return self._listing(request, index, f"organization:{ident}", positions, organizer=True)

    async def organizer_events(self, request: Request) -> Response:
        """``GET /organizers/{id}/events/`` (legacy, still readable for others' organizers)."""
        index = self._admit(request)
        if isinstance(index, Response):
            return index
        ident = request.path_params["ident"]
        positions = index.organizers.get(ident)
        if positions is None:
            return _error("NOT_FOUND", "The organizer you requested does not exist.", 404)
        return self._listing(request, index, f"organizer:{ident}", positions, organizer=True)

    async def venue_events(self, request: Request) -> Response:
        """``GET /venues/{id}/events/``: every organizer's events at the venue."""
        index = self._admit(request)
        if isinstance(index, Response):
            return index
        ident = request.path_params["ident"]
        positions = index.venues.get(ident)
        if positions is None:
            return _error("NOT_FOUND", "The venue you requested does not exist.", 404)
        return self._listing(
            request,
            index,
            f"venue:{ident}",
            positions,
            organizer=False,
            zone=index.venue_zone[ident],
        )

    async def venue(self, request: Request) -> Response:
        """``GET /venues/{id}/``."""
        index = self._admit(request)
        if isinstance(index, Response):
            return index
        body = index.venue_by_id.get(request.path_params["ident"])
        if body is None:
            return _error("NOT_FOUND", "The venue you requested does not exist.", 404)
        return Response(_dump(body), media_type=_JSON)

    async def event(self, request: Request) -> Response:
        """``GET /events/{id}/``."""
        index = self._admit(request)
        if isinstance(index, Response):
            return index
        position = index.by_id.get(request.path_params["ident"])
        if position is None:
            return _error("NOT_FOUND", "The event you requested does not exist.", 404)
        expand = frozenset(_values(request.query_params.multi_items(), "expand")) & _EXPANSIONS
        return Response(index.body(position, expand), media_type=_JSON)

    # -- paging -----------------------------------------------------------

    @staticmethod
    def _token(index: _Index, scope: str, offset: int) -> str:
        """An opaque continuation token: the next offset, bound to the listing's filters."""
        raw = offset.to_bytes(4, "big")
        mac = hmac.digest(index.secret, scope.encode() + raw, "sha256")[:20]
        return _b64(b"\x01" + raw + mac)

    @classmethod
    def _offset(cls, index: _Index, scope: str, token: str) -> int:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except ValueError:
            raw = b""
        if len(raw) == 25 and raw[0] == 1:
            offset = int.from_bytes(raw[1:5], "big")
            if hmac.compare_digest(cls._token(index, scope, offset), token):
                return offset
        raise _ApiError("BAD_CONTINUATION_TOKEN")

    def _listing(
        self,
        request: Request,
        index: _Index,
        resource: str,
        positions: Sequence[int],
        *,
        organizer: bool,
        zone: ZoneInfo | None = None,
    ) -> Response:
        items = request.query_params.multi_items()
        params = dict(items)
        try:
            listing = _parse(items, venue_zone=zone, organizer=organizer)
            scope = listing.scope(resource)
            picked = index.select(
                positions,
                statuses=listing.statuses,
                order=listing.order,
                past=listing.past,
                now=self._now,
                start_range=listing.start_range,
            )
            size = listing.page_size
            count = len(picked)
            pages = max(1, math.ceil(count / size))
            if params.get("continuation"):
                offset = self._offset(index, scope, params["continuation"])
            elif params.get("page"):
                page = params["page"]
                if not page.isdigit() or int(page) < 1:
                    raise _arguments_error("page")
                if int(page) > pages:
                    raise _ApiError("BAD_PAGE")
                offset = (int(page) - 1) * size
            else:
                offset = 0
        except _ApiError as bad:
            return _error(bad.code, bad.description, bad.status)
        chunk = picked[offset : offset + size]
        more = offset + size < count
        pagination: dict[str, Any] = {}
        if organizer:
            pagination["object_count"] = count
        pagination["page_number"] = offset // size + 1
        pagination["page_size"] = size
        if organizer:
            pagination["page_count"] = pages
        if chunk:
            pagination["continuation"] = self._token(index, scope, offset + len(chunk))
        pagination["has_more_items"] = more
        events = b",".join(index.body(i, listing.expand) for i in chunk)
        body = b'{"pagination":' + _dump(pagination) + b',"events":[' + events + b"]}"
        return Response(body, media_type=_JSON)
