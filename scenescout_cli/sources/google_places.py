"""Google Places API (New): the city's event venues, as ``Venue`` records.

Pure: this module builds ``ApiRequest``s and reads decoded JSON bodies; it never does
I/O. ``sources/http.py`` sends the requests and the discovery stage drives the paging.
Unlike the event sources, ``normalise`` returns ``Venue`` objects.

Provider facts this module relies on (see the API notes, section 5):

- ``POST {base}/places:searchNearby`` and ``POST {base}/places:searchText`` with a JSON
  body; the key in the ``X-Goog-Api-Key`` header (never in the URL) and a mandatory
  ``X-Goog-FieldMask`` header (missing → 400 ``INVALID_ARGUMENT``). Search fields are
  prefixed ``places.``; Text Search only returns ``nextPageToken`` when the mask names it.
- Nearby Search: ``locationRestriction.circle`` (radius at most 50 000 m) is required,
  ``includedTypes`` filters by Table A types, ``maxResultCount`` is 1..20; there is no
  paging — 20 results is a hard cap per call.
- Text Search: ``textQuery``, ``pageSize`` 1..20, ``pageToken`` for the next page with an
  otherwise identical body; ``locationRestriction`` takes a rectangle only (a circle is
  an error). At most 60 results over 3 pages; an absent token means the end.
- Responses omit empty fields (proto3): an empty search is ``{}``, a place without ratings
  has no ``rating``. Errors use Google's envelope ``{"error": {"code", "message", "status",
  "details"}}``; ``details`` may hold an ``ErrorInfo`` with a ``reason``
  (``API_KEY_INVALID`` comes as a 400 ``INVALID_ARGUMENT``).

Decisions:

- **Queries.** ``plan`` emits Text Search queries first (``Query.target =
  "text:<phrase>"``, the city circle's bounding rectangle as ``locationRestriction``, so
  the phrase needs no city name), then Nearby Search queries (``target =
  "nearby:<group>"``) for each group of venue types in ``VENUE_TYPE_GROUPS`` on each
  tile of the city. Tiles are the city circle quartered (``planner.quarter_areas``)
  until each radius is at most ``tile_km`` (default 15 km; never above the API's 50 km):
  each Nearby call returns only its 20 most popular places, so smaller tiles find more
  venues, at one billed request each. The window plays no part (venues are not dated).
- **Field mask.** Exactly the fields ``normalise`` reads (``FIELD_MASK``), plus
  ``nextPageToken`` for Text Search only — Nearby responses have no such field. Rating,
  rating count and website are in the Enterprise billing tier; they are asked for because
  the venue directory stores them.
- **Paging.** The cursor is ``"<page>:<nextPageToken>"`` (the 0-based page it fetches).
  Text Search is followed to its third page at most (``page_cap = 60``); pages carry no
  total, so the planner never splits a venue query (splitting a time window would not
  change what a venue search returns).
- **Rate.** Google publishes no default per-minute quota (it is per method and per
  project, set in the Cloud console); ``rate_per_second = 2.0`` (120 requests/minute
  over both methods) stays well under typical defaults and keeps the bill visible.
- **Errors.** 401, 403, ``UNAUTHENTICATED``, ``PERMISSION_DENIED`` and key/billing
  ``ErrorInfo`` reasons (``API_KEY_INVALID``, ``SERVICE_DISABLED``, ``BILLING_DISABLED`` …)
  → SourceAuthError: all need the operator to fix the key or project. 429
  ``RESOURCE_EXHAUSTED`` is a per-minute quota unless the error names a daily one, so it
  is SourceRateLimited (retried; the minute refills) and SourceQuotaError only when the
  message or quota metadata says "per day". Other 400s (``INVALID_ARGUMENT``) and 5xx →
  UpstreamError.
- **Normalisation.** ``CLOSED_PERMANENTLY`` places are rejected (``closed``); temporarily
  closed and future venues are kept. A zone id that is not an IANA zone is dropped, not
  rejected: the venue is still a venue.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import zoneinfo
from typing import Any, ClassVar

import attrs

from ..errors import (
    RecordRejected,
    SourceAuthError,
    SourceError,
    SourceQuotaError,
    SourceRateLimited,
    UpstreamError,
)
from ..model import Area, City, Page, Query, Venue, Window
from ..pipeline.planner import quarter_areas
from .base import ApiRequest
from .fields import as_dict as _dict
from .fields import as_list as _list
from .fields import text as _text

__all__ = [
    "FIELD_MASK",
    "MAX_RADIUS_KM",
    "TEXT_QUERIES",
    "VENUE_TYPE_GROUPS",
    "GooglePlacesSource",
]

_SOURCE = "google_places"
#: The largest circle Nearby Search accepts.
MAX_RADIUS_KM = 50.0
_MAX_RESULTS = 20
_MAX_TEXT_PAGES = 3
_DEFAULT_TILE_KM = 15.0
#: Table A types of places that host events, grouped so each Nearby call (20 results)
#: is spent on one kind of venue.
VENUE_TYPE_GROUPS: dict[str, tuple[str, ...]] = {
    "music": ("concert_hall", "amphitheatre", "night_club", "dance_hall"),
    "stage": ("performing_arts_theater", "comedy_club", "auditorium"),
    "events": ("event_venue", "stadium"),
}
#: Text Search phrases; the city is given by the location restriction, not the text.
TEXT_QUERIES = ("concert venue", "live music venue", "theater", "comedy club")
_PLACE_FIELDS = (
    "id",
    "displayName",
    "formattedAddress",
    "location",
    "types",
    "rating",
    "userRatingCount",
    "websiteUri",
    "postalAddress",
    "timeZone",
    "businessStatus",
)
#: The Nearby Search field mask; Text Search adds ``nextPageToken``.
FIELD_MASK = ",".join(f"places.{field}" for field in _PLACE_FIELDS)
_TEXT_FIELD_MASK = FIELD_MASK + ",nextPageToken"
_TEXT_PREFIX = "text:"
_NEARBY_PREFIX = "nearby:"
_KM_PER_DEGREE_LAT = 111.32
_MAX_PROVIDER_TEXT = 300


def _check_key(_inst: object, _attr: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("the Google Maps API key must be a non-empty string")


def _check_tile(_inst: object, _attr: attrs.Attribute[float], value: float) -> None:
    if not (0 < value <= MAX_RADIUS_KM):
        raise ValueError(f"tile_km must be above 0 and at most {MAX_RADIUS_KM:g}, got {value!r}")


@attrs.frozen
class GooglePlacesSource:
    """The Google Places (New) venue adapter (a ``SourceAdapter`` returning ``Venue``).

    ``GooglePlacesSource(api_key, *, tile_km=15.0)``. The key travels only in the
    ``X-Goog-Api-Key`` header (``ApiRequest.headers`` is kept out of reprs), is not in
    this object's repr and is scrubbed from every error message. ValueError on an empty
    key or a ``tile_km`` outside (0, 50].

    Queries: ``target = "text:<phrase>"`` runs Text Search over the area's bounding
    rectangle; ``target = "nearby:<group>"`` runs Nearby Search on the area's circle for
    the types of that ``VENUE_TYPE_GROUPS`` entry. The cursor is
    ``"<page>:<nextPageToken>"`` (None means page 0; Nearby has only page 0).
    """

    name: ClassVar[str] = _SOURCE
    page_cap: ClassVar[int] = _MAX_TEXT_PAGES * _MAX_RESULTS
    rate_per_second: ClassVar[float] = 2.0
    #: Quotas are per minute per method: a small burst stays inside the minute's budget.
    rate_burst: ClassVar[float] = 5.0

    _api_key: str = attrs.field(repr=False, validator=_check_key)
    tile_km: float = attrs.field(default=_DEFAULT_TILE_KM, kw_only=True, validator=_check_tile)

    # ------------------------------------------------------------------ planning

    def plan(self, city: City, window: Window) -> list[Query]:
        """Text Search queries over the city, then Nearby queries per tile and type group."""
        texts = [
            Query(source=self.name, area=city.area, window=window, target=_TEXT_PREFIX + phrase)
            for phrase in TEXT_QUERIES
        ]
        nearby = [
            Query(source=self.name, area=tile, window=window, target=_NEARBY_PREFIX + group)
            for tile in _tiles(city.area, self.tile_km)
            for group in VENUE_TYPE_GROUPS
        ]
        return texts + nearby

    def request(self, query: Query, cursor: Any | None) -> ApiRequest:
        """The ``POST`` for page ``cursor`` (None → the first) of ``query``.

        ValueError on a target this adapter did not plan, a malformed cursor, or a
        cursor for a Nearby query (which has no pages).
        """
        _page, token = _parse_cursor(cursor)
        kind, what = _target(query.target)
        area = query.area
        if kind == "text":
            body: dict[str, Any] = {
                "textQuery": what,
                "pageSize": _MAX_RESULTS,
                "locationRestriction": {"rectangle": _rectangle(area)},
            }
            if token is not None:
                body["pageToken"] = token
            return self._post("/places:searchText", _TEXT_FIELD_MASK, body)
        if token is not None:
            raise ValueError("Nearby Search has no further pages")
        body = {
            "includedTypes": list(VENUE_TYPE_GROUPS[what]),
            "maxResultCount": _MAX_RESULTS,
            "locationRestriction": {
                "circle": {
                    "center": {"latitude": area.lat, "longitude": area.lon},
                    "radius": _radius_m(area.radius_km),
                }
            },
        }
        return self._post("/places:searchNearby", FIELD_MASK, body)

    def _post(self, path: str, mask: str, body: dict[str, Any]) -> ApiRequest:
        return ApiRequest(
            method="POST",
            path=path,
            headers={"X-Goog-Api-Key": self._api_key, "X-Goog-FieldMask": mask},
            json=body,
        )

    # ------------------------------------------------------------------ pages

    def parse_page(self, query: Query, cursor: Any | None, status: int, body: Any) -> Page:
        """One response → ``Page(places, next_cursor)`` (Google sends no total).

        ``{}`` is an empty page. The next cursor is set for Text Search when the body
        has a non-empty ``nextPageToken``, the page had places and the next page is at
        most the third.

        Errors: SourceAuthError (401/403, key or project refused), SourceRateLimited
        (per-minute ``RESOURCE_EXHAUSTED``), SourceQuotaError (a daily quota),
        UpstreamError (other 4xx such as ``INVALID_ARGUMENT``, 5xx, a body of the wrong
        shape). Messages never contain the key.
        """
        page_no, _token = _parse_cursor(cursor)
        if not 200 <= status < 300 or (isinstance(body, dict) and "error" in body):
            raise self._error(status, body)
        if not isinstance(body, dict):
            raise _bad_body(f"expected a JSON object, got {type(body).__name__}")
        places = body.get("places", [])
        if not isinstance(places, list) or not all(isinstance(p, dict) for p in places):
            raise _bad_body("'places' is not a list of objects")
        following = page_no + 1
        token = body.get("nextPageToken")
        has_next = (
            _target(query.target)[0] == "text"
            and bool(places)
            and isinstance(token, str)
            and bool(token.strip())
            and following < _MAX_TEXT_PAGES
        )
        return Page(places, f"{following}:{token}" if has_next else None)

    def _error(self, status: int, body: Any) -> SourceError:
        """The exception for an error response, its text scrubbed."""
        error = _dict(_dict(body).get("error"))
        code = _text(error.get("status")) or ""
        message = self._scrub(_text(error.get("message")) or "")
        reasons, quota_text = _error_info(error.get("details"))
        label = " ".join(part for part in (f"HTTP {status}", code) if part)
        what = f"{label}: {message}" if message else label
        if (
            status in (401, 403)
            or code in ("UNAUTHENTICATED", "PERMISSION_DENIED")
            or reasons & _AUTH_REASONS
        ):
            return SourceAuthError(_SOURCE, f"API key refused ({what})")
        if status == 429 or code == "RESOURCE_EXHAUSTED":
            if _DAILY.search(f"{message} {quota_text}"):
                return SourceQuotaError(_SOURCE, f"daily quota used up ({what})")
            return SourceRateLimited(_SOURCE, f"rate limited ({what})")
        if 200 <= status < 300:
            return _bad_body(f"an error object in a successful response ({what})")
        if not error and status >= 500:
            return UpstreamError(_SOURCE, f"HTTP {status} server error", status=status)
        reason = next(iter(sorted(reasons)), None)
        return UpstreamError(_SOURCE, what, status=status, code=code or reason)

    def _scrub(self, text: str) -> str:
        """Provider text made safe for one-line messages: no key, no newlines, short."""
        text = text.replace(self._api_key, "[redacted]")
        text = _KEY_PARAM.sub(r"\1[redacted]", text)
        text = " ".join(text.split())
        if len(text) > _MAX_PROVIDER_TEXT:
            text = text[: _MAX_PROVIDER_TEXT - 1] + "…"
        return text

    # ------------------------------------------------------------------ records

    def record_id(self, record: dict[str, Any]) -> str | None:
        """The place ``id`` when it is a non-blank string, else None."""
        value = record.get("id")
        if isinstance(value, str) and value.strip():
            return value
        return None

    def normalise(self, record: dict[str, Any], fetched_at: dt.datetime) -> Venue:
        """One place → Venue.

        RecordRejected reasons: ``missing_id``, ``closed`` (``CLOSED_PERMANENTLY``),
        ``missing_name`` (no ``displayName.text``).
        """
        source_id = self.record_id(record)
        if source_id is None:
            raise RecordRejected("missing_id", "no string 'id'")
        if record.get("businessStatus") == "CLOSED_PERMANENTLY":
            raise RecordRejected("closed", f"{source_id} is permanently closed")
        name = _text(_dict(record.get("displayName")).get("text"))
        if name is None:
            raise RecordRejected("missing_name", f"{source_id} has no displayName.text")
        lat, lon = _coords(_dict(record.get("location")))
        postal = _dict(record.get("postalAddress"))
        return Venue(
            source=self.name,
            source_id=source_id,
            name=name,
            lat=lat,
            lon=lon,
            address=_text(record.get("formattedAddress")),
            locality=_text(postal.get("locality")),
            postal_code=_text(postal.get("postalCode")),
            country=_country(postal.get("regionCode")),
            timezone=_zone(_dict(record.get("timeZone")).get("id")),
            types=tuple(dict.fromkeys(t for t in _list(record.get("types")) if _text(t))),
            website=_http_url(record.get("websiteUri")),
            rating=_rating(record.get("rating")),
            rating_count=_count(record.get("userRatingCount")),
            fetched_at=fetched_at,
            raw=record,
        )


# --------------------------------------------------------------------------- planning


def _tiles(area: Area, max_km: float) -> list[Area]:
    """``area`` quartered until every circle's radius is at most ``max_km``."""
    if area.radius_km <= max_km:
        return [area]
    return [tile for quarter in quarter_areas(area) for tile in _tiles(quarter, max_km)]


