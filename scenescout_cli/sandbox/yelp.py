"""Yelp Fusion ("Yelp Places") Events, emulated from its documented and observed behaviour.

Written from the reference notes (``/work/shared/reference/apis.md`` §3) alone, never from
the adapter, so that the adapter's mistakes show up against it.

Yelp lists about a quarter of the world's events, leaning to nightlife, family days,
gallery programmes, jazz and club nights, plus most of the small local food & drink and
community events Eventbrite also carries (``eventbrite.local_events``): some events are on
all three of Ticketmaster, Eventbrite and Yelp, some on two, titles often reworded
(``"Late Show @ Comedy Cellar"``, ``"... at Smalls Jazz Club"``, ``"Live Music: ..."``).

Served under ``/yelp/v3``:

- ``GET /events``: search. ``latitude`` + ``longitude`` (both or neither; else
  ``location``, any text, taken as the city centre; neither → 400), ``radius`` (integer
  metres, default 40,000, > 40,000 → 400), ``start_date``/``end_date`` (integer Unix
  seconds; ``start_date`` is a lower and ``end_date`` an upper bound on the event *start*,
  both inclusive: the spec's reading of the uncertain ``end_date``), ``is_free``
  (``true``/``false``), ``categories`` (comma list of the documented aliases, OR),
  ``excluded_events``, ``sort_on`` (``popularity`` default, ``time_start``), ``sort_by``
  (``desc`` default, ``asc``; ties by id, so paging is stable), ``limit`` (default 3,
  0-50, else 400), ``offset`` (``offset + limit`` > 1,000 → 400, Yelp staff's stated
  rule; ``total`` is the true count, so a crawl must re-slice past 1,000).
  Body ``{"total": n, "events": [...]}``.
- ``GET /events/{id}``: one event, bare, or 404 ``NOT_FOUND``.

Every error is ``{"error": {"code", "description"[, "field", "instance"]}}`` with code
``VALIDATION_ERROR`` for bad parameters. Auth: ``Authorization: Bearer <key>`` only; none
→ 401 ``TOKEN_MISSING``, wrong → 401 ``TOKEN_INVALID``. More than ``SPIKE_RATE`` (5)
requests in any second per key → 429 ``TOO_MANY_REQUESTS_PER_SECOND`` (``rate_limit=False``
disables it); ``DAILY_LIMIT`` (5,000; the sandbox's own figure, the old free tier's, where
today's trial plan allows 300) calls per UTC day → 429 ``ACCESS_LIMIT_REACHED`` until
midnight UTC. Every response to a valid key carries ``RateLimit-DailyLimit``,
``RateLimit-Remaining`` and ``RateLimit-ResetTime`` (ISO 8601, the next midnight UTC);
refused calls (429) do not count, validation errors do.

Payload quirks, in realistic proportions: ``time_start``/``time_end`` mostly ISO 8601 with
the UTC offset, but about a quarter of events in the older ``"YYYY-MM-DD HH:mm"`` local
form (``"2026-06-13 20:00"``); ``time_end`` null on about a third; ``cost``/``cost_max``
null for free events and for some paid ones, ``cost_max`` null on some others;
``description`` an excerpt cut with ``"..."``; ``address2``/``address3`` ``""`` or null;
``business_id`` missing on some; coordinates numbers, jittered a few metres off the venue on
half the events; ids are slugs like ``new-york-late-show-at-comedy-cellar-2431``.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import json
import random
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import attrs
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .data import UTC, SandboxEvent, World, distance_km
from .eventbrite import local_events
from .limits import SpikeArrest

__all__ = [
    "API_KEY",
    "CATEGORIES",
    "DAILY_LIMIT",
    "MAX_LIMIT",
    "MAX_RADIUS",
    "MAX_RESULTS",
    "NAME",
    "PREFIX",
    "SPIKE_RATE",
    "YelpApi",
]

NAME = "yelp"
PREFIX = "/yelp/v3"
API_KEY = "sandbox-yelp-key"
SPIKE_RATE = 5
DAILY_LIMIT = 5000
MAX_LIMIT = 50
DEFAULT_LIMIT = 3
MAX_RADIUS = 40_000
MAX_RESULTS = 1000  # offset + limit
CATEGORIES = (
    "music",
    "visual-arts",
    "performing-arts",
    "film",
    "lectures-books",
    "fashion",
    "food-and-drink",
    "festivals-fairs",
    "charities",
    "sports-active-life",
    "nightlife",
    "kids-family",
    "other",
)

_JSON = "application/json"
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
_BLURBS = {
    "music": "Live music all night long with a full bar and a friendly crowd. Arrive early "
    "for the best spots; the room fills up fast on weekends.",
    "comedy": "Some of the sharpest comics in town take the stage for a night of stand-up. "
    "Two-drink minimum; 21+ with valid ID.",
    "theater": "An evening of live theatre in one of the city's best-loved houses, with "
    "a bar open before the show and at the interval.",
    "arts": "Explore the galleries after hours with talks, drinks and music. Members get "
    "in free; everyone else can book ahead.",
    "film": "A big-screen showing for film lovers, with an introduction before the "
    "screening and a chat in the lobby afterwards.",
    "nightlife": "DJs, dancing and late drinks until the small hours. Dress to move; the "
    "door policy is strict after midnight.",
    "family": "Hands-on fun for kids and grown-ups alike: activities, stories and a chance "
    "to meet the keepers. Strollers welcome.",
    "learning": "An inspiring talk followed by questions from the audience and a chance "
    "to meet the speaker over a glass of wine.",
    "food": "Come hungry! Taste your way through small plates and pours from local makers, "
    "with the team on hand to talk you through every sip.",
    "community": "Free and open to all neighbours. Bring a friend, meet new people and "
    "find out what's happening around the block.",
    "sports": "Game day! Cheer on the home team with thousands of fellow fans.",
    "other": "Something a little different this week: come along and see.",
}


# ---------------------------------------------------------------------------
# Hashing and identifiers


def _digest(*parts: object, size: int = 16) -> bytes:
    return hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=size).digest()


def _number(*parts: object) -> int:
    return int.from_bytes(_digest(*parts, size=8), "big")


def _rng(*parts: object) -> random.Random:
    return random.Random(_number(*parts))


@functools.lru_cache(maxsize=8192)
def _slug(text: str) -> str:
    out = "".join(c.lower() if c.isascii() and c.isalnum() else "-" for c in text)
    return "-".join(filter(None, out.split("-")))


# ---------------------------------------------------------------------------
# The catalogue: which events Yelp carries


def _share(event: SandboxEvent) -> float:
    """How likely Yelp lists an event (what its users post and follow)."""
    kind, category = event.venue.kind, event.category
    if category == "music":
        return {"jazz_club": 0.4, "club": 0.25}.get(kind, 0.03)
    if category == "arts":
        return 0.4 if kind in ("museum", "science_museum") else 0.1
    return {
        "nightlife": 0.55,
        "family": 0.45,
        "comedy": 0.25,
        "film": 0.15,
        "learning": 0.3,
        "other": 0.4,
        "theater": 0.05,
        "sports": 0.03,
        "food": 0.7,
        "community": 0.6,
    }.get(category, 0.0)


def _alias(event: SandboxEvent) -> str:
    category = event.category
    if category == "arts":
        return (
            "visual-arts"
            if event.venue.kind in ("museum", "science_museum")
            else ("performing-arts")
        )
    return {
        "music": "music",
        "nightlife": "nightlife",
        "comedy": "performing-arts",
        "theater": "performing-arts",
        "film": "film",
        "learning": "lectures-books",
        "family": "kids-family",
        "sports": "sports-active-life",
        "food": "food-and-drink",
        "community": "charities" if "Volunteer" in event.title else "festivals-fairs",
    }.get(category, "other")


def _variant_title(event: SandboxEvent, rng: random.Random) -> str:
    """Yelp's title: whoever posted it wrote it their way."""
    title, venue = event.title, event.venue
    r = rng.random()
    head = f"{venue.name}: "
    if title.startswith(head) and r < 0.6:
        return f"{title[len(head) :]} @ {venue.name}"
    if r < 0.55:
        return title
    if r < 0.72 and venue.name not in title:
        return f"{title} at {venue.name}"
    if r < 0.82 and " & " in title:
        return title.replace(" & ", " and ")
    if r < 0.92 and event.category == "music":
        return f"Live Music: {title}"
    return title


