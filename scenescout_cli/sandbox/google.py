"""Google Places API (New) and the classic Geocoding API, emulated from their documented
and observed behaviour.

Written from the reference notes (``/work/shared/reference/apis.md`` §5) alone, never from
the adapters, so that the adapters' mistakes show up against it.

**Places** (``GooglePlacesApi``, served under ``/google/places/v1``):

- ``POST /places:searchNearby``: ``locationRestriction.circle{center{latitude,longitude},
  radius}`` (required; radius 0..50,000 m), ``includedTypes``/``excludedTypes``/
  ``includedPrimaryTypes``/``excludedPrimaryTypes`` (≤ 50 each, Table A types),
  ``maxResultCount`` 1..20 (default 20; outside → 400), ``rankPreference`` ``POPULARITY``
  (default) or ``DISTANCE``. No paging: at most 20 places.
- ``POST /places:searchText``: ``textQuery`` (required), ``includedType`` (+
  ``strictTypeFiltering``), ``minRating``, ``locationBias`` (circle or rectangle; ranks
  places inside first) or ``locationRestriction`` (rectangle only; a circle → 400),
  ``pageSize`` 1..20 (default 20; larger is coerced to 20; ``maxResultCount`` is its
  deprecated alias), ``pageToken``: the same body with the previous ``nextPageToken``
  (any other parameter changed → 400). At most 60 results over at most 3 pages;
  ``nextPageToken`` is only sent when the field mask asks for it. ``openNow`` and
  ``priceLevels`` are accepted and ignored (no opening hours or prices are modelled).
- ``GET /places/{id}``: Place Details; ``GET /places/{id}/photos/{ref}/media`` with
  ``maxWidthPx``/``maxHeightPx`` (1..4800, at least one): a 302 to the sandbox's image
  route, or ``{name, photoUri}`` with ``skipHttpRedirect=true``.

Auth is ``X-Goog-Api-Key`` (or ``?key=``); a missing or wrong key → 403
``PERMISSION_DENIED`` (the real API answers a *wrong* key with 400 ``INVALID_ARGUMENT``
``API_KEY_INVALID``; the sandbox follows the reference's 403 for both). The field mask
(``X-Goog-FieldMask``, ``?fields=`` or ``?$fields=``) is required (missing → 400 with
Google's message), validated (an unknown field → 400) and honoured, nested paths
included; ``*`` selects everything. Responses follow proto3 JSON: empty and default
fields are omitted, so a search that finds nothing answers ``{}``. Bodies are checked as
Google's JSON parser does: an unknown field → 400 ``Unknown name "...": Cannot find
field.``, a bad enum → 400. Errors use Google's envelope ``{"error": {"code", "message",
"status", "details"}}``. Quota: 600 requests per minute per method (the project-wide
default), then 429 ``RESOURCE_EXHAUSTED``; ``rate_limit=False`` disables it.

Places are the world's venues, with their real names, addresses and coordinates,
Google types (``concert_hall``, ``performing_arts_theater``, ``night_club``, ``stadium``,
``arena``, ``comedy_club``, ``movie_theater``, ``museum``, …; ``primaryType`` missing on a
few), ``rating``/``userRatingCount``/``websiteUri``/phone numbers on most but not all,
photos, ``timeZone``, ``postalAddress``, ``addressComponents``, and two permanently closed
duplicate listings of real venues (``businessStatus: CLOSED_PERMANENTLY``, a new id and a
pin ~150 m away), as Google keeps for venues that moved or re-opened.

**Geocoding** (``GoogleGeocodingApi``, served under ``/google/maps/api``):
``GET /geocode/json?address=...&key=...`` with the classic body and ``status`` in the JSON
(HTTP 200): ``OK``, ``ZERO_RESULTS``, ``REQUEST_DENIED`` (missing or wrong key, with
``error_message``), ``INVALID_REQUEST`` (no ``address``/``components``/``latlng``/
``place_id``), ``OVER_QUERY_LIMIT`` above 50 requests a second (``rate_limit=False``
disables it). An address matches a venue when the normalised query contains the venue's
name or its street address, or is a prefix of its formatted address (``ROOFTOP``;
``GEOMETRIC_CENTER`` for addresses without a house number); ``partial_match`` is set when
the query holds words the venue's address does not. The city's name alone geocodes to
the city (``APPROXIMATE``). ``latlng`` answers the nearest venue within 150 m,
``place_id`` the venue it names; ``components`` (``country``, ``postal_code``) filters.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import math
import re
import time
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import attrs
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from .data import Venue, World, distance_km
from .images import MAX_SIDE
from .limits import SpikeArrest

__all__ = [
    "API_KEY",
    "GEOCODING_NAME",
    "GEOCODING_PREFIX",
    "GEOCODING_QPS",
    "PLACES_NAME",
    "PLACES_PREFIX",
    "QUOTA_PER_MINUTE",
    "GoogleGeocodingApi",
    "GooglePlacesApi",
    "place_id",
]

PLACES_NAME = "google_places"
PLACES_PREFIX = "/google/places/v1"
GEOCODING_NAME = "google_geocoding"
GEOCODING_PREFIX = "/google/maps/api"
API_KEY = "sandbox-google-key"
QUOTA_PER_MINUTE = 600
GEOCODING_QPS = 50
MAX_RADIUS = 50_000.0
MAX_RESULTS = 20
TEXT_SEARCH_CAP = 60
MAX_TYPES = 50
_JSON = "application/json; charset=UTF-8"
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Venue kind -> (primaryType, types before the generic ones, primaryTypeDisplayName).
_KIND_TYPES: dict[str, tuple[str, tuple[str, ...], str]] = {
    "arena": ("arena", ("arena", "sports_complex", "event_venue"), "Arena"),
    "stadium": ("stadium", ("stadium", "sports_complex", "athletic_field"), "Stadium"),
    "amphitheater": (
        "amphitheatre",
        ("amphitheatre", "event_venue", "tourist_attraction"),
        "Amphitheater",
    ),
    "theatre": (
        "performing_arts_theater",
        ("performing_arts_theater", "event_venue"),
        "Performing arts theater",
    ),
    "broadway": (
        "performing_arts_theater",
        ("performing_arts_theater", "tourist_attraction"),
        "Performing arts theater",
    ),
    "playhouse": (
        "performing_arts_theater",
        ("performing_arts_theater", "event_venue"),
        "Performing arts theater",
    ),
    "club": ("night_club", ("night_club", "bar", "event_venue"), "Live music venue"),
    "dance_club": ("night_club", ("night_club", "bar"), "Night club"),
    "jazz_club": ("bar", ("bar", "night_club", "restaurant", "food"), "Jazz club"),
    "comedy_club": ("comedy_club", ("comedy_club", "night_club", "bar"), "Comedy club"),
    "concert_hall": (
        "concert_hall",
        ("concert_hall", "performing_arts_theater", "event_venue"),
        "Concert hall",
    ),
    "opera_house": (
        "opera_house",
        ("opera_house", "performing_arts_theater", "concert_hall"),
        "Opera house",
    ),
    "cinema": ("movie_theater", ("movie_theater",), "Movie theater"),
    "museum": ("museum", ("museum", "art_gallery", "tourist_attraction"), "Art museum"),
    "science_museum": ("museum", ("museum", "tourist_attraction"), "Museum"),
    "family_attraction": ("zoo", ("zoo", "tourist_attraction"), "Zoo"),
}
_DEFAULT_TYPES = ("event_venue", ("event_venue",), "Event venue")
_GENERIC = ("point_of_interest", "establishment")

# Table A types the filters accept (a subset of Google's list: everything a crawler of
# event venues plausibly names, and the common ones around them).
_TABLE_A = _names(
    """
    amphitheatre amusement_center amusement_park aquarium art_gallery art_studio arena
    athletic_field auditorium banquet_hall bar bowling_alley cafe casino comedy_club
    community_center concert_hall convention_center cultural_center cultural_landmark
    dance_hall event_venue fitness_center garden gym historical_landmark
    historical_place karaoke live_music_venue library marina monument movie_theater
    museum night_club observation_deck opera_house park performing_arts_theater
    philharmonic_hall planetarium plaza pub restaurant sports_club sports_complex stadium
    swimming_pool tourist_attraction university video_arcade visitor_center wedding_venue
    wine_bar zoo cocktail_bar brewery coffee_shop book_store school food
    point_of_interest establishment
    """
)

# Every Place field a mask may name (those the sandbox never fills are simply omitted).
_PLACE_FIELDS = _names(
    """
    name id displayName formattedAddress shortFormattedAddress addressComponents
    postalAddress adrFormatAddress location viewport plusCode types primaryType
    primaryTypeDisplayName rating userRatingCount websiteUri googleMapsUri googleMapsLinks
    nationalPhoneNumber internationalPhoneNumber businessStatus photos timeZone
    utcOffsetMinutes regularOpeningHours currentOpeningHours regularSecondaryOpeningHours
    currentSecondaryOpeningHours priceLevel priceRange editorialSummary generativeSummary
    reviews reviewSummary liveMusic goodForGroups goodForChildren goodForWatchingSports
    outdoorSeating restroom reservable servesBeer servesWine servesCocktails servesCoffee
    servesDessert servesFood servesVegetarianFood servesBreakfast servesBrunch servesLunch
    servesDinner allowsDogs menuForChildren accessibilityOptions parkingOptions
    paymentOptions fuelOptions evChargeOptions iconMaskBaseUri iconBackgroundColor
    takeout delivery dineIn curbsidePickup attributions subDestinations
    containingPlaces pureServiceAreaBusiness movedPlace movedPlaceId
    """
)
_COUNTRY = {
    "US": ("United States", "USA"),
    "GB": ("United Kingdom", "UK"),
    "DE": ("Germany", "Germany"),
    "FR": ("France", "France"),
    "CA": ("Canada", "Canada"),
}
_LANGUAGE = {"DE": "de", "FR": "fr"}
_PHONE_FORMATS = {
    "US": ("({a}) {b}-{c}", "+1 {a}-{b}-{c}"),
    "CA": ("({a}) {b}-{c}", "+1 {a}-{b}-{c}"),
    "GB": ("0{a} {b} {c}", "+44 {a} {b} {c}"),
    "DE": ("0{a} {b}{c}", "+49 {a} {b}{c}"),
    "FR": ("0{a} {b} {c}", "+33 {a} {b} {c}"),
}
_SYNONYMS = {
    "performing_arts_theater": "theater theatre show shows performing arts venue stage",
    "night_club": "club clubs nightclub night music live venue gig gigs dance",
    "live_music_venue": "live music venue concert gig",
    "bar": "bar bars drinks pub",
    "concert_hall": "concert concerts music hall classical venue symphony orchestra",
    "opera_house": "opera ballet venue theater theatre",
    "stadium": "stadium sports arena venue football baseball soccer",
    "arena": "arena venue sports concert concerts",
    "amphitheatre": "amphitheater amphitheatre outdoor venue concert concerts",
    "comedy_club": "comedy club standup venue",
    "movie_theater": "cinema cinemas movie movies film films theater theatre",
    "museum": "museum museums art gallery exhibition",
    "art_gallery": "art gallery galleries",
    "zoo": "zoo animals",
    "event_venue": "event events venue venues",
    "tourist_attraction": "attraction",
}
_STOPWORDS = _names("in near the a an of at and me around for to best top nearby close by with on")
_ABBREVIATIONS = {
    "street": "st",
    "avenue": "ave",
    "road": "rd",
    "boulevard": "blvd",
    "place": "pl",
    "drive": "dr",
    "strasse": "str",
    "west": "w",
    "east": "e",
    "north": "n",
    "south": "s",
    "turnpike": "tpke",
    "parkway": "pkwy",
    "pkway": "pkwy",
}
_COUNTRY_WORDS = _names(
    "usa us united states america uk kingdom england britain great germany deutschland "
    "france canada"
)


def _digest(*parts: object, size: int = 16) -> bytes:
    return hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=size).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def place_id(venue_key: str, salt: str = "") -> str:
    """A Google-looking place id (``ChIJ`` + 23 characters), stable per venue key."""
    raw = int.from_bytes(_digest("g-place", venue_key, salt, size=18), "big")
    return "ChIJ" + "".join(_B64[(raw >> (6 * k)) & 63] for k in range(23))


def _norm_words(text: str) -> list[str]:
    """Lower-case, accent-folded, abbreviated words (``Straße`` → ``str``)."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    folded = folded.replace("straße", "strasse").replace("ß", "ss").replace("&", " and ")
    words = re.findall(r"[a-z0-9]+(?:-[a-z0-9]+)*", folded.replace("'", ""))
    out: list[str] = []
    for word in words:
        if word.endswith("strasse") and word != "strasse":
            out.extend((word[: -len("strasse")].rstrip("-"), "str"))
        else:
            out.append(_ABBREVIATIONS.get(word, word))
    return [w for w in out if w]