def _target(target: str | None) -> tuple[str, str]:
    """("text", phrase) or ("nearby", type group) of a query target."""
    if target is not None:
        if target.startswith(_TEXT_PREFIX) and target[len(_TEXT_PREFIX) :].strip():
            return "text", target[len(_TEXT_PREFIX) :].strip()
        if target.startswith(_NEARBY_PREFIX) and target[len(_NEARBY_PREFIX) :] in VENUE_TYPE_GROUPS:
            return "nearby", target[len(_NEARBY_PREFIX) :]
    raise ValueError(f"not a Google Places query target: {target!r}")


def _parse_cursor(cursor: Any | None) -> tuple[int, str | None]:
    """(page number, page token) of our cursor; (0, None) for the first page."""
    if cursor is None:
        return 0, None
    if isinstance(cursor, str):
        page, sep, token = cursor.partition(":")
        if sep and page.isdigit() and int(page) >= 1 and token:
            return int(page), token
    raise ValueError(f"not a Google Places cursor: {cursor!r}")


def _radius_m(radius_km: float) -> float:
    """The circle's radius in metres, rounded up to a metre, at most the API's 50 km."""
    return float(min(MAX_RADIUS_KM * 1000, math.ceil(radius_km * 1000)))


def _rectangle(area: Area) -> dict[str, dict[str, float]]:
    """The bounding rectangle of the circle ``area`` as a Places ``{low, high}`` viewport.

    Near a pole, or when the box would span the whole globe, longitude is unrestricted.
    Across the antimeridian ``low.longitude > high.longitude``, as the API expects.
    """
    dlat = area.radius_km / _KM_PER_DEGREE_LAT
    south, north = max(-90.0, area.lat - dlat), min(90.0, area.lat + dlat)
    widest = max(abs(south), abs(north))
    cos_lat = math.cos(math.radians(widest))
    dlon = area.radius_km / (_KM_PER_DEGREE_LAT * cos_lat) if cos_lat > 1e-9 else 180.0
    if dlon >= 180.0:
        west, east = -180.0, 180.0
    else:
        west = (area.lon - dlon + 180.0) % 360.0 - 180.0
        east = (area.lon + dlon + 180.0) % 360.0 - 180.0
    return {
        "low": {"latitude": round(south, 6), "longitude": round(west, 6)},
        "high": {"latitude": round(north, 6), "longitude": round(east, 6)},
    }