def _excerpt(event: SandboxEvent, title: str, rng: random.Random) -> str:
    text = f"{title} at {event.venue.name}. {_BLURBS.get(event.category, _BLURBS['other'])}"
    limit = rng.randrange(90, 150)
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(",.;:") + "..."


def _times(event: SandboxEvent) -> tuple[dt.datetime, dt.datetime]:
    start = event.start
    assert start is not None
    if event.date_only:
        start = start.replace(hour=10, minute=0)
        return start, max((event.end or start).replace(hour=17, minute=0), start)
    if event.end is not None:
        return start, event.end
    return start, start + dt.timedelta(minutes=_DURATION_MIN.get(event.category, 120))


def _stamp(moment: dt.datetime, legacy: bool) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if legacy else moment.isoformat()


def _chosen(world: World) -> list[SandboxEvent]:
    """Yelp's events in start order (pure, deterministic)."""
    picked = [
        e
        for e in (*world.events, *local_events(world))
        if e.start is not None and not e.time_tba and _rng("yelp-pick", e.key).random() < _share(e)
    ]
    picked.sort(key=lambda e: (e.instant, e.key))
    return picked


def render_event(
    event: SandboxEvent, ident: str, *, base_url: str, rng: random.Random
) -> dict[str, Any]:
    """The Yelp JSON object of one event. Pure given ``rng``."""
    venue = event.venue
    title = _variant_title(event, rng)
    start, end = _times(event)
    legacy = rng.random() < 0.25
    free = (event.price_max or 0.0) == 0.0
    cost: float | None = None
    cost_max: float | None = None
    if not free and rng.random() >= 0.15:
        cost = event.price_min
        single = event.price_max == event.price_min or rng.random() < 0.1
        cost_max = None if single else event.price_max
    lat, lon = venue.lat, venue.lon
    if rng.random() < 0.5:  # geocoded from the address, a few metres off the venue
        lat += rng.uniform(-0.0003, 0.0003)
        lon += rng.uniform(-0.0003, 0.0003)
    region_line = " ".join(
        filter(
            None, (", ".join(filter(None, (venue.locality, venue.region_code))), venue.postal_code)
        )
    )
    tail = "?adjust_creative=sandbox&utm_campaign=yelp_api_v3&utm_medium=api_v3_event_search"
    out: dict[str, Any] = {
        "attending_count": int(event.popularity * rng.randrange(5, 120)),
        "category": _alias(event),
        "cost": cost,
        "cost_max": cost_max,
        "description": _excerpt(event, title, rng),
        "event_site_url": f"https://www.yelp.com/events/{ident}{tail}&utm_source=sandbox",
        "id": ident,
        "image_url": f"{base_url}/img/yelp/ephoto-{_digest('yelp-photo', event.key).hex()[:22]}"
        "-o_1000x667.jpg",
        "interested_count": 0,
        "is_canceled": event.status == "cancelled",
        "is_free": free,
        "is_official": rng.random() < 0.05,
        "latitude": round(lat, 7),
        "longitude": round(lon, 7),
        "name": title,
        "tickets_url": ""
        if free
        else f"https://www.{_slug(venue.name).replace('-', '')}.com/tickets/"
        f"{_digest('yelp-ticket', event.key).hex()[:10]}",
        "time_end": None if rng.random() < 0.33 else _stamp(end, legacy),
        "time_start": _stamp(start, legacy),
        "location": {
            "address1": venue.address,
            "address2": "" if rng.random() < 0.5 else None,
            "address3": "" if rng.random() < 0.5 else None,
            "city": venue.locality,
            "zip_code": venue.postal_code,
            "country": venue.country_code,
            "state": venue.region_code or "",
            "display_address": [venue.address, region_line],
            "cross_streets": "",
        },
    }
    out["interested_count"] = out["attending_count"] + int(rng.randrange(0, 300) * event.popularity)
    if rng.random() >= 0.12:
        out["business_id"] = f"{_slug(venue.name)}-{_slug(venue.locality)}"
    return out