def _norm(text: str) -> str:
    return " ".join(_norm_words(text))


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def _split_address(venue: Venue) -> tuple[str | None, str]:
    """(house number, street) of a venue's first address line."""
    line = venue.address.split(",")[0].strip()
    if venue.country_code == "DE":
        match = re.match(r"^(.*\S)\s+(\d+[a-zA-Z]?(?:-\d+)?)$", line)
        if match:
            return match[2], match[1]
        return None, line
    match = re.match(r"^(\d+[a-zA-Z]?(?:-\d+)?)\s+(.*)$", line)
    if match:
        return match[1], match[2]
    return None, line


def _formatted(venue: Venue) -> str:
    cc = venue.country_code
    short = _COUNTRY.get(cc, (venue.country, venue.country))[1]
    if cc in ("US", "CA"):
        tail = f"{venue.region_code} {venue.postal_code}".strip()
        return f"{venue.address}, {venue.locality}, {tail}, {short}"
    if cc == "GB":
        return f"{venue.address}, {venue.locality} {venue.postal_code}, {short}"
    if cc in ("DE", "FR"):
        return f"{venue.address}, {venue.postal_code} {venue.locality}, {short}"
    return ", ".join(filter(None, (venue.address, venue.locality, venue.postal_code, short)))


def _components(venue: Venue, *, proto: bool) -> list[dict[str, Any]]:
    """addressComponents (Places, ``proto``) or address_components (Geocoding)."""
    number, street = _split_address(venue)
    language = _LANGUAGE.get(venue.country_code, "en")
    country = _COUNTRY.get(venue.country_code, (venue.country, venue.country))[0]
    parts: list[tuple[str, str, list[str]]] = []
    if number:
        parts.append((number, number, ["street_number"]))
    parts.append((street, street, ["route"]))
    parts.append((venue.locality, venue.locality, ["locality", "political"]))
    if venue.region:
        parts.append(
            (
                venue.region,
                venue.region_code or venue.region,
                ["administrative_area_level_1", "political"],
            )
        )
    parts.append((country, venue.country_code, ["country", "political"]))
    if venue.postal_code:
        parts.append((venue.postal_code, venue.postal_code, ["postal_code"]))
    if proto:
        return [
            {"longText": long, "shortText": short, "types": types, "languageCode": language}
            for long, short, types in parts
        ]
    return [
        {"long_name": long, "short_name": short, "types": types} for long, short, types in parts
    ]