# --------------------------------------------------------------------------- errors

_AUTH_REASONS = frozenset(
    {
        "API_KEY_INVALID",
        "API_KEY_EXPIRED",
        "API_KEY_SERVICE_BLOCKED",
        "API_KEY_HTTP_REFERRER_BLOCKED",
        "API_KEY_IP_ADDRESS_BLOCKED",
        "API_KEY_ANDROID_APP_BLOCKED",
        "API_KEY_IOS_APP_BLOCKED",
        "SERVICE_DISABLED",
        "BILLING_DISABLED",
        "CONSUMER_INVALID",
        "CREDENTIALS_MISSING",
        "ACCESS_TOKEN_TYPE_UNSUPPORTED",
    }
)
_DAILY = re.compile(r"per\s*day|/d/|1/d\b|daily", re.IGNORECASE)
_KEY_PARAM = re.compile(r"((?:key|api_key)=)[^&\s]+", re.IGNORECASE)


def _error_info(details: Any) -> tuple[frozenset[str], str]:
    """(ErrorInfo reasons, quota metadata text) from an error's ``details``."""
    reasons: set[str] = set()
    quota: list[str] = []
    for detail in _list(details):
        if not isinstance(detail, dict):
            continue
        if isinstance(detail.get("reason"), str):
            reasons.add(detail["reason"])
        for key, value in _dict(detail.get("metadata")).items():
            if "quota" in str(key).casefold() and isinstance(value, str):
                quota.append(value)
    return frozenset(reasons), " ".join(quota)