# ---------------------------------------------------------------------------
# The index: rendered events, orders and filters


class _Invalid(Exception):
    def __init__(self, description: str, field: str | None = None, instance: Any = None) -> None:
        super().__init__(description)
        self.description = description
        self.field = field
        self.instance = instance


@attrs.frozen
class _Query:
    lat: float
    lon: float
    radius: int
    start: int | None
    end: int | None
    free: bool | None
    categories: frozenset[str]
    excluded: frozenset[str]
    sort_on: str
    sort_by: str


class _Index:
    """Every Yelp event rendered once to JSON bytes, with precomputed orders."""

    def __init__(self, world: World, base_url: str) -> None:
        events = _chosen(world)
        self.bodies: list[bytes] = []
        self.ids: list[str] = []
        self.lat: list[float] = []
        self.lon: list[float] = []
        self.starts: list[float] = []
        self.free: list[bool] = []
        self.alias: list[str] = []
        self.keys: list[str] = []
        popularity: list[int] = []
        taken: set[str] = set()
        centre = world.city.area
        self.centre = (centre.lat, centre.lon)
        for event in events:
            rng = _rng("yelp-render", event.key)
            base = f"{_slug(event.venue.locality)}-{_slug(_variant_title(event, rng))[:60]}"
            base = base.rstrip("-")
            ident = base if _number("yelp-bare", event.key) % 4 == 0 else ""
            salt = 0
            while not ident or ident in taken:
                ident = f"{base}-{_number('yelp-id', event.key, salt) % 9000 + 1000}"
                salt += 1
            taken.add(ident)
            payload = render_event(
                event, ident, base_url=base_url, rng=_rng("yelp-render", event.key)
            )
            self.bodies.append(json.dumps(payload, ensure_ascii=False).encode())
            self.ids.append(ident)
            self.keys.append(event.key)
            self.lat.append(payload["latitude"])
            self.lon.append(payload["longitude"])
            self.starts.append(_times(event)[0].timestamp())
            self.free.append(payload["is_free"])
            self.alias.append(payload["category"])
            popularity.append(payload["attending_count"] + payload["interested_count"])
        self.by_id = {ident: i for i, ident in enumerate(self.ids)}
        n = len(self.ids)
        self.rank_popularity = _ranks(n, key=lambda i: (popularity[i], self.ids[i]))
        self.rank_time = _ranks(n, key=lambda i: (self.starts[i], self.ids[i]))
        self._cache: OrderedDict[_Query, list[int]] = OrderedDict()

    def match(self, q: _Query) -> list[int]:
        """The ordered event positions a query selects."""
        cached = self._cache.get(q)
        if cached is not None:
            self._cache.move_to_end(q)
            return cached
        radius_km = q.radius / 1000
        picked = [
            i
            for i in range(len(self.ids))
            if (q.start is None or self.starts[i] >= q.start)
            and (q.end is None or self.starts[i] <= q.end)
            and (q.free is None or self.free[i] == q.free)
            and (not q.categories or self.alias[i] in q.categories)
            and self.ids[i] not in q.excluded
            and distance_km(q.lat, q.lon, self.lat[i], self.lon[i]) <= radius_km
        ]
        rank = self.rank_popularity if q.sort_on == "popularity" else self.rank_time
        picked.sort(key=rank.__getitem__, reverse=q.sort_by == "desc")
        self._cache[q] = picked
        if len(self._cache) > 256:
            self._cache.popitem(last=False)
        return picked