# ---------------------------------------------------------------------------
# Places (pure): venues -> Place JSON


@attrs.frozen
class _Place:
    id: str
    venue: Venue
    json: dict[str, Any]  # every field the sandbox knows, proto3-style
    types: frozenset[str]
    primary: str | None
    words: frozenset[str]
    name_words: frozenset[str]
    places: frozenset[str]  # locality/region words
    popularity: float
    rating: float | None


def _phone(venue: Venue, raw: bytes) -> tuple[str, str] | None:
    fmt = _PHONE_FORMATS.get(venue.country_code)
    if fmt is None:
        return None
    a = 200 + raw[0] % 700
    b = 200 + int.from_bytes(raw[1:3], "big") % 700
    c = int.from_bytes(raw[3:5], "big") % 10000
    values = {"a": f"{a}", "b": f"{b}", "c": f"{c:04d}"}
    return fmt[0].format(**values), fmt[1].format(**values)


def _render_place(venue: Venue, *, closed: bool = False) -> _Place:
    salt = "closed" if closed else ""
    ident = place_id(venue.key, salt)
    raw = _digest("g-quirk", venue.key, salt, size=24)
    primary, kind_types, display = _KIND_TYPES.get(venue.kind, _DEFAULT_TYPES)
    types = [*kind_types, *_GENERIC]
    has_primary = raw[0] % 20 != 0  # about one place in twenty has no primaryType
    language = _LANGUAGE.get(venue.country_code, "en")
    lat, lon = venue.lat, venue.lon
    if closed:  # the old listing's pin sits ~150 m away
        lat += 0.0011 * (1 if raw[1] % 2 else -1)
        lon += 0.0009 * (1 if raw[2] % 2 else -1)
    out: dict[str, Any] = {
        "name": f"places/{ident}",
        "id": ident,
        "types": types,
        "formattedAddress": _formatted(venue),
        "shortFormattedAddress": f"{venue.address}, {venue.locality}",
        "addressComponents": _components(venue, proto=True),
        "postalAddress": {
            "regionCode": venue.country_code,
            "languageCode": language,
            "postalCode": venue.postal_code,
            "administrativeArea": venue.region_code or "",
            "locality": venue.locality,
            "addressLines": [venue.address],
        },
        "location": {"latitude": lat, "longitude": lon},
        "viewport": {
            "low": {"latitude": round(lat - 0.0014, 7), "longitude": round(lon - 0.0014, 7)},
            "high": {"latitude": round(lat + 0.0014, 7), "longitude": round(lon + 0.0014, 7)},
        },
        "googleMapsUri": f"https://maps.google.com/?cid={int.from_bytes(raw[3:11], 'big')}",
        "businessStatus": "CLOSED_PERMANENTLY" if closed else "OPERATIONAL",
        "timeZone": {"id": venue.timezone},
        "utcOffsetMinutes": _offset_minutes(venue.timezone),
        "displayName": {"text": venue.name, "languageCode": language},
        "iconMaskBaseUri": "https://maps.gstatic.com/mapfiles/place_api/icons/v2/generic_pinlet",
        "iconBackgroundColor": "#13B5C7",
    }
    if has_primary:
        out["primaryType"] = primary
        out["primaryTypeDisplayName"] = {"text": display, "languageCode": "en"}
    rating = None
    count = 0
    if not closed and raw[4] % 10 != 0:  # ~90% rated
        rating = round(3.6 + (raw[5] / 255) * 1.3, 1)
        count = int(20 + (venue.capacity**0.8) * (0.5 + raw[6] / 255))
        out["rating"] = rating
        out["userRatingCount"] = count
    if not closed and raw[7] % 5 != 0:  # ~80% with a website
        slug = re.sub(r"[^a-z0-9]+", "", venue.name.casefold())
        tld = {"GB": "co.uk", "DE": "de", "FR": "fr", "CA": "ca"}.get(venue.country_code, "com")
        out["websiteUri"] = f"https://www.{slug}.{tld}/"
    phone = _phone(venue, raw[8:13])
    if not closed and phone is not None and raw[13] % 4 != 0:
        out["nationalPhoneNumber"], out["internationalPhoneNumber"] = phone
    if venue.kind in ("club", "jazz_club", "dance_club", "concert_hall", "arena"):
        out["liveMusic"] = True
    if not closed:
        out["goodForGroups"] = raw[14] % 3 != 0
        out["photos"] = _photos(ident, raw)
    if not closed and raw[15] % 3 == 0:
        out["editorialSummary"] = {
            "text": f"{display} known for its {'shows' if 'theater' in primary else 'events'}.",
            "languageCode": "en",
        }
    place_types = frozenset(types)
    name_words = frozenset(_stem(w) for w in _norm_words(venue.name))
    synonyms = " ".join(_SYNONYMS.get(t, t.replace("_", " ")) for t in types)
    words = (
        name_words
        | frozenset(_stem(w) for w in _norm_words(synonyms + " " + display))
        | frozenset(_stem(w) for w in _norm_words(venue.address))
        | frozenset(_norm_words(venue.postal_code))
    )
    places = frozenset(
        _stem(w)
        for w in _norm_words(
            " ".join(filter(None, (venue.locality, venue.region, venue.region_code, venue.country)))
        )
    ) | frozenset(_norm_words(_COUNTRY.get(venue.country_code, ("", ""))[0]))
    popularity = count * (rating or 0)
    return _Place(
        id=ident,
        venue=venue,
        json=out,
        types=place_types,
        primary=primary if has_primary else None,
        words=words,
        name_words=name_words,
        places=places,
        popularity=popularity,
        rating=rating,
    )


