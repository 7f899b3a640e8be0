"""OpenStreetMap Nominatim (the public server), emulated from its documented behaviour
and usage policy.

Written from the reference notes (``/work/shared/reference/apis.md`` §6) alone, never from
the adapter, so that the adapter's mistakes show up against it.

Served under ``/nominatim``: ``GET /search?q=...&format=jsonv2&limit=1``.

- Policy: a request without a ``User-Agent`` identifying the application (missing, empty,
  or a stock library agent such as ``python-httpx/0.28``, ``python-requests/2``, ``curl/8``,
  ``geopy/2``) and without a ``Referer`` → 403 with the HTML "Access blocked" page. More
  than one request per second → 429 (``rate_limit=False`` disables it); to spare
  compliant clients from network jitter, the window is 0.9 s (one request in any 0.9 s).
  No rate-limit headers, as documented. The limit is per server, like the real one's
  per-IP limit: every client of one sandbox shares it.
- Parameters: ``q`` (free text) or the structured ``amenity``/``street``/``city``/
  ``county``/``state``/``postalcode``/``country`` (not both: 400), ``format`` (``jsonv2``
  default, ``json`` with ``class`` instead of ``category``; other formats → 400 naming the
  supported ones), ``limit`` (default 10, clamped to 1..40), ``countrycodes``,
  ``viewbox`` + ``bounded=1``, ``exclude_place_ids``, ``addressdetails``,
  ``namedetails``, ``extratags``; ``accept-language`` is accepted and ignored (names are
  the local ones). Neither ``q`` nor a structured field → 400 ``{"error": {"code": 400,
  "message": ...}}``.
- Body: a JSON array, ``[]`` when nothing matches. Items as jsonv2 renders them:
  ``place_id`` (int), ``licence``, ``osm_type``, ``osm_id`` (int), ``lat``/``lon`` as
  **strings** with 7 decimals, ``category``, ``type``, ``place_rank``, ``importance``,
  ``addresstype``, ``name``, ``display_name``, ``boundingbox`` (four strings: min lat,
  max lat, min lon, max lon).

Matching: the world's venues. A query naming a venue (its normalised name inside the
query) finds the venue as a POI (``amenity/theatre``, ``leisure/stadium``,
``tourism/museum``…); a query holding a venue's street address finds the building
(``building/yes``, ``place_rank`` 30); the city's name alone finds the city (a
``boundary/administrative`` relation). OSM's pin of a venue sits a few metres from the
venue's listed coordinates, as it does in reality.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any

import attrs
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .data import Venue, World
from .limits import SpikeArrest

__all__ = ["LICENCE", "NAME", "PREFIX", "NominatimApi", "generic_agent"]

NAME = "geocoder"
PREFIX = "/nominatim"
MAX_LIMIT = 40
LICENCE = "Data © OpenStreetMap contributors, ODbL 1.0. http://osm.org/copyright"
_PERIOD = 0.9  # one request per 0.9 s: "1 per second" with room for network jitter
_JSON = "application/json; charset=utf-8"
_STRUCTURED = ("amenity", "street", "city", "county", "state", "postalcode", "country")
_FORMATS = ("xml", "json", "jsonv2", "geojson", "geocodejson")
_GENERIC_AGENTS = re.compile(
    r"^(?:python-httpx|python-requests|python-urllib|python/|aiohttp|httpx|requests|urllib3|"
    r"curl|wget|libwww-perl|go-http-client|java/|okhttp|axios|node-fetch|undici|got |"
    r"httpie|geopy|postmanruntime|insomnia|mozilla/5\.0$|php|ruby|dart:io|reqwest)",
    re.IGNORECASE,
)
_BLOCKED_PAGE = b"""<html>
<head><title>Access blocked</title></head>
<body>
<h1>Access blocked</h1>
<p>You have been blocked because you have violated the
<a href="https://operations.osmfoundation.org/policies/nominatim/">usage policy</a>
of OSM's Nominatim geocoding service. Please be aware that OSM's resources are
limited and shared between many users. The usage policy is there to ensure that
the service remains usable for everybody.</p>
<p>Please review the terms and make sure that your software adheres to the terms.
You should in particular verify that you have set a
<b>custom HTTP referrer or HTTP user agent</b> that identifies your application.</p>
</body>
</html>
"""
_TOO_MANY = b"""<html>
<head><title>429 Too Many Requests</title></head>
<body>
<h1>Too Many Requests</h1>
<p>Please reduce the rate of your requests to at most one per second, as the
<a href="https://operations.osmfoundation.org/policies/nominatim/">usage policy</a> asks.</p>
</body>
</html>
"""
# Venue kind -> (category, type) as OSM tags them.
_TAGS = {
    "arena": ("leisure", "stadium"),
    "stadium": ("leisure", "stadium"),
    "amphitheater": ("amenity", "theatre"),
    "theatre": ("amenity", "theatre"),
    "broadway": ("amenity", "theatre"),
    "playhouse": ("amenity", "theatre"),
    "club": ("amenity", "music_venue"),
    "dance_club": ("amenity", "nightclub"),
    "jazz_club": ("amenity", "bar"),
    "comedy_club": ("amenity", "theatre"),
    "concert_hall": ("amenity", "concert_hall"),
    "opera_house": ("amenity", "theatre"),
    "cinema": ("amenity", "cinema"),
    "museum": ("tourism", "museum"),
    "science_museum": ("tourism", "museum"),
    "family_attraction": ("tourism", "zoo"),
}
_COUNTRY_NAMES = {
    "US": "United States",
    "GB": "United Kingdom",
    "DE": "Deutschland",
    "FR": "France",
    "CA": "Canada",
}
_ABBREVIATIONS = {
    "street": "st",
    "avenue": "ave",
    "road": "rd",
    "boulevard": "blvd",
    "place": "pl",
    "drive": "dr",
    "west": "w",
    "east": "e",
    "north": "n",
    "south": "s",
    "parkway": "pkwy",
    "turnpike": "tpke",
}


def generic_agent(agent: str | None) -> bool:
    """Whether a User-Agent fails the policy (missing, empty or a stock library's)."""
    return not agent or not agent.strip() or bool(_GENERIC_AGENTS.match(agent.strip()))


def _h(*parts: object) -> int:
    text = "\x1f".join(map(str, parts)).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def _norm(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.casefold().replace("ß", "ss"))
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    folded = folded.replace("&", " and ").replace("'", "")
    words = re.findall(r"[a-z0-9]+", folded)
    # "Straße" and "Str." name the same street, alone or at the end of a compound.
    words = [w[: -len("strasse")] + "str" if w.endswith("strasse") else w for w in words]
    return " ".join(_ABBREVIATIONS.get(w, w) for w in words)


def _contains(text: str, part: str) -> bool:
    return bool(part) and f" {part} " in f" {text} "


def _split_address(venue: Venue) -> tuple[str | None, str]:
    line = venue.address.split(",")[0].strip()
    if venue.country_code == "DE":
        match = re.match(r"^(.*\S)\s+(\d+[a-zA-Z]?(?:-\d+)?)$", line)
        return (match[2], match[1]) if match else (None, line)
    match = re.match(r"^(\d+[a-zA-Z]?(?:-\d+)?)\s+(.*)$", line)
    return (match[1], match[2]) if match else (None, line)


def _coord(value: float) -> str:
    return f"{value:.7f}"


@attrs.frozen
class _Place:
    """One searchable OSM object with its rendered jsonv2 item (in ``item``)."""

    item: dict[str, Any]
    address: dict[str, str]
    name_norm: str
    street_norm: str
    country: str
    lat: float
    lon: float
    kind: str  # "poi" | "building" | "city"


def _venue_places(venue: Venue) -> tuple[_Place, _Place]:
    """The venue as a POI and its building, both with OSM's slightly different pin."""
    bearing = (_h("osm-bearing", venue.key) % 360) * math.pi / 180
    metres = 4 + _h("osm-metres", venue.key) % 20
    lat = venue.lat + metres * math.cos(bearing) / 111_200
    lon = venue.lon + metres * math.sin(bearing) / (111_200 * math.cos(math.radians(venue.lat)))
    number, street = _split_address(venue)
    country = _COUNTRY_NAMES.get(venue.country_code, venue.country)
    address = {"road": street, "city": venue.locality}
    if number:
        address = {"house_number": number, **address}
    if venue.region:
        address["state"] = venue.region
    if venue.postal_code:
        address["postcode"] = venue.postal_code
    address["country"] = country
    address["country_code"] = venue.country_code.lower()
    tail = [x for x in (number, street, venue.locality, venue.region, venue.postal_code) if x]
    big = venue.capacity >= 1000
    category, type_ = _TAGS.get(venue.kind, ("amenity", "events_venue"))
    span = 0.0012 if big else 0.0002
    importance = round(0.2 + min(0.5, math.log10(max(10, venue.capacity)) / 10), 8)
    poi: dict[str, Any] = {
        "place_id": 100_000_000 + _h("osm-place", venue.key) % 300_000_000,
        "licence": LICENCE,
        "osm_type": "way" if big else "node",
        "osm_id": 10_000_000 + _h("osm-id", venue.key) % 1_200_000_000,
        "lat": _coord(lat),
        "lon": _coord(lon),
        "category": category,
        "type": type_,
        "place_rank": 30,
        "importance": importance,
        "addresstype": category,
        "name": venue.name,
        "display_name": ", ".join([venue.name, *tail, country]),
        "boundingbox": [
            _coord(lat - span),
            _coord(lat + span),
            _coord(lon - span),
            _coord(lon + span),
        ],
    }
    building = {
        **poi,
        "place_id": 100_000_000 + _h("osm-building", venue.key) % 300_000_000,
        "osm_type": "way",
        "osm_id": 10_000_000 + _h("osm-building-id", venue.key) % 1_200_000_000,
        "category": "building",
        "type": "yes",
        "importance": round(importance / 3, 8),
        "addresstype": "building",
        "name": "",
        "display_name": ", ".join([*tail, country]),
    }
    street_norm = _norm(venue.address.split(",")[0])
    country_code = venue.country_code.lower()
    return (
        _Place(poi, address, _norm(venue.name), street_norm, country_code, lat, lon, "poi"),
        _Place(building, address, "", street_norm, country_code, lat, lon, "building"),
    )


def _city_place(world: World) -> _Place:
    city = world.city
    area = city.area
    span = area.radius_km / 111.2
    country = _COUNTRY_NAMES.get(city.country, city.country)
    item = {
        "place_id": 100_000_000 + _h("osm-city", city.slug) % 300_000_000,
        "licence": LICENCE,
        "osm_type": "relation",
        "osm_id": 1_000 + _h("osm-city-id", city.slug) % 9_000_000,
        "lat": _coord(area.lat),
        "lon": _coord(area.lon),
        "category": "boundary",
        "type": "administrative",
        "place_rank": 16,
        "importance": 0.8524,
        "addresstype": "city",
        "name": city.name,
        "display_name": f"{city.name}, {country}",
        "boundingbox": [
            _coord(area.lat - span),
            _coord(area.lat + span),
            _coord(area.lon - span),
            _coord(area.lon + span),
        ],
    }
    return _Place(
        item=item,
        address={"city": city.name, "country": country, "country_code": city.country.lower()},
        name_norm=_norm(city.name),
        street_norm="",
        country=city.country.lower(),
        lat=area.lat,
        lon=area.lon,
        kind="city",
    )


class _BadRequest(Exception):
    pass


def _error(message: str, status: int = 400) -> Response:
    body = json.dumps({"error": {"code": status, "message": message}}).encode()
    return Response(body, status_code=status, media_type=_JSON)


class NominatimApi:
    """The emulated public Nominatim server for one world.

    Mount ``routes()`` under ``PREFIX`` and call ``publish(base_url)``; until then every
    request gets 503. No key (``key == ""``): the policy is enforced by User-Agent and rate.
    """

    name = NAME
    prefix = PREFIX
    aliases: Sequence[str] = ()
    key = ""

    def __init__(
        self,
        world: World,
        *,
        rate_limit: bool = True,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.world = world
        self.spike = SpikeArrest(1, _PERIOD, clock=monotonic) if rate_limit else None
        self._places: tuple[_Place, ...] | None = None

    def publish(self, base_url: str) -> None:
        """Index every venue, its building and the city (no URLs in results)."""
        places: list[_Place] = []
        for venue in self.world.venues:
            places.extend(_venue_places(venue))
        places.append(_city_place(self.world))
        self._places = tuple(places)

    def routes(self) -> list[BaseRoute]:
        """The API's routes, relative to its prefix."""
        return [Route("/search", self.search, methods=["GET"])]

    async def search(self, request: Request) -> Response:
        """``GET /search``: a JSON array of matches."""
        places = self._places
        if places is None:
            return Response(b"sandbox starting", status_code=503, media_type="text/plain")
        if generic_agent(request.headers.get("user-agent")) and not request.headers.get("referer"):
            return Response(_BLOCKED_PAGE, status_code=403, media_type="text/html")
        if self.spike is not None and not self.spike.allow("all"):
            return Response(_TOO_MANY, status_code=429, media_type="text/html")
        params = request.query_params
        fmt = params.get("format", "jsonv2")
        if fmt not in ("json", "jsonv2"):
            if fmt in _FORMATS:
                return _error(f"The sandbox does not emulate format '{fmt}'; use jsonv2 or json.")
            return _error("Parameter 'format' must be one of: " + ", ".join(_FORMATS))
        structured = {k: params[k] for k in _STRUCTURED if params.get(k)}
        query = params.get("q")
        if query is not None and structured:
            return _error(
                "Structured query parameters(amenity, street, city, county, state, postalcode, "
                "country) cannot be used together with 'q' parameter."
            )
        if query is None and not structured:
            return _error("Nothing to search for.")
        try:
            limit = max(1, min(MAX_LIMIT, int(params.get("limit", "10"))))
        except ValueError:
            return _error("Parameter 'limit' must be a number.")
        try:
            found = self._find(places, query or ", ".join(structured.values()), params)
        except _BadRequest as bad:
            return _error(str(bad))
        items = [self._render(p, fmt, params) for p in found[:limit]]
        return Response(
            json.dumps(items, ensure_ascii=False).encode(),
            media_type=_JSON,
            headers={"Access-Control-Allow-Origin": "*"},
        )

    @staticmethod
    def _find(places: Sequence[_Place], query: str, params: Any) -> list[_Place]:
        text = _norm(query)
        if not text:
            return []
        hits = [
            p
            for p in places
            if p.kind == "poi" and len(p.name_norm) >= 3 and _contains(text, p.name_norm)
        ]
        if not hits:
            seen: set[str] = set()
            for p in places:
                if p.kind != "building" or len(p.street_norm) < 4:
                    continue
                # One building per address (two venues may share one).
                if _contains(text, p.street_norm) and p.item["display_name"] not in seen:
                    seen.add(p.item["display_name"])
                    hits.append(p)
        if not hits:
            hits = [p for p in places if p.kind == "city" and text == p.name_norm]
        countries = params.get("countrycodes")
        if countries:
            wanted = {c.strip().lower() for c in countries.split(",")}
            hits = [p for p in hits if p.country in wanted]
        excluded = params.get("exclude_place_ids")
        if excluded:
            try:
                skip = {int(x) for x in excluded.split(",") if x.strip()}
            except ValueError:
                raise _BadRequest(
                    "Parameter 'exclude_place_ids' must be a list of numbers."
                ) from None
            hits = [p for p in hits if p.item["place_id"] not in skip]
        viewbox = params.get("viewbox")
        if viewbox and params.get("bounded") == "1":
            try:
                x1, y1, x2, y2 = (float(v) for v in viewbox.split(","))
            except ValueError:
                raise _BadRequest("Bad parameter 'viewbox'. Expected 4 coordinates.") from None
            lo_lat, hi_lat = sorted((y1, y2))
            lo_lon, hi_lon = sorted((x1, x2))
            hits = [p for p in hits if lo_lat <= p.lat <= hi_lat and lo_lon <= p.lon <= hi_lon]
        return sorted(hits, key=lambda p: (-p.item["importance"], p.item["place_id"]))

    @staticmethod
    def _render(place: _Place, fmt: str, params: Any) -> dict[str, Any]:
        item = dict(place.item)
        if fmt == "json":
            item = {("class" if k == "category" else k): v for k, v in item.items()}
        if params.get("addressdetails") == "1":
            address = dict(place.address)
            if place.kind == "poi":
                address = {item.get("type", "amenity"): place.item["name"], **address}
            item["address"] = address
        if params.get("extratags") == "1":
            item["extratags"] = {}
        if params.get("namedetails") == "1":
            item["namedetails"] = {"name": place.item["name"]} if place.item["name"] else {}
        return item