def _ranks(n: int, *, key: Callable[[int], Any]) -> list[int]:
    ranks = [0] * n
    for position, i in enumerate(sorted(range(n), key=key)):
        ranks[i] = position
    return ranks


# ---------------------------------------------------------------------------
# Request parsing


def _integer(params: dict[str, str], name: str) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise _Invalid(f"'{value}' is not of type 'integer'", name, value) from None


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


def _number_param(params: dict[str, str], name: str, low: float, high: float) -> float:
    value = params[name]
    try:
        number = float(value)
    except ValueError:
        raise _Invalid(f"'{value}' is not of type 'number'", name, value) from None
    if not low <= number <= high:
        raise _Invalid(f"{value} is not within [{low:g}, {high:g}]", name, number)
    return number


def _bounded(name: str, value: int, low: int, high: int | None = None) -> int:
    if value < low:
        raise _Invalid(f"{value} is less than the minimum of {low}", name, value)
    if high is not None and value > high:
        raise _Invalid(f"{value} is greater than the maximum of {high}", name, value)
    return value


def _parse(params: dict[str, str], centre: tuple[float, float]) -> tuple[_Query, int, int]:
    """Validate a search's parameters: (query, offset, limit); raises _Invalid."""
    if "latitude" in params or "longitude" in params:
        if "latitude" not in params or "longitude" not in params:
            raise _Invalid("Please specify both latitude and longitude")
        lat = _number_param(params, "latitude", -90, 90)
        lon = _number_param(params, "longitude", -180, 180)
    elif params.get("location", "").strip():
        lat, lon = centre
    else:
        raise _Invalid("Please specify a location or a latitude and longitude")
    radius = _bounded("radius", _or(_integer(params, "radius"), MAX_RADIUS), 0, MAX_RADIUS)
    limit = _bounded("limit", _or(_integer(params, "limit"), DEFAULT_LIMIT), 0, MAX_LIMIT)
    offset = _bounded("offset", _or(_integer(params, "offset"), 0), 0)
    if offset + limit > MAX_RESULTS:
        raise _Invalid("Too many results requested, limit+offset must be <= 1000.")
    start = _integer(params, "start_date")
    end = _integer(params, "end_date")
    for name, value in (("start_date", start), ("end_date", end)):
        if value is not None:
            _bounded(name, value, 0)
    free: bool | None = None
    if params.get("is_free"):
        text = params["is_free"].lower()
        if text not in ("true", "false"):
            raise _Invalid(f"'{params['is_free']}' is not of type 'boolean'", "is_free", text)
        free = text == "true"
    categories = frozenset(c.strip() for c in params.get("categories", "").split(",") if c.strip())
    unknown = sorted(categories - set(CATEGORIES))
    if unknown:
        raise _Invalid(f"'{unknown[0]}' is not a valid category", "categories", unknown[0])
    sort_on = params.get("sort_on", "popularity")
    if sort_on not in ("popularity", "time_start"):
        raise _Invalid(
            f"'{sort_on}' is not one of ['popularity', 'time_start']", "sort_on", sort_on
        )
    sort_by = params.get("sort_by", "desc")
    if sort_by not in ("desc", "asc"):
        raise _Invalid(f"'{sort_by}' is not one of ['desc', 'asc']", "sort_by", sort_by)
    excluded = frozenset(e.strip() for e in params.get("excluded_events", "").split(",") if e)
    query = _Query(
        lat=lat,
        lon=lon,
        radius=radius,
        start=start,
        end=end,
        free=free,
        categories=categories,
        excluded=excluded,
        sort_on=sort_on,
        sort_by=sort_by,
    )
    return query, offset, limit