def _photos(ident: str, raw: bytes) -> list[dict[str, Any]]:
    sizes = ((4032, 3024), (3024, 4032), (4000, 2250), (1600, 1200), (1920, 1080), (800, 600))
    count = 1 + raw[16] % 10
    out = []
    for k in range(count):
        ref = "AXQCQN" + _b64(_digest("g-photo", ident, k, size=30))
        width, height = sizes[(raw[17] + k) % len(sizes)]
        author = _digest("g-author", ident, k, size=4).hex()
        out.append(
            {
                "name": f"places/{ident}/photos/{ref}",
                "widthPx": width,
                "heightPx": height,
                "authorAttributions": [
                    {
                        "displayName": f"Local Guide {author[:4].upper()}",
                        "uri": f"https://maps.google.com/maps/contrib/{int(author, 16)}",
                        "photoUri": f"https://lh3.googleusercontent.com/a-/{author}=s100-p-k-no-mo",
                    }
                ],
                "flagContentUri": f"https://www.google.com/local/imagery/report/?cb_client=maps_api_places&image_key={ref[:20]}",
                "googleMapsUri": f"https://www.google.com/maps/place//data=!3m4!1e2!3m2!1s{ref[:20]}!2e10",
            }
        )
    return out


def _offset_minutes(zone: str) -> int:
    offset = dt.datetime.now(ZoneInfo(zone)).utcoffset()
    return 0 if offset is None else int(offset.total_seconds() // 60)


def build_places(world: World) -> tuple[_Place, ...]:
    """Every venue as a Place, plus two closed duplicate listings; pure and deterministic."""
    places = [_render_place(v) for v in world.venues]
    ranked = sorted(world.venues, key=lambda v: _digest("g-closed", v.key))
    places.extend(_render_place(v, closed=True) for v in ranked[: min(2, len(ranked))])
    return tuple(places)


# ---------------------------------------------------------------------------
# Errors, masks, bodies


class _Fail(Exception):
    def __init__(
        self,
        code: int,
        status: str,
        message: str,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.code, self.status, self.message, self.details = code, status, message, details

    def response(self) -> Response:
        error: dict[str, Any] = {"code": self.code, "message": self.message, "status": self.status}
        if self.details:
            error["details"] = self.details
        body = json.dumps({"error": error}, indent=2).encode()
        return Response(body, status_code=self.code, media_type=_JSON)


def _invalid(message: str, field: str | None = None) -> _Fail:
    details = None
    if field is not None:
        details = [
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": field, "description": message}],
            }
        ]
    return _Fail(400, "INVALID_ARGUMENT", message, details)


def _key_error(service: str, missing: bool) -> _Fail:
    if missing:
        message = "The request is missing a valid API key."
        reason = "API_KEY_MISSING"
    else:
        message = "API key not valid. Please pass a valid API key."
        reason = "API_KEY_INVALID"
    return _Fail(
        403,
        "PERMISSION_DENIED",
        message,
        [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": reason,
                "domain": "googleapis.com",
                "metadata": {"service": service},
            }
        ],
    )


_MASK_MESSAGE = (
    "FieldMask is a required parameter. See https://cloud.google.com/apis/docs/system-parameters "
    "on how to provide it. As an example, you can set the header 'X-Goog-FieldMask' to value "
    "'places.displayName', 'places.id' to ask for the display name and the place id of a "
    "place. You can also set the value to '*' in manual testing to get all the available "
    "response fields."
)
_ALL: dict[str, Any] = {}  # a mask leaf: everything below


def _mask(request: Request, top: frozenset[str], *, prefix: str | None) -> dict[str, Any] | None:
    """The field mask as a tree; None for ``*``. ``prefix`` is ``places`` for searches."""
    raw = (
        request.headers.get("x-goog-fieldmask")
        or request.query_params.get("fields")
        or request.query_params.get("$fields")
    )
    if raw is None or not raw.strip():
        raise _invalid(_MASK_MESSAGE)
    tree: dict[str, Any] = {}
    for path in (p.strip() for p in raw.split(",")):
        if not path:
            continue
        if path == "*":
            return None
        parts = path.split(".")
        if len(parts) > 1 and parts[-1] == "*":  # "places.*": every field of a place
            parts = parts[:-1]
        if prefix is None:
            ok = parts[0] in _PLACE_FIELDS
        elif parts[0] == prefix:
            ok = len(parts) == 1 or parts[1] in _PLACE_FIELDS
        else:
            ok = parts[0] in top and len(parts) == 1
        if not ok:
            raise _invalid(
                "Error expanding 'fields' parameter. Cannot find matching fields for path "
                f"'{path}'."
            )
        node = tree
        for part in parts[:-1]:
            if node.get(part) is _ALL:
                break
            node = node.setdefault(part, {})
        else:
            node[parts[-1]] = _ALL
    return tree


def _project(value: Any, tree: dict[str, Any] | None) -> Any:
    """``value`` reduced to the mask; empty objects and lists are omitted (proto3)."""
    if tree is None or tree is _ALL:
        return value
    if isinstance(value, list):
        items = [_project(v, tree) for v in value]
        return [i for i in items if i not in ({}, [], None)]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, sub in tree.items():
        if key in value:
            projected = _project(value[key], sub)
            if projected not in ({}, [], None, ""):
                out[key] = projected
    return out


def _check_fields(body: Any, allowed: dict[str, Any], path: str = "") -> None:
    """Google's JSON parser: unknown names are errors. ``allowed`` nests for objects."""
    if not isinstance(body, dict):
        where = path or "request"
        raise _invalid(
            f"Invalid JSON payload received. Expected an object at '{where}'.", path or None
        )
    for name, value in body.items():
        full = f"{path}.{name}" if path else name
        if name not in allowed:
            raise _invalid(
                f'Invalid JSON payload received. Unknown name "{name}"'
                + (f" at '{path}'" if path else "")
                + ": Cannot find field.",
                full,
            )
        sub = allowed[name]
        if isinstance(sub, dict) and value is not None:
            _check_fields(value, sub, full)