def _bad_body(what: str) -> UpstreamError:
    return UpstreamError(_SOURCE, f"unexpected response body: {what}")


# --------------------------------------------------------------------------- records


def _number(value: Any) -> float | None:
    """A finite float from a JSON number, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _coords(location: dict[str, Any]) -> tuple[float | None, float | None]:
    """(lat, lon) from ``location``; (None, None) if missing, off the Earth or (0, 0)."""
    lat, lon = _number(location.get("latitude")), _number(location.get("longitude"))
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None, None
    if lat == 0 and lon == 0:
        return None, None
    return lat, lon


def _country(value: Any) -> str | None:
    """A CLDR region code (ISO 3166 alpha-2), upper-cased; None when not two letters."""
    text = _text(value)
    if text is not None and len(text) == 2 and text.isascii() and text.isalpha():
        return text.upper()
    return None


def _zone(value: Any) -> str | None:
    """The IANA zone id, or None when absent or unknown here."""
    name = _text(value)
    if name is None:
        return None
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None
    return name


def _http_url(value: Any) -> str | None:
    text = _text(value)
    if text is not None and text.lower().startswith(("https://", "http://")):
        return text
    return None


def _rating(value: Any) -> float | None:
    """A rating in Google's 1.0..5.0 range, else None."""
    number = _number(value)
    return number if number is not None and 1.0 <= number <= 5.0 else None


def _count(value: Any) -> int | None:
    """A non-negative integer count (int64 may arrive as a string), else None."""
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None