def _error(
    code: str,
    description: str,
    status: int,
    headers: dict[str, str] | None = None,
    *,
    field: str | None = None,
    instance: Any = None,
) -> Response:
    error: dict[str, Any] = {"code": code, "description": description}
    if field is not None:
        error["field"] = field
        error["instance"] = instance
    return Response(
        json.dumps({"error": error}).encode(), status_code=status, media_type=_JSON, headers=headers
    )


# ---------------------------------------------------------------------------
# Limits


class _DailyLimit:
    """``limit`` calls per key per UTC day, reset at midnight UTC as Yelp's plans are."""

    def __init__(self, limit: int, clock: Callable[[], float]) -> None:
        self.limit = limit
        self._clock = clock
        self._used: dict[str, tuple[int, int]] = {}  # key -> (UTC day number, calls)

    def _state(self, key: str) -> tuple[int, int]:
        day = int(self._clock() // 86_400)
        entry = self._used.get(key)
        return (day, 0) if entry is None or entry[0] != day else entry

    def headers(self, key: str) -> dict[str, str]:
        day, used = self._state(key)
        reset = dt.datetime.fromtimestamp((day + 1) * 86_400, UTC).isoformat()
        return {
            "RateLimit-DailyLimit": str(self.limit),
            "RateLimit-Remaining": str(max(0, self.limit - used)),
            "RateLimit-ResetTime": reset,
        }

    def take(self, key: str) -> bool:
        """Count one call; False (uncounted) once the day's calls are used up."""
        day, used = self._state(key)
        if used >= self.limit:
            return False
        self._used[key] = (day, used + 1)
        return True


# ---------------------------------------------------------------------------
# The API


class YelpApi:
    """The emulated Yelp events API for one world.

    Construct it, mount ``routes()`` under ``PREFIX``, then call ``publish(base_url)``
    once the server's address is known (image URLs point at the server); until then
    every request gets 503. ``publish`` is CPU-bound: run it off the Trio thread.
    Limits are in-memory, per key.
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
        daily_limit: int = DAILY_LIMIT,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.world = world
        self.spike = SpikeArrest(SPIKE_RATE, 1.0, clock=monotonic) if rate_limit else None
        self.daily = _DailyLimit(daily_limit, wall)
        self._index: _Index | None = None

    @property
    def event_count(self) -> int:
        return 0 if self._index is None else len(self._index.ids)

    def publish(self, base_url: str) -> None:
        """Render and index every event with images under ``base_url``; then serve."""
        self._index = _Index(self.world, base_url.rstrip("/"))

    def routes(self) -> list[BaseRoute]:
        """The API's routes, relative to its prefix."""
        return [
            Route("/events", self.search, methods=["GET"]),
            Route("/events/{ident}", self.lookup, methods=["GET"]),
        ]

    # -- gateway ----------------------------------------------------------

    def _admit(self, request: Request) -> tuple[_Index, dict[str, str]] | Response:
        """(index, rate-limit headers) to answer with, or the response refusing the call."""
        if self._index is None:
            return Response(b"sandbox starting", status_code=503, media_type="text/plain")
        header = request.headers.get("authorization")
        if not header:
            return _error(
                "TOKEN_MISSING",
                "An access token must be supplied in order to use this endpoint.",
                401,
            )
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip(), API_KEY):
            return _error("TOKEN_INVALID", "Invalid access token or authorization header.", 401)
        if self.spike is not None and not self.spike.allow(API_KEY):
            return _error(
                "TOO_MANY_REQUESTS_PER_SECOND",
                "You have exceeded the queries-per-second limit for this endpoint. "
                "Try reducing the rate at which you make queries.",
                429,
                self.daily.headers(API_KEY),
            )
        if not self.daily.take(API_KEY):
            return _error(
                "ACCESS_LIMIT_REACHED",
                "You've reached the access limit for this client. "
                "See instructions for requesting a higher access limit at "
                "https://docs.developer.yelp.com/docs/places-rate-limiting",
                429,
                self.daily.headers(API_KEY),
            )
        return self._index, self.daily.headers(API_KEY)

    # -- handlers ---------------------------------------------------------

    async def search(self, request: Request) -> Response:
        """``GET /events``: one page of a search."""
        admitted = self._admit(request)
        if isinstance(admitted, Response):
            return admitted
        index, headers = admitted
        try:
            query, offset, limit = _parse(dict(request.query_params), index.centre)
        except _Invalid as bad:
            return _error(
                "VALIDATION_ERROR",
                bad.description,
                400,
                headers,
                field=bad.field,
                instance=bad.instance,
            )
        picked = index.match(query)
        chunk = picked[offset : offset + limit]
        body = (
            b'{"total":'
            + str(len(picked)).encode()
            + b',"events":['
            + b",".join(index.bodies[i] for i in chunk)
            + b"]}"
        )
        return Response(body, media_type=_JSON, headers=headers)

    async def lookup(self, request: Request) -> Response:
        """``GET /events/{id}``: one event."""
        admitted = self._admit(request)
        if isinstance(admitted, Response):
            return admitted
        index, headers = admitted
        position = index.by_id.get(request.path_params["ident"])
        if position is None:
            return _error("NOT_FOUND", "Resource could not be found.", 404, headers)
        return Response(index.bodies[position], media_type=_JSON, headers=headers)