_LATLNG = {"latitude": None, "longitude": None}
_CIRCLE = {"center": _LATLNG, "radius": None}
_RECTANGLE = {"low": _LATLNG, "high": _LATLNG}
_NEARBY_FIELDS: dict[str, Any] = {
    "languageCode": None,
    "regionCode": None,
    "includedTypes": None,
    "excludedTypes": None,
    "includedPrimaryTypes": None,
    "excludedPrimaryTypes": None,
    "maxResultCount": None,
    "locationRestriction": {"circle": _CIRCLE},
    "rankPreference": None,
    "routingParameters": None,
    "includeFutureOpeningBusinesses": None,
}
_TEXT_FIELDS: dict[str, Any] = {
    "textQuery": None,
    "languageCode": None,
    "regionCode": None,
    "rankPreference": None,
    "includedType": None,
    "strictTypeFiltering": None,
    "openNow": None,
    "minRating": None,
    "priceLevels": None,
    "pageSize": None,
    "pageToken": None,
    "maxResultCount": None,
    "locationBias": {"circle": _CIRCLE, "rectangle": _RECTANGLE},
    "locationRestriction": {"circle": _CIRCLE, "rectangle": _RECTANGLE},
    "evOptions": None,
    "routingParameters": None,
    "searchAlongRouteParameters": None,
    "includePureServiceAreaBusinesses": None,
    "includeFutureOpeningBusinesses": None,
}


def _number(value: Any, field: str) -> float:
    """A proto3 JSON number (numbers or numeric strings, as Google's parser accepts)."""
    if isinstance(value, bool):
        raise _invalid(f"Invalid value at '{field}' (TYPE_DOUBLE), {json.dumps(value)}", field)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _invalid(
            f"Invalid value at '{field}' (TYPE_DOUBLE), {json.dumps(value)}", field
        ) from None
    if not math.isfinite(number):
        raise _invalid(f"Invalid value at '{field}' (TYPE_DOUBLE), {json.dumps(value)}", field)
    return number


def _integer(value: Any, field: str) -> int:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise _invalid(f"Invalid value at '{field}' (TYPE_INT32), {json.dumps(value)}", field)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _invalid(
            f"Invalid value at '{field}' (TYPE_INT32), {json.dumps(value)}", field
        ) from None


def _point(value: Any, field: str) -> tuple[float, float]:
    value = value or {}
    lat = _number(value.get("latitude", 0), f"{field}.latitude")
    lon = _number(value.get("longitude", 0), f"{field}.longitude")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise _invalid(f"Invalid {field}: latitude/longitude out of range.", field)
    return lat, lon


def _circle(value: Any, field: str) -> tuple[float, float, float]:
    lat, lon = _point((value or {}).get("center"), f"{field}.center")
    radius = _number((value or {}).get("radius", 0), f"{field}.radius")
    if not 0.0 <= radius <= MAX_RADIUS:
        raise _invalid(
            f"Invalid {field}.radius. Must be between 0.0 and 50000.0, inclusive.",
            f"{field}.radius",
        )
    return lat, lon, radius


def _rectangle(value: Any, field: str) -> tuple[float, float, float, float]:
    low_lat, low_lon = _point((value or {}).get("low"), f"{field}.low")
    high_lat, high_lon = _point((value or {}).get("high"), f"{field}.high")
    if low_lat > high_lat:
        raise _invalid(f"Invalid {field}: low.latitude is greater than high.latitude.", field)
    return low_lat, low_lon, high_lat, high_lon


def _in_rectangle(lat: float, lon: float, rect: tuple[float, float, float, float]) -> bool:
    low_lat, low_lon, high_lat, high_lon = rect
    if not low_lat <= lat <= high_lat:
        return False
    if low_lon <= high_lon:
        return low_lon <= lon <= high_lon
    return lon >= low_lon or lon <= high_lon  # across the antimeridian


def _types(body: dict[str, Any], name: str) -> frozenset[str]:
    value = body.get(name) or []
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise _invalid(f"Invalid value at '{name}': expected a list of strings.", name)
    if len(value) > MAX_TYPES:
        raise _invalid(f"Too many types in '{name}': at most {MAX_TYPES} are allowed.", name)
    unknown = [t for t in value if t not in _TABLE_A]
    if unknown:
        raise _invalid(f"Unsupported types: {', '.join(unknown)}.", name)
    return frozenset(value)


def _enum(
    body: dict[str, Any], name: str, choices: tuple[str, ...], default: str, proto: str
) -> str:
    value = body.get(name)
    if value is None or value == f"{_camel_to_const(name)}_UNSPECIFIED":
        return default
    if value not in choices:
        raise _invalid(
            f"Invalid value at '{_snake(name)}' "
            f"(type.googleapis.com/google.maps.places.v1.{proto}), {json.dumps(value)}",
            name,
        )
    return str(value)


def _snake(name: str) -> str:
    return re.sub(r"([A-Z])", r"_\1", name).lower()


def _camel_to_const(name: str) -> str:
    return _snake(name).upper()


def _fingerprint(body: dict[str, Any]) -> str:
    kept = {k: v for k, v in body.items() if k not in ("pageToken", "pageSize", "maxResultCount")}
    return _b64(_digest("g-page", json.dumps(kept, sort_keys=True), size=9))


def _page_token(fingerprint: str, offset: int) -> str:
    return (
        "AeeoHcK"
        + _b64(json.dumps([fingerprint, offset]).encode())
        + _b64(_digest("g-page-mac", fingerprint, offset, size=24))
    )


def _read_page_token(token: str, fingerprint: str) -> int:
    try:
        if not token.startswith("AeeoHcK"):
            raise ValueError(token)
        body, mac = token[7:-32], token[-32:]
        padded = body + "=" * (-len(body) % 4)
        stored, offset = json.loads(base64.urlsafe_b64decode(padded))
        if mac != _b64(_digest("g-page-mac", stored, offset, size=24)):
            raise ValueError(token)
    except (ValueError, TypeError):
        raise _invalid("Invalid page token.", "page_token") from None
    if stored != fingerprint:
        raise _invalid(
            "The request parameters other than page_token, page_size and max_result_count "
            "must match those of the request that returned the page token.",
            "page_token",
        )
    return int(offset)


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise _invalid("Invalid JSON payload received. Unexpected token.") from None
    if not isinstance(body, dict):
        raise _invalid("Invalid JSON payload received. Expected an object.")
    return body


def _respond(body: dict[str, Any]) -> Response:
    return Response(json.dumps(body, ensure_ascii=False, indent=2).encode(), media_type=_JSON)


# ---------------------------------------------------------------------------
# The Places API


class GooglePlacesApi:
    """The emulated Places API (New) for one world.

    Construct it, mount ``routes()`` under ``PLACES_PREFIX``, then call ``publish(base_url)``
    once the server's address is known (photo media redirects to the server); until then
    every request gets 503. ``publish`` renders every place once (cheap, but run it off the
    Trio thread like the others). Quotas are in-memory, per method.
    """

    name = PLACES_NAME
    prefix = PLACES_PREFIX
    aliases: Sequence[str] = ()
    key = API_KEY

    def __init__(
        self,
        world: World,
        *,
        rate_limit: bool = True,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.world = world
        self.quota = SpikeArrest(QUOTA_PER_MINUTE, 60.0, clock=monotonic) if rate_limit else None
        self._places: tuple[_Place, ...] = ()
        self._by_id: dict[str, _Place] = {}
        self._photos: dict[tuple[str, str], tuple[int, int]] = {}
        self._base_url: str | None = None
        self._where: frozenset[str] = frozenset()

    @property
    def places(self) -> tuple[dict[str, Any], ...]:
        """Every place's full JSON (empty until published)."""
        return tuple(p.json for p in self._places)

    def publish(self, base_url: str) -> None:
        """Render every place; photo media then redirects under ``base_url``."""
        places = build_places(self.world)
        self._by_id = {p.id: p for p in places}
        self._photos = {
            (p.id, photo["name"].rsplit("/", 1)[1]): (photo["widthPx"], photo["heightPx"])
            for p in places
            for photo in p.json.get("photos", ())
        }
        self._where = frozenset().union(*(p.places for p in places)) | _COUNTRY_WORDS
        self._places = places
        self._base_url = base_url.rstrip("/")

    def routes(self) -> list[BaseRoute]:
        """The API's routes, relative to its prefix."""
        return [
            Route("/places:searchNearby", self.search_nearby, methods=["POST"]),
            Route("/places:searchText", self.search_text, methods=["POST"]),
            Route("/places/{place_id}/photos/{ref}/media", self.photo_media, methods=["GET"]),
            Route("/places/{place_id}", self.details, methods=["GET"]),
        ]

    # -- gateway ----------------------------------------------------------

    def _gate(self, request: Request, method: str) -> None:
        key = request.headers.get("x-goog-api-key") or request.query_params.get("key")
        if key != API_KEY:
            raise _key_error("places.googleapis.com", missing=not key)
        if self.quota is not None and not self.quota.allow(method):
            raise _Fail(
                429,
                "RESOURCE_EXHAUSTED",
                f"Quota exceeded for quota metric '{method} requests' and limit "
                f"'{method} requests per minute' of service 'places.googleapis.com' for "
                "consumer 'project_number:000000000000'.",
                [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "RATE_LIMIT_EXCEEDED",
                        "domain": "googleapis.com",
                        "metadata": {
                            "service": "places.googleapis.com",
                            "quota_limit_value": str(QUOTA_PER_MINUTE),
                        },
                    }
                ],
            )

    def _ready(self) -> Response | None:
        if self._base_url is None:
            return Response(b"sandbox starting", status_code=503, media_type="text/plain")
        return None

    # -- handlers ---------------------------------------------------------

    async def search_nearby(self, request: Request) -> Response:
        """``POST /places:searchNearby``: up to 20 places in a circle."""
        if (starting := self._ready()) is not None:
            return starting
        try:
            self._gate(request, "SearchNearby")
            mask = _mask(request, frozenset({"places", "routingSummaries"}), prefix="places")
            body = await _json_body(request)
            _check_fields(body, _NEARBY_FIELDS)
            return _respond(self._nearby(body, mask))
        except _Fail as fail:
            return fail.response()

    def _nearby(self, body: dict[str, Any], mask: dict[str, Any] | None) -> dict[str, Any]:
        restriction = body.get("locationRestriction")
        if not restriction or "circle" not in restriction:
            raise _invalid("Missing required field: location_restriction.", "location_restriction")
        lat, lon, radius = _circle(restriction["circle"], "location_restriction.circle")
        count = _integer(body.get("maxResultCount", MAX_RESULTS), "max_result_count")
        if not 1 <= count <= MAX_RESULTS:
            raise _invalid(
                f"max_result_count must be between 1 and {MAX_RESULTS}, inclusive.",
                "max_result_count",
            )
        included = _types(body, "includedTypes")
        excluded = _types(body, "excludedTypes")
        included_primary = _types(body, "includedPrimaryTypes")
        excluded_primary = _types(body, "excludedPrimaryTypes")
        rank = _enum(
            body,
            "rankPreference",
            ("POPULARITY", "DISTANCE"),
            "POPULARITY",
            "SearchNearbyRequest.RankPreference",
        )
        distances = {}
        picked = []
        for place in self._places:
            d = distance_km(lat, lon, *_latlon(place)) * 1000
            if d > radius:
                continue
            if included and not included & place.types:
                continue
            if excluded & place.types:
                continue
            if included_primary and place.primary not in included_primary:
                continue
            if place.primary is not None and place.primary in excluded_primary:
                continue
            distances[place.id] = d
            picked.append(place)
        if rank == "DISTANCE":
            picked.sort(key=lambda p: (distances[p.id], p.id))
        else:
            picked.sort(key=lambda p: (-p.popularity, p.id))
        out: dict[str, Any] = {}
        places = [_project(p.json, _sub(mask, "places")) for p in picked[:count]]
        if places and _wants(mask, "places"):
            out["places"] = places
        return out

    async def search_text(self, request: Request) -> Response:
        """``POST /places:searchText``: a page of up to 20 places, 60 at most."""
        if (starting := self._ready()) is not None:
            return starting
        try:
            self._gate(request, "SearchText")
            mask = _mask(
                request,
                frozenset(
                    {
                        "places",
                        "nextPageToken",
                        "routingSummaries",
                        "contextualContents",
                        "searchUri",
                    }
                ),
                prefix="places",
            )
            body = await _json_body(request)
            _check_fields(body, _TEXT_FIELDS)
            return _respond(self._text(body, mask))
        except _Fail as fail:
            return fail.response()

    def _text(self, body: dict[str, Any], mask: dict[str, Any] | None) -> dict[str, Any]:
        query = body.get("textQuery")
        if not isinstance(query, str) or not query.strip():
            raise _invalid("Missing required field: text_query.", "text_query")
        size = _integer(body.get("pageSize", body.get("maxResultCount", 0)) or 0, "page_size")
        if size < 0:
            raise _invalid("page_size must not be negative.", "page_size")
        size = MAX_RESULTS if size == 0 else min(size, MAX_RESULTS)
        rank = _enum(
            body,
            "rankPreference",
            ("RELEVANCE", "DISTANCE"),
            "RELEVANCE",
            "SearchTextRequest.RankPreference",
        )
        included_type = body.get("includedType")
        if included_type is not None and included_type not in _TABLE_A:
            raise _invalid(f"Unsupported types: {included_type}.", "included_type")
        strict = bool(body.get("strictTypeFiltering"))
        min_rating = body.get("minRating")
        if min_rating is not None:
            min_rating = _number(min_rating, "min_rating")
            if not 0 <= min_rating <= 5:
                raise _invalid("min_rating must be between 0.0 and 5.0, inclusive.", "min_rating")
            min_rating = math.ceil(min_rating * 2) / 2
        bias = body.get("locationBias")
        restriction = body.get("locationRestriction")
        if bias and restriction:
            raise _invalid(
                "Only one of location_bias and location_restriction may be set.",
                "location_restriction",
            )
        circle = rect = bias_rect = None
        if restriction:
            if "circle" in restriction:
                raise _invalid(
                    "Circle is not supported as a location restriction for Text Search; use "
                    "a rectangle.",
                    "location_restriction.circle",
                )
            rect = _rectangle(restriction.get("rectangle"), "location_restriction.rectangle")
        elif bias:
            if ("circle" in bias) == ("rectangle" in bias):
                raise _invalid(
                    "Exactly one of circle and rectangle must be set in location_bias.",
                    "location_bias",
                )
            if "circle" in bias:
                circle = _circle(bias["circle"], "location_bias.circle")
            else:
                bias_rect = _rectangle(bias["rectangle"], "location_bias.rectangle")
        fingerprint = _fingerprint(body)
        offset = 0
        token = body.get("pageToken")
        if token:
            offset = _read_page_token(str(token), fingerprint)

        tokens = [_stem(w) for w in _norm_words(query) if w not in _STOPWORDS]
        where = {t for t in tokens if t in self._where}
        what = {t for t in tokens if t not in self._where}
        scored: list[tuple[float, _Place]] = []
        for place in self._places:
            if rect is not None and not _in_rectangle(*_latlon(place), rect):
                continue
            if where and not where & (place.places | _COUNTRY_WORDS):
                continue
            score = 0.0
            if what:
                hits = what & place.words
                if not hits:
                    continue
                score = len(hits) + len(what & place.name_words)
            if included_type is not None:
                if included_type in place.types:
                    score += 1
                elif strict:
                    continue
            if min_rating is not None and (place.rating is None or place.rating < min_rating):
                continue
            # A bias ranks the places inside it first; it does not filter.
            if circle is not None:
                clat, clon, crad = circle
                if distance_km(clat, clon, *_latlon(place)) * 1000 > max(crad, 1.0):
                    score -= 100
            elif bias_rect is not None and not _in_rectangle(*_latlon(place), bias_rect):
                score -= 100
            scored.append((score, place))
        if rank == "DISTANCE" and circle is not None:
            clat, clon, _ = circle
            scored.sort(key=lambda sp: (distance_km(clat, clon, *_latlon(sp[1])), sp[1].id))
        else:
            scored.sort(key=lambda sp: (-sp[0], -sp[1].popularity, sp[1].id))
        found = [p for _, p in scored][:TEXT_SEARCH_CAP]
        chunk = found[offset : offset + size]
        out: dict[str, Any] = {}
        places = [_project(p.json, _sub(mask, "places")) for p in chunk]
        if places and _wants(mask, "places"):
            out["places"] = places
        if offset + size < len(found) and _wants(mask, "nextPageToken"):
            out["nextPageToken"] = _page_token(fingerprint, offset + size)
        return out

    async def details(self, request: Request) -> Response:
        """``GET /places/{id}``: one place, masked."""
        if (starting := self._ready()) is not None:
            return starting
        try:
            self._gate(request, "GetPlace")
            mask = _mask(request, frozenset(), prefix=None)
            place = self._by_id.get(request.path_params["place_id"])
            if place is None:
                raise _Fail(404, "NOT_FOUND", "Requested entity was not found.")
            return _respond(_project(place.json, mask))
        except _Fail as fail:
            return fail.response()

    async def photo_media(self, request: Request) -> Response:
        """``GET /places/{id}/photos/{ref}/media``: a redirect to the image (or its URI)."""
        if (starting := self._ready()) is not None:
            return starting
        try:
            self._gate(request, "GetPhotoMedia")
            ident, ref = request.path_params["place_id"], request.path_params["ref"]
            size = self._photos.get((ident, ref))
            if size is None:
                raise _Fail(404, "NOT_FOUND", "Requested entity was not found.")
            params = request.query_params
            if "maxWidthPx" not in params and "maxHeightPx" not in params:
                raise _invalid(
                    "Either max_width_px or max_height_px must be specified.", "max_width_px"
                )
            bounds = []
            for name in ("maxWidthPx", "maxHeightPx"):
                if name in params:
                    value = _integer(params[name], _snake(name))
                    if not 1 <= value <= 4800:
                        raise _invalid(
                            f"{_snake(name)} must be between 1 and 4800, inclusive.", _snake(name)
                        )
                    bounds.append(value)
                else:
                    bounds.append(4800)
            width, height = size
            scale = min(1.0, bounds[0] / width, bounds[1] / height, MAX_SIDE / max(width, height))
            w, h = max(1, round(width * scale)), max(1, round(height * scale))
            uri = f"{self._base_url}/img/google/{ref}_{w}x{h}.jpg"
            if params.get("skipHttpRedirect", "").lower() == "true":
                return _respond({"name": f"places/{ident}/photos/{ref}/media", "photoUri": uri})
            return RedirectResponse(uri, status_code=302)
        except _Fail as fail:
            return fail.response()


def _latlon(place: _Place) -> tuple[float, float]:
    location = place.json["location"]
    return location["latitude"], location["longitude"]


def _sub(mask: dict[str, Any] | None, name: str) -> dict[str, Any] | None:
    if mask is None:
        return None
    sub = mask.get(name)
    return None if sub is _ALL else sub


def _wants(mask: dict[str, Any] | None, name: str) -> bool:
    return mask is None or name in mask


# ---------------------------------------------------------------------------
# The Geocoding API


@attrs.frozen
class _Address:
    venue: Venue
    formatted: str
    formatted_norm: str
    street_norm: str
    name_norm: str
    words: frozenset[str]  # name + formatted address
    result: dict[str, Any]  # the street-address result
    establishment: dict[str, Any]  # the same, as an establishment


def _geocode_result(venue: Venue, *, establishment: bool) -> dict[str, Any]:
    number, _ = _split_address(venue)
    primary, _, _ = _KIND_TYPES.get(venue.kind, _DEFAULT_TYPES)
    if establishment:
        types = ["establishment", "point_of_interest", primary]
        ident = place_id(venue.key)
    else:
        types = ["street_address"] if number else ["route"]
        ident = place_id(venue.key, "address")
    lat, lng = venue.lat, venue.lon
    return {
        "address_components": _components(venue, proto=False),
        "formatted_address": _formatted(venue),
        "geometry": {
            "location": {"lat": lat, "lng": lng},
            "location_type": "ROOFTOP" if number or establishment else "GEOMETRIC_CENTER",
            "viewport": {
                "northeast": {"lat": round(lat + 0.0013, 7), "lng": round(lng + 0.0013, 7)},
                "southwest": {"lat": round(lat - 0.0013, 7), "lng": round(lng - 0.0013, 7)},
            },
        },
        "place_id": ident,
        "types": types,
    }


def _city_result(world: World) -> dict[str, Any]:
    city = world.city
    country = _COUNTRY.get(city.country, (city.country, city.country))
    area = city.area
    span = area.radius_km / 111.2
    return {
        "address_components": [
            {"long_name": city.name, "short_name": city.name, "types": ["locality", "political"]},
            {
                "long_name": country[0],
                "short_name": city.country,
                "types": ["country", "political"],
            },
        ],
        "formatted_address": f"{city.name}, {country[1]}",
        "geometry": {
            "location": {"lat": area.lat, "lng": area.lon},
            "location_type": "APPROXIMATE",
            "viewport": {
                "northeast": {"lat": round(area.lat + span, 7), "lng": round(area.lon + span, 7)},
                "southwest": {"lat": round(area.lat - span, 7), "lng": round(area.lon - span, 7)},
            },
        },
        "place_id": place_id(f"city/{city.slug}", "city"),
        "types": ["locality", "political"],
    }


class GoogleGeocodingApi:
    """The emulated classic Geocoding API for one world (not used by the crawl yet).

    Mount ``routes()`` under ``GEOCODING_PREFIX`` and call ``publish(base_url)``; until
    then every request gets 503. Statuses come in the JSON body with HTTP 200.
    """

    name = GEOCODING_NAME
    prefix = GEOCODING_PREFIX
    aliases: Sequence[str] = ()
    key = API_KEY

    def __init__(
        self,
        world: World,
        *,
        rate_limit: bool = True,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.world = world
        self.spike = SpikeArrest(GEOCODING_QPS, 1.0, clock=monotonic) if rate_limit else None
        self._addresses: tuple[_Address, ...] | None = None
        self._city: dict[str, Any] = {}
        self._city_words: frozenset[str] = frozenset()

    def publish(self, base_url: str) -> None:
        """Index every venue's address (``base_url`` is not needed: no URLs in results)."""
        out = []
        for venue in self.world.venues:
            formatted = _formatted(venue)
            out.append(
                _Address(
                    venue=venue,
                    formatted=formatted,
                    formatted_norm=_norm(formatted),
                    street_norm=_norm(venue.address.split(",")[0]),
                    name_norm=_norm(venue.name),
                    words=frozenset(_norm_words(f"{venue.name} {formatted} {venue.country}")),
                    result=_geocode_result(venue, establishment=False),
                    establishment=_geocode_result(venue, establishment=True),
                )
            )
        city = self.world.city
        self._city = _city_result(self.world)
        self._city_words = frozenset(_norm_words(f"{city.name} {city.country}")) | _COUNTRY_WORDS
        self._addresses = tuple(out)

    def routes(self) -> list[BaseRoute]:
        """The API's routes, relative to its prefix."""
        return [Route("/geocode/json", self.geocode, methods=["GET"])]

    async def geocode(self, request: Request) -> Response:
        """``GET /geocode/json``: results and ``status`` in the body."""
        addresses = self._addresses
        if addresses is None:
            return Response(b"sandbox starting", status_code=503, media_type="text/plain")
        params = request.query_params
        key = params.get("key")
        if not key:
            return _status(
                "REQUEST_DENIED",
                "You must use an API key to authenticate each request to Google Maps Platform "
                "APIs. For additional information, please refer to http://g.co/dev/maps-no-account",
            )
        if key != API_KEY:
            return _status("REQUEST_DENIED", "The provided API key is invalid. ")
        if self.spike is not None and not self.spike.allow(key):
            return _status("OVER_QUERY_LIMIT", "You have exceeded your rate-limit for this API.")
        if not any(params.get(p) for p in ("address", "components", "latlng", "place_id")):
            return _status(
                "INVALID_REQUEST",
                "Invalid request. Missing the 'address', 'components', 'latlng' or 'place_id' "
                "parameter.",
            )
        try:
            results = self._find(addresses, params)
        except ValueError as bad:
            return _status("INVALID_REQUEST", f"Invalid request. {bad}")
        results = _filter_components(results, params.get("components", ""))
        if not results:
            return _respond({"results": [], "status": "ZERO_RESULTS"})
        return _respond({"results": results, "status": "OK"})

    def _find(self, addresses: Sequence[_Address], params: Any) -> list[dict[str, Any]]:
        if params.get("place_id"):
            wanted = params["place_id"]
            for a in addresses:
                for result in (a.result, a.establishment):
                    if result["place_id"] == wanted:
                        return [result]
            if self._city["place_id"] == wanted:
                return [self._city]
            return []
        if params.get("latlng") and not params.get("address"):
            try:
                lat_s, lng_s = params["latlng"].split(",")
                lat, lng = float(lat_s), float(lng_s)
            except ValueError:
                raise ValueError("Invalid 'latlng' parameter.") from None
            near = sorted(addresses, key=lambda a: distance_km(lat, lng, a.venue.lat, a.venue.lon))
            if near and distance_km(lat, lng, near[0].venue.lat, near[0].venue.lon) <= 0.15:
                return [near[0].result]
            return []
        query = _norm(params.get("address", ""))
        if not query:
            return []
        words = set(query.split())
        by_name = [a for a in addresses if len(a.name_norm) >= 4 and _contains(query, a.name_norm)]
        if by_name:
            return [_partial(a.establishment, words, a.words) for a in by_name]
        seen: set[str] = set()
        out = []
        for a in addresses:
            exact = query == a.formatted_norm or a.formatted_norm.startswith(query + " ")
            street = len(a.street_norm) >= 4 and _contains(query, a.street_norm)
            if (exact and any(c.isdigit() for c in query)) or street:
                if a.formatted in seen:
                    continue
                seen.add(a.formatted)
                out.append(_partial(a.result, words, a.words))
        if not out and words and words <= self._city_words:
            out.append(self._city)
        return out


def _contains(text: str, part: str) -> bool:
    """Whether ``part`` occurs in ``text`` on word boundaries."""
    return f" {part} " in f" {text} "


def _partial(result: dict[str, Any], words: set[str], known: frozenset[str]) -> dict[str, Any]:
    if words - known - _COUNTRY_WORDS:
        return {**result, "partial_match": True}
    return result


def _filter_components(results: list[dict[str, Any]], components: str) -> list[dict[str, Any]]:
    for part in filter(None, components.split("|")):
        kind, _, value = part.partition(":")
        kind, value = kind.strip().lower(), value.strip().casefold()
        if kind not in ("country", "postal_code"):
            continue
        results = [
            r
            for r in results
            if any(
                kind in c["types"]
                and value in (c["short_name"].casefold(), c["long_name"].casefold())
                for c in r["address_components"]
            )
        ]
    return results


def _status(status: str, message: str) -> Response:
    return _respond({"error_message": message, "results": [], "status": status})
